"""The default token endpoint and credential stack for the credential tests.

A test module that needs another endpoint (slower, longer-lived tokens) defines its own
`server` fixture, which overrides this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from integration_core.credentials.local import LocalSecretStore
from tests.harness.oauth_server import OAuthServer
from tests.unit.credentials.support import Stack


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer() as srv:
        yield srv


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A credential service on local secrets with one sandbox connection seeded."""
    s = Stack(tmp_path, LocalSecretStore.generate_key())
    s.seed_connection()
    yield s
    s.close()
