"""Signed webhooks fold changes into the hub without a pull, on the embedded stack.

The receiver verifies and enqueues a delivery; InboundWorker parses it with the connection's
adapter, reads each record it names by id and applies it through the sync task, and the
other system hears of it through the outbound pipeline — no scheduler round in between.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.clock import from_iso, to_iso
from integration_core.connectors import Connectors
from integration_core.models import Connection, SyncResult, SyncTask
from integration_core.pipelines.dead_letters import DEAD_LETTERS
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.ports import validate_connection
from integration_core.runtime import Runtime
from integration_core.webhooks.inbox import INBOX
from integration_core.webhooks.registrations import WebhookRegistrations
from tests.harness.embedded import connect_sandbox, embedded_runtime, sync_round
from tests.harness.fakes.hubspot import HubSpotFake
from tests.harness.sandbox import seeded_account
from tests.harness.webhooks import hubspot_v3_delivery, standard_webhooks_delivery

pytestmark = pytest.mark.unit

TENANT = "t1"
URL = "https://lockstep.example/api/webhooks/hook"
HUBSPOT_HOST = "portal.hubspot.invalid"
Signer = Callable[[str], tuple[dict[str, str], bytes]]


class World:
    """A sandbox CRM, a sandbox marketing system and a HubSpot portal, in lockstep."""

    def __init__(self, tmp_path: Path) -> None:
        self.crm: SandboxAccount = seeded_account("crm", contacts=3)
        self.mkt: SandboxAccount = seeded_account("mkt")
        self.hubspot = HubSpotFake(token="pat-portal")
        self.rt: Runtime = embedded_runtime(tmp_path, {"crm": self.crm, "mkt": self.mkt})
        self.rt.connectors = Connectors(
            self.rt.credentials,
            transports={
                self.crm.in_process_host: httpx.WSGITransport(app=self.crm),
                self.mkt.in_process_host: httpx.WSGITransport(app=self.mkt),
                HUBSPOT_HOST: httpx.WSGITransport(app=self.hubspot),
            },
        )
        connect_sandbox(self.rt, "crm", self.crm, targets=("mkt", "hubspot"))
        connect_sandbox(self.rt, "mkt", self.mkt, targets=("crm",))
        hubspot = Connection(
            id="hubspot",
            tenant_id=TENANT,
            system="hubspot",
            config={"base_url": f"http://{HUBSPOT_HOST}", "id_property": "lockstep_id"},
        )
        validate_connection(hubspot)
        self.rt.store.upsert(Connection.container, hubspot.to_document())
        self.rt.credentials.store_credential(
            TENANT, "hubspot", {"type": "bearer_token", "token": self.hubspot.token}
        )
        task = SyncTask(
            id="hubspot-contact",
            tenant_id=TENANT,
            connection_id="hubspot",
            entity_type="contact",
            target_connection_ids=["crm"],
        )
        self.rt.store.upsert(SyncTask.container, task.to_document())
        sync_round(self.rt)
        sync_round(self.rt, minutes=10)

    def deliver(self, connection_id: str, provider: str, sign: Signer) -> list[SyncResult]:
        """Register a webhook for the connection, post the signed delivery, drain."""
        registration, secret = WebhookRegistrations(self.rt.store, self.rt.credentials).register(
            TENANT, connection_id, provider
        )
        assert secret is not None
        headers, body = sign(secret)
        reply = receive_webhook(self.rt, registration.id, headers=headers, body=body, url=URL)
        assert reply.status == 202, reply.body
        report = drain_queues(self.rt)
        assert report.poisoned == []
        return [r for r in report.results if isinstance(r, SyncResult)]

    def sandbox_events(self, *events: dict[str, Any]) -> Signer:
        body = json.dumps({"events": list(events)}).encode()
        return lambda secret: standard_webhooks_delivery(secret, body)

    def mkt_twin(self, email: str) -> Any:
        return next(
            r
            for r in self.mkt.records("contacts", include_archived=True)
            if r.properties.get("email") == email
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path)
    yield built
    built.rt.close()


def test_a_sandbox_edit_reaches_the_other_systems_through_its_webhook_alone(world: World) -> None:
    record = world.crm.records("contacts")[0]
    world.crm.update("contacts", record.id, {"city": "Lyon"})
    event = world.crm.webhook_event("contacts", record.id)
    before = world.crm.requests
    # One event per changed property, as providers send: the record is read once.
    world.deliver("crm", "standard_webhooks", world.sandbox_events(event, event))
    assert world.crm.requests - before == 1
    assert world.mkt_twin(record.properties["email"]).properties["city"] == "Lyon"
    hub = [o for o in world.hubspot._objects["contacts"].values() if o.archived_at is None]
    assert [
        o.properties["city"] for o in hub if o.properties["email"] == record.properties["email"]
    ] == ["Lyon"]


def test_a_notice_older_than_what_was_applied_is_dropped_unread(world: World) -> None:
    record = world.crm.records("contacts")[0]
    world.crm.update("contacts", record.id, {"city": "Oslo"})
    sync_round(world.rt, minutes=20)  # the pull applied the edit
    stale = {**world.crm.webhook_event("contacts", record.id)}
    stale["occurredAt"] = to_iso(from_iso(stale["occurredAt"]) - timedelta(hours=1))
    before = world.crm.requests
    [result] = world.deliver("crm", "standard_webhooks", world.sandbox_events(stale))
    assert world.crm.requests == before
    assert result.unchanged == 1
    assert result.records_read == 0


def test_an_archive_notice_archives_the_twin(world: World) -> None:
    record = world.crm.records("contacts")[1]
    world.crm.archive("contacts", record.id)
    event = world.crm.webhook_event("contacts", record.id)
    assert event["action"] == "archived"
    world.deliver("crm", "standard_webhooks", world.sandbox_events(event))
    assert world.mkt_twin(record.properties["email"]).archived


def test_hubspot_property_changes_are_read_once_and_reach_the_sandbox(world: World) -> None:
    object_id = sorted(world.hubspot.live_ids("contacts"))[0]
    world.hubspot.update("contacts", object_id, {"city": "Porto", "jobtitle": "CTO"})
    occurred = int(world.hubspot._objects["contacts"][int(object_id)].updated_at.timestamp() * 1000)
    events = [
        {
            "eventId": n,
            "subscriptionId": 7,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": occurred,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": int(object_id),
            "propertyName": name,
            "propertyValue": value,
            "changeSource": "CRM_UI",
        }
        for n, (name, value) in enumerate((("city", "Porto"), ("jobtitle", "CTO")))
    ] + [{"subscriptionType": "deal.creation", "objectId": 5, "occurredAt": occurred}]
    reads_before = len(world.hubspot.requests)
    world.deliver("hubspot", "hubspot", lambda secret: hubspot_v3_delivery(secret, URL, events))
    reads = world.hubspot.requests[reads_before:]
    assert reads.count(("GET", f"/crm/v3/objects/contacts/{object_id}")) == 1
    email = world.hubspot._objects["contacts"][int(object_id)].properties["email"]
    [twin] = [r for r in world.crm.records("contacts") if r.properties["email"] == email]
    assert (twin.properties["city"], twin.properties["jobtitle"]) == ("Porto", "CTO")


def test_a_hubspot_deletion_archives_the_sandbox_record(world: World) -> None:
    object_id = sorted(world.hubspot.live_ids("contacts"))[-1]
    email = world.hubspot._objects["contacts"][int(object_id)].properties["email"]
    world.hubspot.archive("contacts", object_id)
    occurred = int(world.hubspot._objects["contacts"][int(object_id)].updated_at.timestamp() * 1000)
    events = [
        {"subscriptionType": "contact.deletion", "objectId": int(object_id), "occurredAt": occurred}
    ]
    world.deliver("hubspot", "hubspot", lambda secret: hubspot_v3_delivery(secret, URL, events))
    assert [r for r in world.crm.records("contacts") if r.properties["email"] == email] == []


def test_a_body_the_parser_cannot_read_is_dead_lettered_and_stays_in_the_inbox(
    world: World,
) -> None:
    results = world.deliver(
        "crm",
        "standard_webhooks",
        lambda secret: standard_webhooks_delivery(secret, b'{"items": []}'),
    )
    assert results == []
    [dead] = world.rt.store.query(DEAD_LETTERS, partition_key=TENANT)
    assert "sandbox webhook: the body has no 'events' list" in dead["reason"]
    assert len(world.rt.store.query(INBOX, partition_key=TENANT)) == 1
