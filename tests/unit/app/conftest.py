"""The app tests' common fixtures: a function host on the embedded stack, and two sandbox
systems served over loopback HTTP (crm with 3 contacts, mkt empty). A module may define its
own `host` (another backend, a module scope)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxServer
from tests.conftest import tcp_check, unique_name
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


BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.unit),
    pytest.param("cosmos", marks=pytest.mark.integration),
]


@pytest.fixture(params=BACKENDS)
def host_on_each_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FunctionHost]:
    """A function host on SQLite (embedded, unit) and on the Cosmos DB emulator (a database
    of its own, dropped afterwards; integration)."""
    settings = embedded_app_settings(tmp_path)
    if request.param == "cosmos":
        stack = request.getfixturevalue("local_stack")
        tcp_check("Cosmos DB emulator", stack.cosmos_endpoint)
        settings |= {
            "STORE_BACKEND": "cosmos",
            "COSMOS_ENDPOINT": stack.cosmos_endpoint,
            "COSMOS_KEY": stack.cosmos_key,
            "COSMOS_CA_FILE": stack.cosmos_ca_file or "",
            "COSMOS_VERIFY_TLS": str(stack.cosmos_verify_tls).lower(),
            "COSMOS_DATABASE": unique_name("lockstep-app-"),
        }
    host = FunctionHost(settings, inline_queue=True, tenant=TENANT)
    yield host
    rt = host.runtime()
    if request.param == "cosmos":
        rt.store.drop_database()  # type: ignore[attr-defined]
    rt.close()
