"""Missed-webhook detection: a pull that finds a change no delivery announced counts it on
the registration and the sync result, and a day's count past the threshold emits an event.

Real pipelines on the embedded stack: a sandbox CRM synced to a second one, a Standard
Webhooks registration for the CRM, deliveries signed and received like any other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.clock import utcnow
from integration_core.models import SyncResult
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import (
    MISSED_WINDOW,
    RegistrationEvent,
    RegistrationStatus,
    WebhookRegistration,
    WebhookRegistrations,
)
from tests.harness.embedded import connect_sandbox, embedded_runtime, sync_round
from tests.harness.sandbox import SteppingClock, seeded_account
from tests.harness.webhooks import standard_webhooks_delivery

pytestmark = pytest.mark.unit

TENANT = "t1"


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.crm: SandboxAccount = seeded_account("crm", contacts=3)
        self.mkt: SandboxAccount = seeded_account("mkt")
        self.rt: Runtime = embedded_runtime(tmp_path, {"crm": self.crm, "mkt": self.mkt})
        self.grace(0)
        connect_sandbox(self.rt, "crm", self.crm, targets=("mkt",))
        connect_sandbox(self.rt, "mkt", self.mkt, targets=("crm",))
        sync_round(self.rt)
        self.registrations = WebhookRegistrations(self.rt.store, self.rt.credentials)

    def grace(self, seconds: float) -> None:
        self.rt.settings = self.rt.settings.model_copy(
            update={"webhook_missed_grace_seconds": seconds}
        )

    def register(self, **options: object) -> tuple[WebhookRegistration, str]:
        registration, secret = self.registrations.register(
            TENANT,
            "crm",
            "standard_webhooks",
            **options,  # type: ignore[arg-type]
        )
        assert secret is not None
        # The sandbox's own clock runs from when it was seeded: its edits from now on.
        assert isinstance(self.crm.clock, SteppingClock)
        self.crm.clock.now = utcnow()
        return registration, secret

    def edit(self, index: int, city: str) -> str:
        record = self.crm.records("contacts")[index]
        self.crm.update("contacts", record.id, {"city": city})
        return record.id

    def deliver(self, registration: WebhookRegistration, secret: str, record_id: str) -> None:
        event = self.crm.webhook_event("contacts", record_id)
        headers, body = standard_webhooks_delivery(secret, json.dumps({"events": [event]}).encode())
        reply = receive_webhook(self.rt, registration.id, headers=headers, body=body)
        assert reply.status == 202, reply.body
        assert drain_queues(self.rt).poisoned == []

    def pull(self, minutes: int) -> SyncResult:
        """A scheduler round; the CRM pull's result."""
        results = sync_round(self.rt, minutes=minutes)
        [pulled] = [r for r in results if isinstance(r, SyncResult) and r.task_id == "crm-contact"]
        return pulled

    def stored(self, registration: WebhookRegistration) -> WebhookRegistration:
        return self.registrations.get(TENANT, registration.id)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path)
    yield built
    built.rt.close()


def test_a_change_no_webhook_announced_is_counted_and_an_announced_one_is_not(
    world: World,
) -> None:
    registration, secret = world.register()
    announced = world.edit(0, "Lyon")
    world.deliver(registration, secret, announced)
    world.edit(1, "Oslo")  # its delivery never comes
    pulled = world.pull(minutes=10)
    assert pulled.updated == 1  # the pull applied the missed change
    assert pulled.missed_webhooks == 1
    stored = world.stored(registration)
    assert (stored.missed_webhooks, stored.missed_in_window) == (1, 1)
    assert stored.last_missed_at is not None
    # The next pull finds nothing new: nothing more is counted.
    assert world.pull(minutes=20).missed_webhooks == 0
    assert world.stored(registration).missed_webhooks == 1


def test_changes_from_before_the_registration_are_not_missed(world: World) -> None:
    world.edit(0, "Lyon")
    registration, _ = world.register()
    pulled = world.pull(minutes=10)
    assert pulled.updated == 1
    assert pulled.missed_webhooks == 0
    assert world.stored(registration).missed_webhooks == 0


def test_a_change_younger_than_the_grace_is_not_judged(world: World) -> None:
    world.grace(3600)
    registration, _ = world.register()
    world.edit(0, "Lyon")
    assert world.pull(minutes=10).missed_webhooks == 0
    assert world.stored(registration).missed_webhooks == 0


def test_without_a_registration_a_pull_counts_nothing(world: World) -> None:
    world.edit(0, "Lyon")
    assert world.pull(minutes=10).missed_webhooks == 0


def test_only_registrations_that_announce_the_type_and_are_watched_count(world: World) -> None:
    companies, _ = world.register(registration_id="companies", entity_types=["company"])
    contacts, _ = world.register(registration_id="contacts", entity_types=["contact"])
    disabled, _ = world.register(registration_id="disabled")
    for _ in range(50):
        world.registrations.record_failure(disabled, "bad_signature")
    assert world.stored(disabled).status is RegistrationStatus.DISABLED
    world.edit(0, "Lyon")
    world.edit(1, "Oslo")
    assert world.pull(minutes=10).missed_webhooks == 2
    assert world.stored(contacts).missed_webhooks == 2
    assert world.stored(companies).missed_webhooks == 0
    assert world.stored(disabled).missed_webhooks == 0


def test_the_threshold_emits_missed_webhooks_through_the_pull(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.rt.settings = world.rt.settings.model_copy(update={"webhook_missed_threshold": 2})
    registration, _ = world.register()
    world.edit(0, "Lyon")
    with caplog.at_level(logging.WARNING, logger="integration_core"):
        world.pull(minutes=10)
    assert not [r for r in caplog.records if getattr(r, "event_kind", "") == "missed_webhooks"]
    world.edit(1, "Oslo")
    with caplog.at_level(logging.WARNING, logger="integration_core"):
        world.pull(minutes=20)
    [event] = [r for r in caplog.records if getattr(r, "event_kind", "") == "missed_webhooks"]
    assert event.registration_id == registration.id  # type: ignore[attr-defined]
    assert event.detail_missed == "2"  # type: ignore[attr-defined]


def test_the_event_fires_once_per_window_and_a_new_window_counts_afresh(world: World) -> None:
    events: list[RegistrationEvent] = []
    registrations = WebhookRegistrations(
        world.rt.store, world.rt.credentials, on_event=events.append
    )
    registration, _ = world.register()
    start = utcnow()
    registrations.record_missed(registration, 2, threshold=3, now=start)
    assert events == []
    registrations.record_missed(registration, 2, threshold=3, now=start + timedelta(hours=1))
    registrations.record_missed(registration, 5, threshold=3, now=start + timedelta(hours=2))
    assert [(e.kind, e.detail["missed"]) for e in events] == [("missed_webhooks", "4")]
    later = start + MISSED_WINDOW + timedelta(minutes=1)
    stored = registrations.record_missed(registration, 1, threshold=3, now=later)
    assert (stored.missed_webhooks, stored.missed_in_window) == (10, 1)
    registrations.record_missed(registration, 2, threshold=3, now=later + timedelta(hours=1))
    assert [e.detail["missed"] for e in events] == ["4", "3"]
