"""Webhooks administered through the functions, on Azurite + the Cosmos emulator + Redis.

A registration made over the admin API subscribes at the sandbox; the sandbox's signed
delivery becomes a change in both systems; a replay from the inbox is applied exactly once
(its message delivered twice is done once); an older event is dropped unread; and a pull
that finds a change no delivery announced counts a missed webhook.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.clock import from_iso, to_iso, utcnow
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import SyncMessage, SyncResult, SyncTask
from integration_core.runtime import Runtime
from tests.harness.function_host import FunctionHost
from tests.harness.sandbox import SteppingClock
from tests.harness.webhooks import standard_webhooks_delivery

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
WORKERS = ("InboundWorker", "OutboundWorker")
Systems = dict[str, tuple[SandboxAccount, SandboxServer]]


def _admin(host: FunctionHost, method: str, path: str, body: Any = None) -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    response = host.http(method, f"/api/admin/{path}", body=raw)
    assert response.status_code < 300, response.get_body()
    return json.loads(response.get_body()) if response.get_body() else None


def _round(host: FunctionHost, rt: Runtime) -> None:
    for task_id in ("crm-contact", "mkt-contact"):
        document = rt.store.get(SyncTask.container, "t1", task_id)
        document["nextDueAt"] = to_iso(utcnow())
        rt.store.upsert(SyncTask.container, document)
    host.fire_timer("SyncScheduler")
    host.drain(WORKERS)


def _peeked(host: FunctionHost) -> list[SyncMessage]:
    client = host.queue_client("InboundWorker")
    return [
        SyncMessage.from_json(base64.b64decode(m.content))
        for m in client.peek_messages(max_messages=32)
    ]


def _send(host: FunctionHost, crm: SandboxAccount, event: dict[str, Any]) -> int:
    """What the sandbox sends its subscriber: signed with the secret it was given."""
    [subscription] = crm.subscriptions.values()
    headers, body = standard_webhooks_delivery(
        subscription.secret, json.dumps({"events": [event]}).encode()
    )
    path = subscription.url.removeprefix("https://lockstep.example")
    return host.http("POST", path, body=body, headers=headers).status_code


def test_a_subscribed_webhook_applies_replays_once_and_drops_an_older_event(
    host: FunctionHost, rt: Runtime, systems: Systems
) -> None:
    crm, mkt = systems["crm"][0], systems["mkt"][0]
    _round(host, rt)
    registered = _admin(
        host,
        "POST",
        "webhooks",
        {
            "id": "crm-hook",
            "connectionId": "crm",
            "provider": "standard_webhooks",
            "subscribeAt": "https://lockstep.example",
        },
    )
    assert registered["subscriptionId"] in crm.subscriptions
    record = crm.records("contacts")[0]
    crm.update("contacts", record.id, {"jobtitle": "Replayed"})
    assert _send(host, crm, crm.webhook_event("contacts", record.id)) == 202
    host.drain(WORKERS)
    email = record.properties["email"]
    [twin] = [r for r in mkt.records("contacts") if r.properties["email"] == email]
    assert twin.properties["jobtitle"] == "Replayed"

    [delivery] = _admin(host, "GET", "webhooks/crm-hook/deliveries?outcome=accepted")["items"]
    replay = _admin(host, "POST", f"webhooks/crm-hook/deliveries/{delivery['inboxId']}/replay")
    [message] = _peeked(host)
    assert [message.message_id] == replay["messageIds"]
    rt.queue.send(INBOUND_QUEUE, message)  # the replay's message delivered twice
    before = crm.requests
    host.drain(WORKERS)
    assert crm.requests - before == 1  # one read by id: the copy was done once already
    result = rt.store.get(SyncResult.container, "t1", message.message_id)
    assert (result["recordsRead"], result["unchanged"], result["errors"]) == (1, 1, [])

    older = crm.webhook_event("contacts", record.id)
    older["occurredAt"] = to_iso(from_iso(older["occurredAt"]) - timedelta(hours=1))
    assert _send(host, crm, older) == 202
    [dropped] = _peeked(host)
    before = crm.requests
    host.drain(WORKERS)
    assert crm.requests == before  # dropped unread
    result = rt.store.get(SyncResult.container, "t1", dropped.message_id)
    assert (result["recordsRead"], result["unchanged"]) == (0, 1)

    _admin(host, "DELETE", "webhooks/crm-hook")
    assert crm.subscriptions == {}


def test_a_pull_counts_the_change_no_webhook_announced(
    host: FunctionHost, rt: Runtime, systems: Systems
) -> None:
    crm = systems["crm"][0]
    rt.settings = rt.settings.model_copy(update={"webhook_missed_grace_seconds": 0})
    _round(host, rt)
    _admin(
        host,
        "POST",
        "webhooks",
        {"id": "crm-hook", "connectionId": "crm", "provider": "standard_webhooks"},
    )
    assert isinstance(crm.clock, SteppingClock)
    crm.clock.now = utcnow()  # the sandbox's edits from now on, after the registration
    record = crm.records("contacts")[1]
    crm.update("contacts", record.id, {"jobtitle": "Unannounced"})
    _round(host, rt)
    pulls = [
        r
        for r in rt.store.query(SyncResult.container, partition_key="t1")
        if r.get("taskId") == "crm-contact" and r["missedWebhooks"]
    ]
    assert [p["missedWebhooks"] for p in pulls] == [1]
    health = _admin(host, "GET", "webhooks/crm-hook/health")
    assert (health["missedWebhooks"], health["missedInWindow"]) == (1, 1)
