"""The app tests' common fixtures: a function host on the embedded stack, and two sandbox
systems served over loopback HTTP (crm with 3 contacts, mkt empty). A module may define its
own `host` (another backend, a module scope)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxServer
from tests.harness.decisions import TENANT
from tests.harness.function_host import FunctionHost, embedded_app_settings
from tests.harness.sandbox import seeded_account


@pytest.fixture
def served() -> Iterator[tuple[SandboxServer, SandboxServer]]:
    """crm with three contacts, mkt with none."""
    with (
        SandboxServer(seeded_account("crm", contacts=3)) as crm,
        SandboxServer(seeded_account("mkt")) as mkt,
    ):
        yield crm, mkt


@pytest.fixture
def host(tmp_path: Path) -> Iterator[FunctionHost]:
    host = FunctionHost(embedded_app_settings(tmp_path), inline_queue=True, tenant=TENANT)
    yield host
    host.runtime().close()
