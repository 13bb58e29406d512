"""A provider outage answered with 503s and no Retry-After: pushes back off and wait.

They are re-enqueued with an exponentially growing, jittered delay (the breaker, once
open, holds them as well), never re-sent at once by the host and never dead-lettered,
however long the outage lasts; once the provider is back they all land.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.messaging import OUTBOUND_QUEUE
from integration_core.messaging.inline import InlineMessageQueue
from integration_core.models import SyncMessage, SyncMode
from integration_core.pipelines.dead_letters import DEAD_LETTERS
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.resilience import CircuitBreaker
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.faults import ManualClock
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit


class _DelayLog(InlineMessageQueue):
    """The in-process queue, noting the delay of every push it is sent."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock=clock)
        self.push_delays: list[float] = []

    def send(self, queue: str, message: SyncMessage, *, delay_seconds: float = 0.0) -> None:
        if queue == OUTBOUND_QUEUE:
            self.push_delays.append(delay_seconds)
        super().send(queue, message, delay_seconds=delay_seconds)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Runtime, SandboxAccount, SandboxAccount, Any]]:
    crm, erp = seeded_account("crm", contacts=3), seeded_account("erp")
    rt = embedded_runtime(
        tmp_path, {"crm": crm, "erp": erp}, max_reschedules=3, throttle_max_wait_seconds=0.0
    )
    clock = ManualClock()
    rt.queue = _DelayLog(clock)
    rt.breaker = CircuitBreaker(clock=clock)
    connect_sandbox(rt, "crm", crm, targets=("erp",))
    # Push-only: this test is about pushes (the erp is not read, so no pull meets the 503s).
    connect_sandbox(rt, "erp", erp, mode=SyncMode.PUSH)
    yield rt, crm, erp, clock
    rt.close()


def test_an_outage_longer_than_the_attempts_budget_dead_letters_no_push(
    world: tuple[Runtime, SandboxAccount, SandboxAccount, ManualClock],
) -> None:
    rt, crm, erp, clock = world
    queue = rt.queue
    assert isinstance(queue, _DelayLog)
    erp.inject_fault(503, count=10**6)  # down, and it says nothing of when it is back
    run_scheduler(rt)
    for _ in range(20):  # far past max_reschedules (3) and the host's 5 attempts
        report = drain_queues(rt)
        assert not report.poisoned
        assert report.failures == 0  # postponed with a delay, never thrown back at once
        clock.advance(24 * 3600)
    assert rt.store.query(DEAD_LETTERS, partition_key="t1") == []
    retries = [d for d in queue.push_delays if d > 0]
    assert len(retries) >= 20
    assert max(retries) > 10 * min(retries)  # the delay grows (exponential backoff)
    erp.clear_faults()
    clock.advance(24 * 3600)
    report = drain_queues(rt)
    assert not report.poisoned
    assert len(erp.records("contacts")) == 3
    assert sorted(r.properties["email"] for r in erp.records("contacts")) == sorted(
        r.properties["email"] for r in crm.records("contacts")
    )
