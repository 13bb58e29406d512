"""The whole flow through the functions, on Azurite + the Cosmos emulator + Redis.

SyncScheduler fires -> sync-inbound -> InboundWorker -> entities in Cosmos -> sync-outbound
-> OutboundWorker -> records in the target sandbox, with the test host reading the real
registrations and host.json and feeding the real Azurite queues.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from azure.storage.queue import QueueClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sandbox_server import SandboxAccount, SandboxRecord, SandboxServer
from integration_core.clock import to_iso, utcnow
from integration_core.models import Entity, Link, MessageKind, SyncMessage, SyncResult, SyncTask
from integration_core.pipelines.dead_letters import DEAD_LETTERS
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import WebhookRegistration, WebhookRegistrations
from tests.conftest import unique_name
from tests.harness.function_host import FunctionHost
from tests.harness.sandbox import GRACE
from tests.harness.webhooks import github_delivery, standard_webhooks_delivery

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
WORKERS = ("InboundWorker", "OutboundWorker")


def _entities(rt: Runtime) -> list[dict[str, Any]]:
    return rt.store.query(Entity.container, partition_key="t1")


def _make_due(rt: Runtime) -> None:
    for task_id in ("crm-contact", "mkt-contact"):
        document = rt.store.get(SyncTask.container, "t1", task_id)
        document["nextDueAt"] = to_iso(utcnow())
        rt.store.upsert(SyncTask.container, document)


def _queued(client: QueueClient) -> list[SyncMessage]:
    return [
        SyncMessage.from_json(base64.b64decode(m.content))
        for m in client.peek_messages(max_messages=32)
    ]


def test_scheduler_to_target_system_and_again_without_duplicates(
    host: FunctionHost, rt: Runtime, systems: dict[str, tuple[SandboxAccount, SandboxServer]]
) -> None:
    crm, mkt = systems["crm"][0], systems["mkt"][0]
    host.fire_timer("SyncScheduler")
    queued = _queued(host.queue_client("InboundWorker"))
    assert sorted(m.payload["task_id"] for m in queued) == ["crm-contact", "mkt-contact"]

    host.drain(WORKERS)
    assert len(_entities(rt)) == 15
    assert len(rt.store.query(Link.container, partition_key="t1")) == 30
    assert sorted(r.properties["email"] for r in mkt.records("contacts")) == sorted(
        r.properties["email"] for r in crm.records("contacts")
    )

    versions = {r.id: r.version for a in (crm, mkt) for r in a.records("contacts")}
    for _ in range(2):
        _make_due(rt)
        host.fire_timer("SyncScheduler")
        host.drain(WORKERS)
    assert len(_entities(rt)) == 15
    assert len(mkt.records("contacts")) == 15
    assert {r.id: r.version for a in (crm, mkt) for r in a.records("contacts")} == versions


def test_the_same_scheduled_message_delivered_twice_is_applied_once(
    host: FunctionHost, rt: Runtime, systems: dict[str, tuple[SandboxAccount, SandboxServer]]
) -> None:
    host.fire_timer("SyncScheduler")
    inbound = host.queue_client("InboundWorker")
    for message in inbound.peek_messages(max_messages=32):
        inbound.send_message(message.content)  # the same message id, delivered again
    host.drain(WORKERS)
    assert len(_entities(rt)) == 15
    assert len(systems["mkt"][0].records("contacts")) == 15


def test_a_failing_message_lands_in_the_poison_queue_with_nothing_half_written(
    host: FunctionHost, rt: Runtime, systems: dict[str, tuple[SandboxAccount, SandboxServer]]
) -> None:
    crm, mkt = systems["crm"][0], systems["mkt"][0]
    crm.inject_fault(500, count=1000)
    mkt.inject_fault(500, count=1000)
    host.fire_timer("SyncScheduler")
    poisoned = 0
    for _ in range(host.max_dequeue_count + 1):
        poisoned += host.run_queue_once("InboundWorker").poisoned
    assert poisoned == 2
    assert len(_queued(host.poison_client("InboundWorker"))) == 2
    assert _entities(rt) == []
    assert rt.store.get(SyncTask.container, "t1", "crm-contact")["cursor"] is None
    assert _queued(host.queue_client("OutboundWorker")) == []
    assert mkt.records("contacts") == []


def test_health_reports_every_backend(host: FunctionHost, rt: Runtime) -> None:
    response = host.http("GET", "/api/health")
    body = json.loads(response.get_body())
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"store", "queue", "secrets", "redis", "rate_limiter"}
    assert all(check["ok"] for check in body["checks"].values())


def test_webhook_for_an_unknown_registration_is_refused_and_enqueues_nothing(
    host: FunctionHost, rt: Runtime
) -> None:
    response = host.http("POST", "/api/webhooks/nope", body=b"{}")
    assert response.status_code == 404
    assert _queued(host.queue_client("InboundWorker")) == []


def test_a_webhook_flood_is_answered_429_with_retry_after(host: FunctionHost, rt: Runtime) -> None:
    registration = unique_name("flood")
    allowed = rt.settings.webhook_requests_per_minute
    statuses = [
        host.http("POST", f"/api/webhooks/{registration}", body=b"{}").status_code
        for _ in range(allowed + 3)
    ]
    assert statuses[:allowed] == [404] * allowed
    assert statuses[allowed:] == [429] * 3
    last = host.http("POST", f"/api/webhooks/{registration}", body=b"{}")
    assert int(last.headers["Retry-After"]) >= 1
    assert _queued(host.queue_client("InboundWorker")) == []


def _webhook_registration(rt: Runtime, provider: str = "github") -> tuple[str, str]:
    registration, secret = WebhookRegistrations(rt.store, rt.credentials).register(
        "t1", "crm", provider
    )
    assert secret is not None
    return registration.id, secret


def test_a_signed_webhook_is_enqueued_once_and_a_forged_one_is_401(
    host: FunctionHost, rt: Runtime
) -> None:
    registration_id, secret = _webhook_registration(rt)
    headers, body = github_delivery(secret, delivery="e2e-1")
    path = f"/api/webhooks/{registration_id}"
    assert host.http("POST", path, body=body, headers=headers).status_code == 202
    assert host.http("POST", path, body=body, headers=headers).status_code == 200
    forged_headers, forged = github_delivery("not-the-secret", delivery="e2e-2")
    assert host.http("POST", path, body=forged, headers=forged_headers).status_code == 401
    [message] = _queued(host.queue_client("InboundWorker"))
    assert message.kind is MessageKind.WEBHOOK
    assert base64.b64decode(message.payload["body"]) == body
    host.drain(("InboundWorker",))  # a GitHub body is no sandbox event: dead-lettered once
    assert _queued(host.poison_client("InboundWorker")) == []
    [dead] = rt.store.query(DEAD_LETTERS, partition_key="t1")
    assert "sandbox webhook: the body has no 'events' list" in dead["reason"]


def test_a_signed_sandbox_webhook_carries_an_edit_to_the_other_system_without_a_pull(
    host: FunctionHost, rt: Runtime, systems: dict[str, tuple[SandboxAccount, SandboxServer]]
) -> None:
    crm, mkt = systems["crm"][0], systems["mkt"][0]
    _round(host, rt)
    record = crm.records("contacts")[0]
    crm.update("contacts", record.id, {"jobtitle": "Chief Webhook Officer"})
    registration_id, secret = _webhook_registration(rt, "standard_webhooks")
    event = crm.webhook_event("contacts", record.id)
    headers, body = standard_webhooks_delivery(secret, json.dumps({"events": [event]}).encode())
    response = host.http("POST", f"/api/webhooks/{registration_id}", body=body, headers=headers)
    assert response.status_code == 202
    [message] = _queued(host.queue_client("InboundWorker"))  # the delivery, no pull message
    host.drain(WORKERS)
    assert _queued(host.poison_client("InboundWorker")) == []
    result = rt.store.get(SyncResult.container, "t1", message.message_id)
    assert (result["recordsRead"], result["updated"], result["errors"]) == (1, 1, [])
    assert _title(systems, record.properties["email"]) == ("Chief Webhook Officer",) * 2
    assert len(mkt.records("contacts")) == 15


def test_a_large_webhook_body_goes_to_blob_storage_and_the_message_carries_its_name(
    host: FunctionHost, rt: Runtime
) -> None:
    registration_id, secret = _webhook_registration(rt)
    headers, body = github_delivery(secret, {"text": "z" * 100_000})
    response = host.http("POST", f"/api/webhooks/{registration_id}", body=body, headers=headers)
    assert response.status_code == 202
    [message] = _queued(host.queue_client("InboundWorker"))
    assert message.payload["body"] is None
    assert type(rt.bodies).__name__ == "BlobBodyStore"
    assert rt.bodies.get(message.payload["body_ref"]) == body


def test_a_queue_outage_answers_503_and_the_providers_retry_is_enqueued(
    host: FunctionHost, rt: Runtime
) -> None:
    from azure.storage.queue import QueueServiceClient

    from integration_core.messaging.storage_queue import StorageQueueMessageQueue

    registration_id, secret = _webhook_registration(rt)
    headers, body = github_delivery(secret, delivery="e2e-outage")
    path = f"/api/webhooks/{registration_id}"
    connection = host.settings["AzureWebJobsStorage"]
    # Nothing listens on port 9: the queue service is unreachable, as in an outage.
    dead = re.sub(
        r"QueueEndpoint=[^;]+", "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1", connection
    )
    working = rt.queue
    rt.queue = StorageQueueMessageQueue(
        QueueServiceClient.from_connection_string(dead, retry_total=0, connection_timeout=1)
    )
    try:
        response = host.http("POST", path, body=body, headers=headers)
    finally:
        rt.queue = working
    assert response.status_code == 503
    assert _queued(host.queue_client("InboundWorker")) == []
    assert host.http("POST", path, body=body, headers=headers).status_code == 202
    assert len(_queued(host.queue_client("InboundWorker"))) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    headers=st.dictionaries(
        st.sampled_from(["X-Hub-Signature-256", "X-GitHub-Delivery", "Content-Type", "X-Other"]),
        st.text(max_size=60),
        max_size=4,
    ),
    body=st.binary(max_size=200),
)
def test_fuzzed_webhooks_through_the_function_never_get_a_5xx(
    host: FunctionHost, rt: Runtime, headers: dict[str, str], body: bytes
) -> None:
    found = rt.store.query(WebhookRegistration.container, partition_key="t1", limit=1)
    registration_id = found[0]["id"] if found else _webhook_registration(rt)[0]
    response = host.http("POST", f"/api/webhooks/{registration_id}", body=body, headers=headers)
    assert response.status_code < 500


def _policy(rt: Runtime, strategy: str) -> None:
    for task_id in ("crm-contact", "mkt-contact"):
        document = rt.store.get(SyncTask.container, "t1", task_id)
        document["policy"] = {"strategy": strategy}
        rt.store.upsert(SyncTask.container, document)


def _round(host: FunctionHost, rt: Runtime) -> None:
    _make_due(rt)
    host.fire_timer("SyncScheduler")
    host.drain(WORKERS)


def _record(
    systems: dict[str, tuple[SandboxAccount, SandboxServer]], name: str, email: str
) -> SandboxRecord:
    return next(r for r in systems[name][0].records("contacts") if r.properties["email"] == email)


def _twins(systems: dict[str, tuple[SandboxAccount, SandboxServer]], email: str) -> tuple[str, str]:
    return _record(systems, "crm", email).id, _record(systems, "mkt", email).id


def _title(systems: dict[str, tuple[SandboxAccount, SandboxServer]], email: str) -> tuple[str, str]:
    return (
        _record(systems, "crm", email).properties["jobtitle"],
        _record(systems, "mkt", email).properties["jobtitle"],
    )


def test_conflicting_edits_follow_the_task_policy(
    host: FunctionHost, rt: Runtime, systems: dict[str, tuple[SandboxAccount, SandboxServer]]
) -> None:
    _policy(rt, "last_write_wins")
    _round(host, rt)
    email = systems["crm"][0].records("contacts")[0].properties["email"]
    crm_id, mkt_id = _twins(systems, email)
    systems["crm"][0].update("contacts", crm_id, {"jobtitle": "earlier"})
    systems["mkt"][0].update("contacts", mkt_id, {"jobtitle": "later"})
    _round(host, rt)
    _round(host, rt)
    assert _title(systems, email) == ("later", "later")
    # Nothing waits; the policy's decision is on record, with the rule that made it.
    assert json.loads(host.http("GET", "/api/admin/conflicts").get_body())["items"] == []
    listed = host.http("GET", "/api/admin/conflicts?status=resolved")
    (resolved,) = json.loads(listed.get_body())["items"]
    assert (resolved["field"], resolved["policy"], resolved["rule"], resolved["winner"]) == (
        "title",
        "last_write_wins",
        "later modification",
        "incoming",
    )


def test_a_manual_conflict_waits_is_decided_over_http_and_propagates(
    host: FunctionHost, rt: Runtime, systems: dict[str, tuple[SandboxAccount, SandboxServer]]
) -> None:
    _policy(rt, "manual")
    _round(host, rt)
    email = systems["crm"][0].records("contacts")[0].properties["email"]
    crm_id, mkt_id = _twins(systems, email)
    systems["crm"][0].update("contacts", crm_id, {"jobtitle": "from crm"})
    systems["mkt"][0].update("contacts", mkt_id, {"jobtitle": "from mkt"})
    _round(host, rt)
    _round(host, rt)
    assert _title(systems, email) == ("from crm", "from mkt")  # each keeps its own: waiting

    listed = host.http("GET", "/api/admin/conflicts")
    (conflict,) = json.loads(listed.get_body())["items"]
    assert conflict["field"] == "title"
    path = f"/api/admin/conflicts/{conflict['id']}/decision"
    bad = host.http("POST", path, body=b'{"winner": "nobody", "decided_by": "me"}')
    assert bad.status_code == 400
    decided = host.http("POST", path, body=b'{"winner": "incoming", "decided_by": "me"}')
    assert decided.status_code == 200
    again = host.http("POST", path, body=b'{"winner": "hub", "decided_by": "me"}')
    assert again.status_code == 409

    host.drain(WORKERS)
    _round(host, rt)
    assert _title(systems, email) == ("from mkt", "from mkt")
    assert json.loads(host.http("GET", "/api/admin/conflicts").get_body())["items"] == []


def _graces(account: SandboxAccount) -> list[SandboxRecord]:
    return [
        r for r in account.records("contacts") if r.properties["lastname"] in ("Hopper", "Hoper")
    ]


def test_the_same_person_in_two_systems_ends_as_one_entity_with_two_links(
    host: FunctionHost, rt: Runtime, systems: dict[str, tuple[SandboxAccount, SandboxServer]]
) -> None:
    crm, mkt = systems["crm"][0], systems["mkt"][0]
    mkt.create("contacts", GRACE | {"lastname": "Hoper", "email": GRACE["email"].upper()})
    crm.create("contacts", GRACE)
    _round(host, rt)
    _round(host, rt)
    graces = [
        e
        for e in _entities(rt)
        if e["values"].get("last_name") in ("Hopper", "Hoper") and not e["deleted"]
    ]
    assert len(graces) == 1
    links = rt.store.query(Link.container, partition_key="t1")
    assert {d["connectionId"] for d in links if d["entityId"] == graces[0]["id"]} == {"crm", "mkt"}
    assert (len(_graces(crm)), len(_graces(mkt))) == (1, 1)
    assert len(_entities(rt)) == 16


def test_a_probable_duplicate_waits_and_is_decided_over_http(
    host: FunctionHost, rt: Runtime, systems: dict[str, tuple[SandboxAccount, SandboxServer]]
) -> None:
    crm, mkt = systems["crm"][0], systems["mkt"][0]
    mkt.create("contacts", GRACE | {"email": "g.hopper@navy.example.org"})
    crm.create("contacts", GRACE)
    _round(host, rt)
    (candidate,) = json.loads(host.http("GET", "/api/admin/duplicates").get_body())["items"]
    assert 0.5 <= candidate["score"] < 0.95
    assert (len(_graces(crm)), len(_graces(mkt))) == (1, 1)
    path = f"/api/admin/duplicates/{candidate['id']}/decision"
    assert host.http("POST", path, body=b'{"same": "yes", "decided_by": "me"}').status_code == 400
    decided = host.http("POST", path, body=b'{"same": true, "decided_by": "me"}')
    assert decided.status_code == 200
    assert host.http("POST", path, body=b'{"same": false, "decided_by": "me"}').status_code == 409
    host.drain(WORKERS)
    _round(host, rt)
    assert (len(_graces(crm)), len(_graces(mkt))) == (1, 1)
    assert json.loads(host.http("GET", "/api/admin/duplicates").get_body())["items"] == []
