"""Traces and metrics of a sync, read back through OpenTelemetry's in-memory exporters.

One trace spans the scheduler, the inbound worker and the outbound worker (the trace
context travels in each SyncMessage); the records counter and the stage latencies say
what the sync did.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.clock import utcnow
from integration_core.models import SyncMessage
from integration_core.observability.telemetry import current_traceparent, span
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import Runtime
from tests.harness import telemetry
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module", autouse=True)
def providers() -> None:
    telemetry.install()


@pytest.fixture
def systems() -> dict[str, SandboxAccount]:
    return {"crm": seeded_account("crm", contacts=5), "mkt": seeded_account("mkt")}


@pytest.fixture
def rt(tmp_path: Path, systems: dict[str, SandboxAccount]) -> Iterator[Runtime]:
    runtime = embedded_runtime(tmp_path, systems)
    connect_sandbox(runtime, "crm", systems["crm"], targets=("mkt",))
    connect_sandbox(runtime, "mkt", systems["mkt"])
    yield runtime
    runtime.close()


def _records(connection: str, direction: str, outcome: str) -> int:
    wanted = {"connection": connection, "direction": direction, "outcome": outcome}
    return sum(
        p.value for p in telemetry.points("lockstep.records") if dict(p.attributes) == wanted
    )


def _stage_count(stage: str) -> int:
    return sum(
        p.count
        for p in telemetry.points("lockstep.stage.duration")
        if p.attributes["stage"] == stage
    )


def test_a_message_carries_the_trace_context_of_the_span_that_made_it() -> None:
    outside = SyncMessage(
        message_id="m", tenant_id="t", connection_id="c", kind="pull", correlation_id="x"
    )
    assert outside.traceparent is None
    with span("test") as current:
        inside = SyncMessage.from_json(outside.model_copy(update={"traceparent": None}).to_json())
        made = SyncMessage(
            message_id="m", tenant_id="t", connection_id="c", kind="pull", correlation_id="x"
        )
        assert made.traceparent == current_traceparent()
    assert inside.traceparent is None
    assert f"{current.get_span_context().trace_id:032x}" in (made.traceparent or "")


def test_one_trace_spans_the_scheduler_and_both_workers(rt: Runtime) -> None:
    telemetry.SPANS.clear()
    run_scheduler(rt)
    drain_queues(rt)
    spans = telemetry.SPANS.get_finished_spans()
    (schedule,) = [
        s
        for s in spans
        if s.name == "lockstep.schedule" and (s.attributes or {}).get("task") == "crm-contact"
    ]
    trace_id = schedule.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    names = sorted({s.name for s in in_trace})
    assert names == ["lockstep.schedule", "lockstep.sync-inbound", "lockstep.sync-outbound"]
    # The five pushes to mkt: one batch message.
    assert sum(s.name == "lockstep.sync-outbound" for s in in_trace) == 1
    (inbound,) = [s for s in in_trace if s.name == "lockstep.sync-inbound"]
    assert inbound.parent is not None
    assert inbound.parent.span_id == schedule.context.span_id
    assert (inbound.attributes or {}).get("tenant") == "t1"


def test_metrics_count_records_per_connection_and_time_each_stage(rt: Runtime) -> None:
    before = (_records("crm", "inbound", "read"), _records("mkt", "outbound", "pushed"))
    stages = {s: _stage_count(s) for s in ("fetch", "push", "sync-inbound", "sync-outbound")}
    allowed = telemetry.event_total(
        "limiter_decision", connection="crm", allowed="true", shared="true"
    )
    run_scheduler(rt)
    drain_queues(rt)
    assert _records("crm", "inbound", "read") - before[0] == 5
    assert _records("mkt", "outbound", "pushed") - before[1] == 5
    assert _stage_count("fetch") > stages["fetch"]
    assert _stage_count("push") - stages["push"] == 5
    assert _stage_count("sync-inbound") - stages["sync-inbound"] == 2  # crm's pull and mkt's
    assert _stage_count("sync-outbound") - stages["sync-outbound"] == 1  # a batch of five
    assert (
        telemetry.event_total("limiter_decision", connection="crm", allowed="true", shared="true")
        > allowed
    )


def _total(name: str, **wanted: str) -> int:
    return sum(p.value for p in telemetry.points(name) if dict(p.attributes) == wanted)


def _gauge(name: str, queue: str) -> float:
    (point,) = [p for p in telemetry.points(name) if dict(p.attributes) == {"queue": queue}]
    return float(point.value)


def test_dedup_verdicts_conflicts_and_the_hub_stages_are_measured(
    rt: Runtime, systems: dict[str, SandboxAccount]
) -> None:
    new = _total("lockstep.dedup", connection="crm", verdict="new")
    stages = {s: _stage_count(s) for s in ("match", "resolve", "store")}
    run_scheduler(rt)
    drain_queues(rt)
    assert _total("lockstep.dedup", connection="crm", verdict="new") - new == 5
    assert _stage_count("match") - stages["match"] == 5
    assert _stage_count("store") > stages["store"]

    crm, mkt = systems["crm"], systems["mkt"]
    record = crm.records("contacts")[0]
    email = record.properties["email"]
    (copy,) = [r for r in mkt.records("contacts") if r.properties.get("email") == email]
    detected = _total("lockstep.conflicts", connection="mkt", outcome="detected")
    resolved = _total("lockstep.conflicts", connection="mkt", outcome="resolved")
    crm.update("contacts", record.id, {"jobtitle": "From CRM"})
    mkt.update("contacts", copy.id, {"jobtitle": "From MKT"})
    run_scheduler(rt, now=utcnow() + timedelta(days=1))  # both tasks are due again
    drain_queues(rt)
    assert _total("lockstep.conflicts", connection="mkt", outcome="detected") - detected == 1
    assert _total("lockstep.conflicts", connection="mkt", outcome="resolved") - resolved == 1
    assert _stage_count("resolve") > stages["resolve"]


def test_each_scheduler_tick_samples_the_queues_backlog(rt: Runtime) -> None:
    run_scheduler(rt)  # enqueues crm's and mkt's pulls
    run_scheduler(rt)  # nothing due: it sees them waiting
    assert _gauge("lockstep.queue.depth", "sync-inbound") == 2
    assert _gauge("lockstep.queue.depth", "sync-outbound") == 0
    assert _gauge("lockstep.queue.oldest_age", "sync-inbound") >= 0
    drain_queues(rt)
    run_scheduler(rt)
    assert _gauge("lockstep.queue.depth", "sync-inbound") == 0
