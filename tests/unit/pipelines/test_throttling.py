"""Rate limits in the workers: a throttled sync is postponed, never dropped or failed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.errors import RetryableError
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import Connection, Entity, SyncTask
from integration_core.pipelines.inbound import process_inbound
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.ratelimit import Limit
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit


@pytest.fixture
def crm() -> SandboxAccount:
    return seeded_account("crm", contacts=12)


@pytest.fixture
def rt(tmp_path: Path, crm: SandboxAccount) -> Iterator[Runtime]:
    runtime = embedded_runtime(
        tmp_path, {"crm": crm}, sync_page_size=5, throttle_max_wait_seconds=0.0
    )
    connect_sandbox(runtime, "crm", crm)
    yield runtime
    runtime.close()


def _limit_connection(rt: Runtime, max_requests: int) -> None:
    document = rt.store.get(Connection.container, "t1", "crm")
    document["config"]["rate_limits"] = [
        {"bucket": "rate", "max_requests": max_requests, "window_seconds": 60}
    ]
    rt.store.upsert(Connection.container, document)


def _pull_message(rt: Runtime):  # type: ignore[no-untyped-def]
    run_scheduler(rt)
    return rt.queue.receive(INBOUND_QUEUE, max_messages=1)[0].message


def test_a_spent_budget_postpones_the_rest_of_the_pull(rt: Runtime) -> None:
    _limit_connection(rt, 2)
    message = _pull_message(rt)
    result = process_inbound(rt, message)
    assert len(rt.store.query(Entity.container, partition_key="t1")) == 10
    assert any("throttled" in e for e in result.errors)
    assert rt.queue.receive(INBOUND_QUEUE) == []  # the follow-up waits for the window
    assert rt.store.get(SyncTask.container, "t1", "crm-contact")["cursor"] is not None
    rt.limiter.reset("conn:t1/crm:rate")
    follow_up = message.model_copy(
        update={"message_id": result.errors[0].rsplit(" ", 1)[-1], "attempt": 1}
    )
    process_inbound(rt, follow_up)
    assert len(rt.store.query(Entity.container, partition_key="t1")) == 12


def test_a_provider_429_postpones_and_blocks_the_connection_for_everyone(
    rt: Runtime, crm: SandboxAccount
) -> None:
    crm.inject_fault(429, retry_after=30)
    result = process_inbound(rt, _pull_message(rt))
    assert any("throttled" in e for e in result.errors)
    decision = rt.limiter.acquire([Limit("conn:t1/crm:rate", 100, 1.0)])
    assert not decision.allowed
    assert decision.retry_after > 20


def test_endless_throttling_falls_back_to_the_retry_path(rt: Runtime) -> None:
    _limit_connection(rt, 1)
    message = _pull_message(rt)
    exhausted = message.model_copy(update={"attempt": rt.settings.max_reschedules})
    with pytest.raises(RetryableError):
        process_inbound(rt, exhausted)


def test_two_tenants_naming_a_connection_alike_keep_separate_budgets(
    rt: Runtime, crm: SandboxAccount
) -> None:
    """Connection ids are unique within a tenant only: t1 spending its "crm" budget must
    not throttle t2's "crm" (the limiter's keys once held the connection id alone)."""
    connect_sandbox(rt, "crm", crm, tenant_id="t2")
    for tenant in ("t1", "t2"):
        document = rt.store.get(Connection.container, tenant, "crm")
        document["config"]["rate_limits"] = [
            {"bucket": "rate", "max_requests": 2, "window_seconds": 60}
        ]
        rt.store.upsert(Connection.container, document)
    run_scheduler(rt)
    messages = {
        m.message.tenant_id: m.message for m in rt.queue.receive(INBOUND_QUEUE, max_messages=10)
    }
    for tenant in ("t1", "t2"):
        process_inbound(rt, messages[tenant])
        assert len(rt.store.query(Entity.container, partition_key=tenant)) == 10, tenant
