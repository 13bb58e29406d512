"""The alerts raised where their trouble happens, sent to a local receiver standing in for
Slack: a webhook registration disabled, missed webhooks found by reconciliation, a rate
limit exhausted for long, the limiter on its local fallback, a conflict or duplicate
waiting longer than the tenant allows. Each alerts once, digests while it lasts and
resolves when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.admin.metrics import tenant_metrics
from integration_core.clock import utcnow
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import Connection, Entity
from integration_core.notify import AlertKind, add_destination, deliver_outbox, send_digests
from integration_core.notify.incidents import open_incidents
from integration_core.notify.preferences import NotificationPreferences, set_preferences
from integration_core.notify.sources import (
    LIMITER_SUBJECT,
    LimiterFallbackAlerts,
    WebhookAlerts,
    webhooks_missed,
)
from integration_core.notify.waiting import alert_waiting_decisions
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.registrations import webhook_registrations
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.pipelines.worker import handle_message
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import RegistrationStatus, WebhookRegistrations
from tests.harness import telemetry
from tests.harness.decisions import seed_conflict, seed_duplicate
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.http_servers import RecordingServer
from tests.harness.notifications import alert_bodies, alert_titles
from tests.harness.redis_server import RedisServer
from tests.harness.sandbox import seeded_account
from tests.harness.webhooks import github_delivery

pytestmark = pytest.mark.unit
DIGEST = timedelta(minutes=15)


@pytest.fixture(scope="module", autouse=True)
def providers() -> None:
    telemetry.install()


@pytest.fixture
def crm() -> SandboxAccount:
    return seeded_account("crm", contacts=12)


@pytest.fixture
def rt(tmp_path: Path, crm: SandboxAccount, slack: RecordingServer) -> Iterator[Runtime]:
    runtime = embedded_runtime(
        tmp_path,
        {"crm": crm},
        sync_page_size=5,
        throttle_max_wait_seconds=0.0,
        rate_limit_alert_minutes=10,
    )
    add_destination(runtime, "t1", kind="slack", name="ops", url=f"{slack.url}/hook")
    yield runtime
    runtime.close()


def test_a_registration_disabled_by_failed_deliveries_alerts_and_enabling_it_resolves(
    rt: Runtime, slack: RecordingServer
) -> None:
    registrations = WebhookRegistrations(rt.store, rt.credentials)
    registration, _ = registrations.register("t1", "gh", "github")
    for _ in range(50):  # the receiver disables a registration after 50 failures in a row
        headers, body = github_delivery("not-the-secret")
        assert receive_webhook(rt, registration.id, headers=headers, body=body).status == 401
    assert registrations.get("t1", registration.id).status is RegistrationStatus.DISABLED
    deliver_outbox(rt)
    assert alert_titles(slack) == ["Alert: A webhook registration was disabled"]
    assert registration.id in slack.received[0].body.decode()

    admin = WebhookRegistrations(rt.store, rt.credentials, on_event=WebhookAlerts(rt.store))
    admin.enable("t1", registration.id)
    admin.enable("t1", registration.id)  # already active: no second resolution
    deliver_outbox(rt)
    assert alert_titles(slack)[1:] == ["Resolved: A webhook registration was disabled"]


def test_missed_webhooks_alert_once_digest_and_resolve_when_reconciliation_finds_none(
    rt: Runtime, slack: RecordingServer
) -> None:
    before = _webhooks("missed")
    webhooks_missed(rt.store, "t1", "reg-1", missed=3)
    webhooks_missed(rt.store, "t1", "reg-1", missed=4)
    later = utcnow() + DIGEST
    assert send_digests(rt.store, interval=DIGEST, now=later) == 1
    webhooks_missed(rt.store, "t1", "reg-1", missed=0)
    deliver_outbox(rt, now=later)
    assert [t.split(":")[0] for t in alert_titles(slack)] == [
        "Alert",
        "Still happening",
        "Resolved",
    ]
    assert "Reconciliation found missed webhooks" in alert_titles(slack)[0]
    facts = alert_bodies(slack)[0]["blocks"][1]["text"]["text"]
    assert "*missed*: `3`" in facts
    assert _webhooks("missed") - before == 7
    assert tenant_metrics(rt, "t1").webhooks.missed == 7


def _limit_connection(rt: Runtime, max_requests: int) -> None:
    document = rt.store.get(Connection.container, "t1", "crm")
    document["config"]["rate_limits"] = [
        {"bucket": "rate", "max_requests": max_requests, "window_seconds": 60}
    ]
    rt.store.upsert(Connection.container, document)


def test_a_sync_postponed_by_rate_limits_for_long_alerts_and_resolves_once_it_gets_through(
    rt: Runtime, crm: SandboxAccount, slack: RecordingServer
) -> None:
    connect_sandbox(rt, "crm", crm)
    _limit_connection(rt, 2)
    run_scheduler(rt)
    [received] = rt.queue.receive(INBOUND_QUEUE, max_messages=1)
    first = handle_message(rt, INBOUND_QUEUE, received.message, delivery_id="d1", dequeue_count=1)
    assert first is not None
    assert first.limiter == {"allowed": 2, "denied": 1}
    deliver_outbox(rt)
    assert slack.received == []  # postponed just now: not yet "for long"

    # The same work, postponed since 11 minutes ago (what its copy would carry by then).
    postponed_at = utcnow() - timedelta(minutes=11)
    still = received.message.model_copy(
        update={"message_id": "copy-1", "attempt": 5, "throttled_since": postponed_at}
    )
    again = handle_message(rt, INBOUND_QUEUE, still, delivery_id="d2", dequeue_count=1)
    assert again is not None
    assert any(e.startswith("throttled: continues as") for e in again.errors)
    deliver_outbox(rt)
    assert alert_titles(slack) == ["Alert: A rate limit has been exhausted for long"]
    assert "*postponements*: `6`" in alert_bodies(slack)[0]["blocks"][1]["text"]["text"]

    rt.limiter.reset("conn:t1/crm:rate")
    _limit_connection(rt, 1000)
    through = still.model_copy(update={"message_id": "copy-2", "attempt": 6})
    done = handle_message(rt, INBOUND_QUEUE, through, delivery_id="d3", dequeue_count=1)
    assert done is not None
    assert done.errors == []
    deliver_outbox(rt)
    assert alert_titles(slack)[1:] == ["Resolved: A rate limit has been exhausted for long"]
    assert tenant_metrics(rt, "t1").limiter.postponed == 2


def test_the_limiter_fallback_alerts_a_tenant_once_per_interval_and_resolves_when_shared(
    rt: Runtime, slack: RecordingServer
) -> None:
    watch = LimiterFallbackAlerts(rt.store, every=3600)
    for _ in range(100):
        watch("t1", True)
    assert [i["occurrences"] for i in open_incidents(rt.store, "t1")] == [1]
    watch("t1", False)
    watch("t1", False)
    deliver_outbox(rt)
    assert alert_titles(slack) == [
        "Alert: The rate limiter runs on its local fallback",
        "Resolved: The rate limiter runs on its local fallback",
    ]
    watch("t1", True)  # a change of state is written at once
    assert [i["subjectId"] for i in open_incidents(rt.store, "t1")] == [LIMITER_SUBJECT]


@pytest.mark.skipif(not RedisServer.available(), reason="needs the redis-server binary")
def test_a_sync_while_redis_is_down_runs_on_the_fallback_and_alerts_its_tenant(
    tmp_path: Path, crm: SandboxAccount, slack: RecordingServer
) -> None:
    with RedisServer() as server:
        rt = embedded_runtime(tmp_path, {"crm": crm}, redis_url=server.url)
        try:
            add_destination(rt, "t1", kind="slack", name="ops", url=f"{slack.url}/hook")
            connect_sandbox(rt, "crm", crm)
            server.kill()
            run_scheduler(rt)
            drain_queues(rt)
            assert len(rt.store.query(Entity.container, partition_key="t1")) == 12
            assert rt.limiter.degraded
            deliver_outbox(rt)
        finally:
            rt.close()
    assert alert_titles(slack) == ["Alert: The rate limiter runs on its local fallback"]


def test_a_conflict_waiting_past_the_tenants_limit_alerts_and_resolves(
    rt: Runtime, slack: RecordingServer
) -> None:
    seed_conflict(rt)
    now = utcnow()
    assert alert_waiting_decisions(rt.store, now=now + timedelta(hours=23)) == 0  # default: 24 h
    assert alert_waiting_decisions(rt.store, now=now + timedelta(hours=25)) == 1
    assert alert_waiting_decisions(rt.store, now=now + timedelta(hours=26)) == 1  # still
    set_preferences(rt.store, "t1", NotificationPreferences(decision_wait_minutes=None))
    assert alert_waiting_decisions(rt.store, now=now + timedelta(hours=27)) == 0
    deliver_outbox(rt, now=now + timedelta(hours=27))
    assert alert_titles(slack) == [
        "Alert: A conflict or duplicate has waited too long for a decision",
        "Resolved: A conflict or duplicate has waited too long for a decision",
    ]
    assert "*waiting*: `1`" in alert_bodies(slack)[0]["blocks"][1]["text"]["text"]


def test_a_tenant_that_asks_for_it_hears_of_a_waiting_duplicate_within_its_minutes(
    rt: Runtime, slack: RecordingServer
) -> None:
    seed_duplicate(rt)
    set_preferences(rt.store, "t1", NotificationPreferences(decision_wait_minutes=30))
    now = utcnow()
    assert alert_waiting_decisions(rt.store, now=now + timedelta(minutes=20)) == 0
    assert alert_waiting_decisions(rt.store, now=now + timedelta(minutes=31)) == 1
    [incident] = open_incidents(rt.store, "t1")
    assert (incident["kind"], incident["subjectId"]) == (
        AlertKind.DECISION_WAITING.value,
        "duplicates",
    )


def _webhooks(outcome: str) -> int:
    return sum(
        p.value
        for p in telemetry.points("lockstep.webhooks")
        if dict(p.attributes) == {"outcome": outcome}
    )


def test_reconciliation_crossing_its_threshold_alerts_through_the_registration_events(
    rt: Runtime, slack: RecordingServer
) -> None:
    """The registrations the app builds (pipelines/registrations.py) turn the
    `missed_webhooks` event of reconciliation into the `webhooks_missed` alert."""
    registrations = webhook_registrations(rt)
    registration, _ = registrations.register("t1", "gh", "github")
    registrations.record_missed(registration, 2, threshold=5)
    deliver_outbox(rt)
    assert alert_titles(slack) == []
    registrations.record_missed(registrations.get("t1", registration.id), 3, threshold=5)
    deliver_outbox(rt)
    assert ["Reconciliation found missed webhooks" in t for t in alert_titles(slack)] == [True]
    assert registration.id in slack.received[0].body.decode()
