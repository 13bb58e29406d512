"""The circuit breaker in the inbound worker, on the embedded stack.

A provider answering 500s is called `failures` times, then left alone: the message is
postponed (a delayed copy), not failed and not dropped; after the cooling-off one probe
goes out, and its outcome reopens or closes the circuit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.errors import RetryableError
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import Entity, SyncMessage
from integration_core.notify.incidents import INCIDENTS
from integration_core.notify.sources import BreakerAlerts
from integration_core.pipelines.inbound import process_inbound
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.resilience import BreakerConfig, CircuitBreaker
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def crm() -> SandboxAccount:
    return seeded_account("crm", contacts=12)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rt(tmp_path: Path, crm: SandboxAccount, clock: Clock) -> Iterator[Runtime]:
    runtime = embedded_runtime(tmp_path, {"crm": crm}, throttle_max_wait_seconds=0.0)
    runtime.breaker = CircuitBreaker(
        config=BreakerConfig(failures=3, window_seconds=60, cooldown_seconds=60),
        clock=clock,
        on_transition=BreakerAlerts(runtime.store),
    )
    connect_sandbox(runtime, "crm", crm)
    yield runtime
    runtime.close()


def _postponed(rt: Runtime, message: SyncMessage) -> SyncMessage:
    """Run `message`, which must meet an open circuit; the delayed copy it leaves."""
    result = process_inbound(rt, message)
    (note,) = result.errors
    assert note.startswith("throttled: continues as ")
    assert rt.queue.receive(INBOUND_QUEUE) == []  # the copy waits out the cooling-off
    return message.model_copy(
        update={"message_id": note.rsplit(" ", 1)[-1], "attempt": message.attempt + 1}
    )


def test_a_failing_provider_is_left_alone_then_probed_half_open(
    rt: Runtime, crm: SandboxAccount, clock: Clock
) -> None:
    crm.inject_fault(500, count=3)
    crm.inject_fault(503, count=1)  # answered only to the first call after the three
    run_scheduler(rt)
    message = rt.queue.receive(INBOUND_QUEUE, max_messages=1)[0].message
    for _ in range(3):
        with pytest.raises(RetryableError):
            process_inbound(rt, message)  # the host redelivers it each time
    assert rt.breaker.state("t1", "crm").state == "open"
    (incident,) = rt.store.query(INCIDENTS, partition_key="t1")
    assert (incident["kind"], incident["subjectId"], incident["state"]) == (
        "circuit_open",
        "crm",
        "open",
    )

    # Open: no call goes out (the 503 stays unanswered), and the message is postponed.
    later = _postponed(rt, message)
    clock.now += 61
    with pytest.raises(RetryableError):
        process_inbound(rt, later)  # the half-open probe meets the 503: open again
    assert rt.breaker.state("t1", "crm").state == "open"
    later = _postponed(rt, later)

    clock.now += 61
    result = process_inbound(rt, later)  # the probe succeeds; the pull completes
    assert result.errors == []
    assert rt.breaker.state("t1", "crm").state == "closed"
    assert len(rt.store.query(Entity.container, partition_key="t1")) == 12
    (incident,) = rt.store.query(INCIDENTS, partition_key="t1")
    assert (incident["state"], incident["occurrences"]) == ("resolved", 2)  # opened twice


def test_failures_spread_beyond_the_window_never_open_the_circuit(
    rt: Runtime, crm: SandboxAccount, clock: Clock
) -> None:
    for _ in range(5):
        rt.breaker.record_status("t1", "crm", 502)
        rt.breaker.record_status("t1", "crm", 502)
        clock.now += 61
    assert rt.breaker.state("t1", "crm").state == "closed"
    rt.breaker.record_status("t1", "crm", 200)
    assert rt.breaker.state("t1", "crm").failures == 0


def test_a_success_closes_the_count_and_timeouts_count_as_hard_failures(
    rt: Runtime, clock: Clock
) -> None:
    import httpx

    timeout = RetryableError("read: timed out")
    timeout.__cause__ = httpx.ReadTimeout("slow")
    rt.breaker.record_error(
        "t1", "crm", RetryableError("HTTP 429")
    )  # no answer missing: not counted
    assert rt.breaker.state("t1", "crm").failures == 0
    for _ in range(2):
        rt.breaker.record_error("t1", "crm", timeout)
    rt.breaker.record_status("t1", "crm", 404)  # the provider answered: it is up
    rt.breaker.record_error("t1", "crm", timeout)
    assert rt.breaker.state("t1", "crm").state == "closed"
    rt.breaker.record_error("t1", "crm", timeout)
    rt.breaker.record_error("t1", "crm", timeout)
    assert rt.breaker.state("t1", "crm").state == "open"
