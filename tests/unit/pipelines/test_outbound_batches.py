"""The OutboundWorker writes a page's pushes to a target in `write_batch` calls, and routes
each push's own outcome to it: written, stale, refused for good, or postponed by a 429."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.clock import utcnow
from integration_core.connectors import Connectors
from integration_core.errors import (
    LockstepError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from integration_core.messaging.inline import InlineMessageQueue
from integration_core.models import (
    Connection,
    Entity,
    Link,
    SyncMessage,
    SyncMode,
    SyncResult,
)
from integration_core.pipelines.dead_letters import DEAD_LETTERS
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.inbound import process_inbound
from integration_core.pipelines.links import is_retired
from integration_core.pipelines.outbound import process_outbound
from integration_core.pipelines.pushes import PUSHES, push_items, push_message
from integration_core.pipelines.results import POSTPONED
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.ports import IntegrationAdapter, WriteRequest, WriteResult
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.faults import CrashingStore, ManualClock
from tests.harness.sandbox import contact, seeded_account

pytestmark = pytest.mark.unit


class _Queue(InlineMessageQueue):
    """The in-process queue on a manual clock, noting each push message it is sent."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock=clock)
        self.sent: list[tuple[SyncMessage, float]] = []

    def send(self, queue: str, message: SyncMessage, *, delay_seconds: float = 0.0) -> None:
        if queue == OUTBOUND_QUEUE:
            self.sent.append((message, delay_seconds))
        super().send(queue, message, delay_seconds=delay_seconds)


@dataclass
class Spy:
    """What the target's adapter is asked to write, and answers to put in its mouth.

    `faults` by the target's record id: that record's outcome instead of the provider's
    (a retryable one stops the connection: every request after it carries it too, unsent,
    as the adapter contract says). `after_answer`: runs once the provider answered a
    `write_batch`.
    """

    batch_limit: int = 10
    calls_per_batch: int | None = None  # None: the sandbox's own count (one per record)
    batches: list[list[WriteRequest]] = field(default_factory=list)
    faults: dict[str, LockstepError] = field(default_factory=dict)
    after_answer: Callable[[], None] | None = None

    def wrap(self, adapter: IntegrationAdapter) -> _SpyAdapter:
        return _SpyAdapter(adapter, self)


class _SpyAdapter:
    def __init__(self, inner: IntegrationAdapter, spy: Spy) -> None:
        self._inner, self._spy = inner, spy
        self.batch_limit = spy.batch_limit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> _SpyAdapter:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._inner.__exit__(*exc_info)

    def batch_calls(self, entity_type: str, requests: Sequence[WriteRequest]) -> int:
        if self._spy.calls_per_batch is None:
            return len(requests)
        return self._spy.calls_per_batch

    def write_batch(
        self, entity_type: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult | LockstepError]:
        self._spy.batches.append(list(requests))
        outcomes: dict[int, WriteResult | LockstepError] = {}
        stopped: LockstepError | None = None
        for i, request in enumerate(requests):
            fault = self._spy.faults.get(request.external_id or "")
            if stopped is None and isinstance(fault, RetryableError):
                stopped = fault
            if stopped is not None or fault is not None:
                outcomes[i] = stopped or fault  # type: ignore[assignment]
        sent = [i for i in range(len(requests)) if i not in outcomes]
        answers = self._inner.write_batch(entity_type, [requests[i] for i in sent])
        outcomes.update(zip(sent, answers, strict=True))
        if self._spy.after_answer is not None:
            after, self._spy.after_answer = self._spy.after_answer, None
            after()
        return [outcomes[i] for i in range(len(requests))]


@dataclass
class World:
    rt: Runtime
    crm: SandboxAccount
    erp: SandboxAccount
    clock: ManualClock
    queue: _Queue
    spy: Spy
    rounds: int = 0

    def pull(self) -> None:
        """The crm's pull, applied: its pushes wait in the queue."""
        run_scheduler(self.rt, now=utcnow() + timedelta(hours=self.rounds))
        self.rounds += 1
        (pull,) = self.rt.queue.receive(INBOUND_QUEUE, max_messages=10)
        process_inbound(self.rt, pull.message)
        self.rt.queue.complete(pull)

    def sync(self) -> None:
        self.pull()
        report = drain_queues(self.rt)
        assert not report.poisoned

    def erp_by_email(self) -> dict[str, dict[str, Any]]:
        return {r.properties["email"]: dict(r.properties) for r in self.erp.records("contacts")}

    def results(self) -> dict[str, SyncResult]:
        found = self.rt.store.query(SyncResult.container, partition_key="t1")
        return {d["id"]: SyncResult.from_document(d) for d in found}

    def batch_messages(self) -> list[SyncMessage]:
        return [m for m, delay in self.queue.sent if delay == 0 and PUSHES in m.payload]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    crm, erp = seeded_account("crm", contacts=6), seeded_account("erp")
    rt = embedded_runtime(tmp_path, {"crm": crm, "erp": erp}, throttle_max_wait_seconds=0.0)
    clock = ManualClock()
    queue = _Queue(clock)
    rt.queue = queue
    connect_sandbox(rt, "crm", crm, targets=("erp",))
    connect_sandbox(rt, "erp", erp, mode=SyncMode.PUSH)
    spy = Spy()
    connectors = rt.connectors
    plain = Connectors.adapter_for

    def adapter_for(connection: Connection) -> IntegrationAdapter:
        adapter = plain(connectors, connection)
        return spy.wrap(adapter) if connection.id == "erp" else adapter  # type: ignore[return-value]

    connectors.adapter_for = adapter_for  # type: ignore[method-assign]
    yield World(rt, crm, erp, clock, queue, spy)
    rt.close()


def _edit_page(world: World) -> None:
    """Two edits, an archive and two new people in the crm: one page of five changes."""
    records = sorted(world.crm.records("contacts"), key=lambda r: r.properties["email"])
    world.crm.update("contacts", records[0].id, {"city": "Paris"})
    world.crm.update("contacts", records[1].id, {"jobtitle": "CTO"})
    world.crm.archive("contacts", records[2].id)
    world.crm.create("contacts", contact(100))
    world.crm.create("contacts", contact(101))


@pytest.mark.parametrize("limit", [10, 3])
def test_a_page_of_creates_updates_and_deletes_is_one_write_batch_call_per_chunk(
    world: World, limit: int
) -> None:
    world.spy.batch_limit = limit
    world.sync()
    assert len(world.batch_messages()) == 1  # six pushes to the erp, one message
    assert [len(b) for b in world.spy.batches] == [min(limit, 6)] * math.ceil(6 / limit)
    assert all(r.external_id is None and r.idempotency_key for b in world.spy.batches for r in b)
    assert len(world.erp.records("contacts")) == 6

    world.spy.batches.clear()
    _edit_page(world)
    world.sync()
    # Two updates and two creates in batches; the delete goes alone (no batch delete).
    sizes = [len(b) for b in world.spy.batches]
    assert sizes == ([4] if limit == 10 else [3, 1])
    kinds = sorted("update" if r.external_id else "create" for b in world.spy.batches for r in b)
    assert kinds == ["create", "create", "update", "update"]
    assert all(
        r.expected_version is not None for b in world.spy.batches for r in b if r.external_id
    )
    hub = world.erp_by_email()
    crm = {r.properties["email"]: r.properties for r in world.crm.records("contacts")}
    assert set(hub) == set(crm)  # the archived one is gone, the new ones are there
    for email, values in crm.items():
        assert hub[email]["city"] == values["city"]
        assert hub[email]["jobtitle"] == values["jobtitle"]
    counts = [r for r in world.results().values() if r.direction == "outbound"]
    assert sum(r.created for r in counts) == 8
    assert sum(r.updated for r in counts) == 2
    assert sum(r.deleted for r in counts) == 1


def test_each_push_of_a_batch_meets_its_own_outcome(world: World) -> None:
    world.sync()
    records = world.crm.records("contacts")
    for record in records:  # in this order: the page lists them, the batch sends them so
        world.crm.update("contacts", record.id, {"city": "Rome"})
    emails = [r.properties["email"] for r in records]
    stale, refused, written, throttled = emails[0], emails[1], emails[2], emails[3]
    world.spy.batches.clear()
    erp_ids = {r.properties["email"]: r.id for r in world.erp.records("contacts")}
    world.spy.faults = {
        erp_ids[stale]: PreconditionFailedError("erp: the record moved on"),
        erp_ids[refused]: PermanentError("erp: INVALID_FIELD: city is not allowed"),
        erp_ids[throttled]: RetryableError("erp: 429", retry_after=30.0),  # it and after it
    }
    world.queue.sent.clear()
    world.pull()
    (batch,) = world.batch_messages()
    items = {item.entity_id: item for item in push_items(batch)}
    assert len(items) == 6
    report = drain_queues(world.rt)
    assert not report.poisoned
    assert report.failures == 0
    assert [len(b) for b in world.spy.batches] == [6]  # one call for the six
    erp_emails = {v: k for k, v in erp_ids.items()}
    assert [erp_emails[r.external_id or ""] for r in world.spy.batches[0]] == emails

    cities = {email: values["city"] for email, values in world.erp_by_email().items()}
    assert cities[written] == "Rome"
    assert [e for e in emails if cities[e] == "Rome"] == [written]

    letters = world.rt.store.query(DEAD_LETTERS, partition_key="t1")
    assert [letter["reason"] for letter in letters] == ["erp: INVALID_FIELD: city is not allowed"]
    results = world.results()
    by_email = {_email_of(world, item.entity_id): results[item.push_id] for item in items.values()}
    assert by_email[written].updated == 1
    assert by_email[refused].failed == 1
    assert "changed in erp since last sync" in by_email[stale].errors[0]
    later = {m.message_id: (m, d) for m, d in world.queue.sent}
    postponed = [by_email[e] for e in emails[3:]]
    assert all(r.errors[0].startswith(POSTPONED) for r in postponed)
    (copy_id,) = {r.errors[0].removeprefix(POSTPONED) for r in postponed}
    copy, delay = later[copy_id]
    assert delay == 30.0
    assert len(push_items(copy)) == 3  # the throttled one and the two behind it, together

    # The provider is fine again: the stale push waits for inbound (then finds the erp's
    # base unchanged and writes), the throttled ones land; the refused one stays refused.
    world.spy.faults = {}
    world.clock.advance(61)
    assert not drain_queues(world.rt).poisoned
    cities = {email: values["city"] for email, values in world.erp_by_email().items()}
    assert sorted(e for e in emails if cities[e] != "Rome") == [refused]


def _email_of(world: World, entity_id: str) -> str:
    return str(world.rt.store.get(Entity.container, "t1", entity_id)["values"]["email"])


@pytest.mark.parametrize("nth", [1, 2, 3, 5, 8, 13])
def test_a_crash_after_the_provider_answered_creates_nothing_twice(world: World, nth: int) -> None:
    """The process dies after `write_batch` answered, at the `nth` store write after it:
    before any link is written, or between the items' links. The redelivery asks again
    with the same idempotency keys and skips the pushes that already landed."""
    crashing = CrashingStore(world.rt.store)
    world.rt.store = crashing  # type: ignore[assignment]
    world.spy.after_answer = lambda: crashing.switch.arm(nth)
    world.pull()
    report = drain_queues(world.rt)  # the crash, then its redelivery
    assert not report.poisoned
    assert report.failures == (1 if crashing.switch.fired else 0)
    assert crashing.switch.fired == 1  # it did crash: after the answer, before or between links
    assert sorted(world.erp_by_email()) == sorted(
        r.properties["email"] for r in world.crm.records("contacts")
    )
    links = [
        Link.from_document(d)
        for d in world.rt.store.query(Link.container, partition_key="t1")
        if d["connectionId"] == "erp"
    ]
    assert sorted(link.external_id for link in links if not is_retired(link)) == sorted(
        r.id for r in world.erp.records("contacts")
    )
    world.spy.batches.clear()
    world.sync()  # an idle round: nothing to write
    assert world.spy.batches == []


def test_an_old_single_push_message_is_still_handled(world: World) -> None:
    world.sync()
    record = world.crm.records("contacts")[0]
    world.crm.update("contacts", record.id, {"city": "Lima"})
    world.pull()
    link = world.rt.store.get(Link.container, "t1", Link.make_id("crm", record.id))
    entity = Entity.from_document(world.rt.store.get(Entity.container, "t1", link["entityId"]))
    # As a worker of the last release queued it: the single format, its id the push id.
    old = push_message("t1", entity, "erp", correlation_id="old", trigger=None)
    assert PUSHES not in old.payload
    assert "entity_id" in old.payload
    result = process_outbound(world.rt, old)
    assert (result.updated, result.pushed) == (1, 1)
    assert world.erp_by_email()[record.properties["email"]]["city"] == "Lima"
    assert world.results()[old.message_id].updated == 1
    again = process_outbound(world.rt, old)  # a duplicate delivery
    assert again.id == old.message_id
    assert again.updated == 1


@pytest.mark.parametrize(("limit", "landed"), [(10, 6), (1, 3)])
def test_the_limiter_is_charged_per_api_call_not_per_record(
    world: World, limit: int, landed: int
) -> None:
    """A budget of three calls a minute: six creates in one batch call (a provider with a
    batch endpoint) all land; one call per record, three land and three wait."""
    document = world.rt.store.get(Connection.container, "t1", "erp")
    document["config"]["rate_limits"] = [
        {"bucket": "rate", "max_requests": 3, "window_seconds": 60}
    ]
    world.rt.store.upsert(Connection.container, document)
    world.spy.batch_limit, world.spy.calls_per_batch = limit, 1
    world.sync()
    assert len(world.erp.records("contacts")) == landed
    postponed = [
        r for r in world.results().values() if any(e.startswith(POSTPONED) for e in r.errors)
    ]
    assert len(postponed) == 6 - landed


def test_a_batch_costlier_than_the_whole_budget_goes_out_in_smaller_chunks(world: World) -> None:
    """Three calls a minute and a provider that spends a call per record: a chunk of six
    could never be granted; chunks of three are, one per window, until all six land."""
    document = world.rt.store.get(Connection.container, "t1", "erp")
    document["config"]["rate_limits"] = [
        {"bucket": "rate", "max_requests": 3, "window_seconds": 60}
    ]
    world.rt.store.upsert(Connection.container, document)
    world.sync()
    assert [len(b) for b in world.spy.batches] == [3]
    for _ in range(5):
        if len(world.erp.records("contacts")) == 6:
            break
        world.rt.limiter.reset("conn:t1/erp:rate")  # the window has passed
        world.clock.advance(3600)
        assert not drain_queues(world.rt).poisoned
    assert [len(b) for b in world.spy.batches] == [3, 3]
    assert len(world.erp.records("contacts")) == 6
