"""A stored connection its adapter refuses is marked misconfigured, not retried.

The adapter validates a connection's config and the credential type it is given; a
connection made before a check existed (or written past it) fails the same way on every
attempt, so the sync marks the connection and stops instead of poisoning its messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integration_core.models import Connection, ConnectionStatus
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit

TENANT = "t1"


def _sync_once(rt: Runtime) -> tuple[Connection, list[str]]:
    run_scheduler(rt)
    drained = drain_queues(rt)
    assert drained.poisoned == []
    assert drained.failures == 0
    errors = [error for result in drained.results for error in getattr(result, "errors", [])]
    document = rt.store.get(Connection.container, TENANT, "c1")
    return Connection.from_document(document), errors


def _stored_with(rt: Runtime, **config: Any) -> None:
    document = rt.store.get(Connection.container, TENANT, "c1")
    rt.store.upsert(Connection.container, {**document, "config": config})


def test_a_stored_config_the_adapter_refuses_marks_the_connection(tmp_path: Path) -> None:
    account = seeded_account("crm", contacts=1)
    rt = embedded_runtime(tmp_path, {"crm": account})
    connect_sandbox(rt, "c1", account)
    _stored_with(rt, base_url="ftp://127.0.0.1/x")
    connection, errors = _sync_once(rt)
    rt.close()
    assert connection.status is ConnectionStatus.MISCONFIGURED
    assert any("base_url" in error for error in errors), errors


def test_a_credential_type_the_provider_does_not_take_marks_the_connection(
    tmp_path: Path,
) -> None:
    account = seeded_account("crm", contacts=1)
    rt = embedded_runtime(tmp_path, {"crm": account})
    connect_sandbox(rt, "c1", account)
    basic = {"type": "basic", "username": "ada", "password": "pw-5b1e9c0d"}
    rt.credentials.store_credential(TENANT, "c1", basic)
    connection, errors = _sync_once(rt)
    rt.close()
    assert connection.status is ConnectionStatus.MISCONFIGURED
    assert any("does not accept basic credentials" in error for error in errors), errors
    assert all("pw-5b1e9c0d" not in error for error in errors)
