"""Messages that can never succeed are dead-lettered once with their reason, not retried.

On the embedded stack (SQLite, in-process queue) through the same drain loop the CLI and
the demo use; tests/e2e/test_function_host_poison.py does the same through the function
app's registrations on Azurite and Cosmos.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.credentials import CredentialStatus
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from integration_core.models import (
    Connection,
    ConnectionStatus,
    MessageKind,
    SyncMessage,
    SyncTask,
    Trigger,
)
from integration_core.pipelines.dead_letters import DEAD_LETTERS
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import pull_message, run_scheduler
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit


@pytest.fixture
def systems() -> dict[str, SandboxAccount]:
    return {"crm": seeded_account("crm", contacts=3), "mkt": seeded_account("mkt")}


@pytest.fixture
def rt(tmp_path: Path, systems: dict[str, SandboxAccount]) -> Iterator[Runtime]:
    runtime = embedded_runtime(tmp_path, systems)
    connect_sandbox(runtime, "crm", systems["crm"], targets=("mkt",))
    connect_sandbox(runtime, "mkt", systems["mkt"], targets=("crm",))
    yield runtime
    runtime.close()


def _pull(rt: Runtime) -> SyncMessage:
    task = SyncTask.from_document(rt.store.get(SyncTask.container, "t1", "crm-contact"))
    return pull_message(task, task.next_due_at, trigger=Trigger.SCHEDULE)


def _with(message: SyncMessage, **changes: Any) -> SyncMessage:
    return message.model_copy(update=changes)


def _payload(message: SyncMessage, payload: dict[str, Any]) -> SyncMessage:
    return _with(message, payload=payload)


BAD: dict[str, tuple[str, Callable[[SyncMessage], SyncMessage], str]] = {
    "no task_id": (INBOUND_QUEUE, lambda m: _payload(m, {}), "task_id"),
    "push kind on inbound": (INBOUND_QUEUE, lambda m: _with(m, kind=MessageKind.PUSH), "push"),
    "pull kind on outbound": (OUTBOUND_QUEUE, lambda m: m, "pull"),
    "no entity_id": (
        OUTBOUND_QUEUE,
        lambda m: _with(m, kind=MessageKind.PUSH, payload={}),
        "entity_id",
    ),
    "unknown task": (INBOUND_QUEUE, lambda m: _payload(m, {"task_id": "nope"}), "nope"),
    "unknown tenant": (INBOUND_QUEUE, lambda m: _with(m, tenant_id="nobody"), "nobody"),
    "unknown connection": (
        OUTBOUND_QUEUE,
        lambda m: _with(m, kind=MessageKind.PUSH, connection_id="gone", payload={"entity_id": "e"}),
        "gone",
    ),
    "unknown entity": (
        OUTBOUND_QUEUE,
        lambda m: _with(m, kind=MessageKind.PUSH, payload={"entity_id": "nope"}),
        "nope",
    ),
    "empty push batch": (
        OUTBOUND_QUEUE,
        lambda m: _with(m, kind=MessageKind.PUSH, payload={"pushes": []}),
        "pushes must be a list",
    ),
    "push batch item without entity": (
        OUTBOUND_QUEUE,
        lambda m: _with(m, kind=MessageKind.PUSH, payload={"pushes": [{"pushId": "p"}]}),
        "entityId",
    ),
    "malformed webhook change": (
        INBOUND_QUEUE,
        lambda m: _with(
            m, kind=MessageKind.WEBHOOK, payload={"task_id": "crm-contact", "changes": [{}]}
        ),
        "external_id",
    ),
    "negative attempt": (INBOUND_QUEUE, lambda m: _with(m, attempt=-1), "attempt"),
    "huge attempt": (INBOUND_QUEUE, lambda m: _with(m, attempt=10**12), "attempt"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_permanently_bad_message_is_dead_lettered_once_and_not_retried(
    rt: Runtime, case: str
) -> None:
    queue, spoil, mentioned = BAD[case]
    message = spoil(_pull(rt))
    rt.queue.send(queue, message)
    report = drain_queues(rt)
    assert report.failures == 0, "a permanent error is not retried"
    assert report.poisoned == []
    assert rt.queue.depth(queue) == 0
    letters = rt.store.query(DEAD_LETTERS, partition_key=message.tenant_id)
    (letter,) = [d for d in letters if d.get("messageId") == message.message_id]
    assert mentioned in letter["reason"]
    assert letter["queue"] == queue
    assert letter["dequeueCount"] == 1
    assert letter["message"]["messageId"] == message.message_id


def test_a_transient_failure_is_still_retried(
    rt: Runtime, systems: dict[str, SandboxAccount]
) -> None:
    systems["crm"].inject_fault(503, count=2)
    rt.queue.send(INBOUND_QUEUE, _pull(rt))
    report = drain_queues(rt)
    assert report.failures == 2
    assert report.poisoned == []
    assert rt.store.query(DEAD_LETTERS, partition_key="t1") == []


def test_a_401_on_a_static_credential_marks_the_connection_needs_reauth(
    rt: Runtime, systems: dict[str, SandboxAccount], caplog: pytest.LogCaptureFixture
) -> None:
    systems["crm"].api_key = "revoked-by-the-provider"  # noqa: S105 - a test value
    caplog.set_level(logging.INFO, logger="integration_core.credentials")
    run_scheduler(rt)
    report = drain_queues(rt)
    assert report.poisoned == []
    connection = Connection.from_document(rt.store.get(Connection.container, "t1", "crm"))
    assert connection.status is ConnectionStatus.NEEDS_REAUTH
    credential = rt.credentials.get_record(
        "t1", rt.credentials.credential_id_for_connection("t1", "crm")
    )
    assert credential.status is CredentialStatus.NEEDS_REAUTH
    assert credential.last_error == "unauthorized"
    assert [r for r in caplog.records if getattr(r, "event_kind", None) == "needs_reauth"]
    assert rt.store.get(SyncTask.container, "t1", "crm-contact")["enabled"] is False
    # The scheduler no longer enqueues the connection's task on every tick.
    rescheduled = run_scheduler(rt, now=connection.created_at.replace(year=2999))
    assert _pull(rt).message_id not in rescheduled.enqueued
    assert len(rescheduled.enqueued) == 1  # mkt only

    # Storing a working key resumes the connection and its task.
    rt.credentials.store_credential(
        "t1", "crm", {"type": "bearer_token", "token": systems["crm"].api_key}
    )
    connection = Connection.from_document(rt.store.get(Connection.container, "t1", "crm"))
    assert connection.status is ConnectionStatus.ACTIVE
    assert rt.store.get(SyncTask.container, "t1", "crm-contact")["enabled"] is True
