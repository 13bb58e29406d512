"""The pipelines end to end on the embedded backends: scheduler, inbound, outbound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.clock import utcnow
from integration_core.errors import RetryableError
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from integration_core.models import (
    Connection,
    ConnectionStatus,
    Entity,
    Link,
    SyncTask,
)
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.inbound import DEAD_LETTERS, process_inbound
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime, sync_round
from tests.harness.sandbox import contact, seeded_account

pytestmark = pytest.mark.unit


@pytest.fixture
def systems() -> dict[str, SandboxAccount]:
    return {"crm": seeded_account("crm", contacts=12), "mkt": seeded_account("mkt")}


@pytest.fixture
def rt(tmp_path: Path, systems: dict[str, SandboxAccount]) -> Runtime:
    runtime = embedded_runtime(tmp_path, systems, sync_page_size=5)
    connect_sandbox(runtime, "crm", systems["crm"], targets=("mkt",))
    connect_sandbox(runtime, "mkt", systems["mkt"], targets=("crm",))
    yield runtime
    runtime.close()


def _all(rt: Runtime, container: str) -> list[dict[str, Any]]:
    return rt.store.query(container, partition_key="t1")


def test_first_sync_creates_one_entity_and_two_links_per_record(
    rt: Runtime, systems: dict[str, SandboxAccount]
) -> None:
    sync_round(rt)
    assert len(_all(rt, Entity.container)) == 12
    assert len(_all(rt, Link.container)) == 24
    assert len(systems["mkt"].records("contacts")) == 12
    emails = sorted(r.properties["email"] for r in systems["mkt"].records("contacts"))
    assert emails == sorted(r.properties["email"] for r in systems["crm"].records("contacts"))


def test_running_again_writes_nothing_and_duplicates_nothing(
    rt: Runtime, systems: dict[str, SandboxAccount]
) -> None:
    sync_round(rt)
    versions = {r.id: r.version for a in systems.values() for r in a.records("contacts")}
    for round_ in range(1, 4):
        results = sync_round(rt, minutes=10 * round_)
        assert sum(r.pushed + r.created + r.updated for r in results) == 0
    assert versions == {r.id: r.version for a in systems.values() for r in a.records("contacts")}
    assert len(_all(rt, Entity.container)) == 12


def test_an_edit_travels_to_the_other_system(
    rt: Runtime, systems: dict[str, SandboxAccount]
) -> None:
    sync_round(rt)
    source = systems["crm"].records("contacts")[3]
    systems["crm"].update("contacts", source.id, {"jobtitle": "CTO"})
    sync_round(rt, minutes=10)
    twin = [
        r
        for r in systems["mkt"].records("contacts")
        if r.properties["email"] == source.properties["email"]
    ]
    assert [r.properties["jobtitle"] for r in twin] == ["CTO"]


def test_scheduler_enqueues_each_due_task_once_highest_priority_first(
    rt: Runtime, tmp_path: Path
) -> None:
    task = SyncTask.from_document(rt.store.get(SyncTask.container, "t1", "mkt-contact"))
    rt.store.upsert(SyncTask.container, task.model_copy(update={"priority": 9}).to_document())
    now = utcnow()
    first = run_scheduler(rt, now=now)
    again = run_scheduler(rt, now=now)
    leased = rt.queue.receive(INBOUND_QUEUE, max_messages=10)
    assert [m.message.payload["task_id"] for m in leased] == ["mkt-contact", "crm-contact"]
    assert len(first.enqueued) == 2
    assert again.enqueued == []
    for task_id in ("mkt-contact", "crm-contact"):
        stored = SyncTask.from_document(rt.store.get(SyncTask.container, "t1", task_id))
        assert stored.next_due_at > now


def test_scheduler_does_not_advance_a_task_whose_enqueue_failed(rt: Runtime) -> None:
    class Broken:
        def send(self, *args: object, **kwargs: object) -> None:
            raise RetryableError("queue down")

        def backlog(self, *args: object) -> None:
            raise RetryableError("queue down")

    working = rt.queue
    rt.queue = Broken()  # type: ignore[assignment]
    before = rt.store.get(SyncTask.container, "t1", "crm-contact")["nextDueAt"]
    with pytest.raises(RetryableError):
        run_scheduler(rt)
    assert rt.store.get(SyncTask.container, "t1", "crm-contact")["nextDueAt"] == before
    rt.queue = working
    assert len(run_scheduler(rt).enqueued) == 2


def test_scheduler_skips_connections_that_need_reauth(rt: Runtime) -> None:
    document = rt.store.get(Connection.container, "t1", "mkt")
    document["status"] = ConnectionStatus.NEEDS_REAUTH.value
    rt.store.upsert(Connection.container, document)
    report = run_scheduler(rt)
    assert "mkt-contact" in report.skipped
    assert len(report.enqueued) == 1


def test_redelivered_pull_message_is_a_no_op(rt: Runtime) -> None:
    run_scheduler(rt)
    message = rt.queue.receive(INBOUND_QUEUE, max_messages=1)[0].message
    first = process_inbound(rt, message)
    again = process_inbound(rt, message)
    assert again == first
    assert len(_all(rt, Entity.container)) == first.created


def test_a_malformed_record_is_dead_lettered_and_the_rest_applies(
    rt: Runtime, systems: dict[str, SandboxAccount]
) -> None:
    bad = systems["crm"].create("contacts", {**contact(99), "email": {"not": "text"}})
    results = sync_round(rt)
    letters = _all(rt, DEAD_LETTERS)
    assert [d["externalId"] for d in letters] == [bad.id]
    assert "email" in letters[0]["reason"]
    assert letters[0]["change"]["values"]["email"] == {"not": "text"}
    assert len(_all(rt, Entity.container)) == 12
    assert any(bad.id in e for r in results for e in r.errors)


def test_a_failing_source_is_retried_then_poisoned_with_nothing_written(
    rt: Runtime, systems: dict[str, SandboxAccount]
) -> None:
    systems["crm"].inject_fault(503, count=100)
    run_scheduler(rt)
    report = drain_queues(rt, max_attempts=3)
    assert [p.message.payload["task_id"] for p in report.poisoned] == ["crm-contact"]
    assert report.failures == 3
    assert rt.store.get(SyncTask.container, "t1", "crm-contact")["cursor"] is None
    assert systems["mkt"].records("contacts") == []
    assert rt.queue.receive(OUTBOUND_QUEUE) == []


def test_cursor_moves_page_by_page_so_a_crash_resumes_after_the_last_applied_page(
    rt: Runtime, systems: dict[str, SandboxAccount]
) -> None:
    run_scheduler(rt)
    message = next(
        m.message
        for m in rt.queue.receive(INBOUND_QUEUE, max_messages=5)
        if m.message.payload["task_id"] == "crm-contact"
    )
    calls = {"n": 0}
    account = systems["crm"]
    original = account._handle

    def flaky(environ: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # the third page read fails
            return 503, {"error": "boom"}, []
        return original(environ)

    account._handle = flaky  # type: ignore[method-assign]
    with pytest.raises(RetryableError):
        process_inbound(rt, message)
    assert len(_all(rt, Entity.container)) == 10  # two pages of five applied
    assert rt.store.get(SyncTask.container, "t1", "crm-contact")["cursor"] is not None
    account._handle = original  # type: ignore[method-assign]
    result = process_inbound(rt, message)
    assert result.created == 2
    assert len(_all(rt, Entity.container)) == 12
