"""The admin API's webhook routes through the function host, on the embedded stack: register
(a secret answered once), deliveries with outcome and reason, health, rotation with its
overlap, replays that apply once more, enable, unregister, and refusals of bad input.
Deliveries go through the real WebhookReceiver route, signed like the provider signs.

What the admin page's inbox reads holds no secret, body or signature; replays refuse an
unknown or another tenant's registration or delivery (404), a bad range (400) and too wide
a one (422), never with a 5xx; and a result says what started its run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.admin import AuditEntry
from integration_core.admin import webhooks as hooks
from integration_core.credentials.records import CredentialRecord
from integration_core.models import SyncResult, Trigger
from integration_core.pipelines.drain import drain_queues
from tests.harness.decisions import TENANT
from tests.harness.function_host import FunctionHost, embedded_app_settings
from tests.harness.sandbox import seeded_account
from tests.harness.webhooks import standard_webhooks_delivery
from tests.unit.app.test_admin_resources import call, connect, ok, problem

pytestmark = pytest.mark.unit


@pytest.fixture
def crm() -> Iterator[SandboxServer]:
    with SandboxServer(seeded_account("crm", contacts=2)) as server:
        yield server


@pytest.fixture
def host(tmp_path: Path, crm: SandboxServer) -> Iterator[FunctionHost]:
    host = FunctionHost(embedded_app_settings(tmp_path), inline_queue=True, tenant=TENANT)
    connect(host, crm, "crm")
    task = {"id": "crm-contacts", "connectionId": "crm", "entityType": "contact"}
    ok(call(host, "POST", "tasks", task), 201)
    yield host
    host.runtime().close()


def register(host: FunctionHost, **fields: Any) -> dict[str, Any]:
    body = {"id": "hook1", "connectionId": "crm", "provider": "standard_webhooks"} | fields
    return ok(call(host, "POST", "webhooks", body), 201)  # type: ignore[no-any-return]


def deliver(
    host: FunctionHost, crm: SandboxServer, secret: str, *, registration: str = "hook1"
) -> Any:
    record = crm.account.records("contacts")[0]
    body = json.dumps({"events": [crm.account.webhook_event("contacts", record.id)]}).encode()
    headers, body = standard_webhooks_delivery(secret, body)
    return host.http("POST", f"/api/webhooks/{registration}", body=body, headers=headers)


def test_register_answers_the_secret_once_and_deliveries_list_outcome_and_reason(
    host: FunctionHost, crm: SandboxServer
) -> None:
    registered = register(host, entityTypes=["contact"])
    secret = registered["secret"]
    assert secret.startswith("whsec_")
    assert registered["path"] == "/api/webhooks/hook1"
    assert registered["entityTypes"] == ["contact"]
    rt = host.runtime()
    assert secret not in json.dumps(rt.store.query("webhooks", partition_key=TENANT))
    shown = ok(call(host, "GET", "webhooks/hook1"))
    assert "secret" not in shown
    assert [w["id"] for w in ok(call(host, "GET", "webhooks"))["items"]] == ["hook1"]

    assert deliver(host, crm, secret).status_code == 202
    assert deliver(host, crm, "whsec_" + "A" * 44).status_code == 401
    deliveries = ok(call(host, "GET", "webhooks/hook1/deliveries"))["items"]
    assert [(d["outcome"], d["reason"], d["status"]) for d in deliveries] == [
        ("accepted", None, 202),
        ("refused", "bad_signature", 401),
    ]
    assert deliveries[0]["inboxId"]
    assert deliveries[1]["inboxId"] is None
    refused = ok(call(host, "GET", "webhooks/hook1/deliveries?outcome=refused"))["items"]
    assert [d["reason"] for d in refused] == ["bad_signature"]
    health = ok(call(host, "GET", "webhooks/hook1/health"))
    assert health["status"] == "active"
    assert health["consecutiveFailures"] == 1
    assert health["lastFailureReason"] == "bad_signature"
    assert health["missedWebhooks"] == 0
    assert health["lastDelivery"]["outcome"] == "refused"
    audit = json.dumps(rt.store.query(AuditEntry.container))
    assert secret not in audit


def test_a_given_secret_is_not_answered_and_verifies(
    host: FunctionHost, crm: SandboxServer
) -> None:
    mine = "whsec_" + "B" * 44
    assert register(host, secret=mine)["secret"] is None
    assert deliver(host, crm, mine).status_code == 202


def test_rotation_keeps_the_old_secret_for_the_overlap_only(
    host: FunctionHost, crm: SandboxServer
) -> None:
    old = register(host)["secret"]
    rotated = ok(call(host, "POST", "webhooks/hook1/rotate", {"overlapSeconds": 3600}))
    assert rotated["overlapSeconds"] == 3600
    assert rotated["secret"] != old
    assert deliver(host, crm, old).status_code == 202
    assert deliver(host, crm, rotated["secret"]).status_code == 202
    again = ok(call(host, "POST", "webhooks/hook1/rotate", {"overlapSeconds": 0}))
    assert deliver(host, crm, rotated["secret"]).status_code == 401
    assert deliver(host, crm, again["secret"]).status_code == 202
    actions = [e["action"] for e in ok(call(host, "GET", "audit"))["items"]]
    assert actions[-3:] == ["register", "rotate", "rotate"]


def test_a_delivery_and_a_range_replay_each_apply_once_more(
    host: FunctionHost, crm: SandboxServer
) -> None:
    secret = register(host)["secret"]
    assert deliver(host, crm, secret).status_code == 202
    rt = host.runtime()
    drain_queues(rt)
    [delivery] = ok(call(host, "GET", "webhooks/hook1/deliveries"))["items"]
    one = ok(call(host, "POST", f"webhooks/hook1/deliveries/{delivery['inboxId']}/replay"), 202)
    span = {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    many = ok(call(host, "POST", "webhooks/hook1/replay", span), 202)
    replays = one["messageIds"] + many["messageIds"]
    assert len(set(replays)) == 2
    drain_queues(rt)
    done = {r["id"] for r in rt.store.query(SyncResult.container, partition_key=TENANT)}
    assert set(replays) <= done
    problem(call(host, "POST", "webhooks/hook1/deliveries/nosuch/replay"), 404)


def test_enable_and_unregister(host: FunctionHost, crm: SandboxServer) -> None:
    secret = register(host)["secret"]
    rt = host.runtime()
    from integration_core.webhooks.registrations import WebhookRegistrations

    registrations = WebhookRegistrations(rt.store, rt.credentials)
    for _ in range(50):
        registrations.record_failure(registrations.get(TENANT, "hook1"), "bad_signature")
    assert deliver(host, crm, secret).status_code == 410
    assert ok(call(host, "POST", "webhooks/hook1/enable"))["status"] == "active"
    assert deliver(host, crm, secret).status_code == 202
    ok(call(host, "DELETE", "webhooks/hook1"), 204)
    problem(call(host, "GET", "webhooks/hook1"), 404)
    assert deliver(host, crm, secret).status_code == 404
    names = [r["name"] for r in rt.store.query(CredentialRecord.container, partition_key=TENANT)]
    assert "webhook:hook1" not in names


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"connectionId": "crm", "provider": "nosuch"}, 422),
        ({"connectionId": "nosuch", "provider": "github"}, 422),
        ({"connectionId": "crm", "provider": "github", "surprise": 1}, 400),
        ({"connectionId": "crm", "provider": "github", "publicUrl": "http://x"}, 400),
        ({"connectionId": "crm", "provider": "github", "entityTypes": ["deal"]}, 400),
        ({"connectionId": "crm", "provider": "github", "secret": ""}, 400),
        ({"provider": "github"}, 400),
    ],
)
def test_a_registration_that_cannot_be_made_is_refused(
    host: FunctionHost, body: dict[str, Any], status: int
) -> None:
    problem(call(host, "POST", "webhooks", body), status)
    assert host.runtime().store.query("webhooks", partition_key=TENANT) == []


def test_a_registration_id_in_use_is_409_and_a_backwards_range_400(host: FunctionHost) -> None:
    register(host, provider="github")
    problem(
        call(
            host, "POST", "webhooks", {"id": "hook1", "connectionId": "crm", "provider": "github"}
        ),
        409,
    )
    span = {"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"}
    problem(call(host, "POST", "webhooks/hook1/replay", span), 400)
    problem(call(host, "POST", "webhooks/hook1/rotate", {"overlapSeconds": -1}), 400)


def sandbox_delivery(crm: SandboxServer, record_id: str) -> tuple[str, dict[str, str], bytes]:
    """The delivery the sandbox sends its one subscriber: signed with the secret it holds."""
    [subscription] = crm.account.subscriptions.values()
    event = crm.account.webhook_event("contacts", record_id)
    headers, body = standard_webhooks_delivery(
        subscription.secret, json.dumps({"events": [event]}).encode()
    )
    return subscription.url, headers, body


def test_subscribe_at_registers_the_endpoint_at_the_provider_which_then_gets_in(
    host: FunctionHost, crm: SandboxServer
) -> None:
    registered = register(host, subscribeAt="https://lockstep.example/", entityTypes=["contact"])
    assert registered["secret"] is None  # the provider got it; nobody else needs it
    [subscription] = crm.account.subscriptions.values()
    assert registered["subscriptionId"] == subscription.id
    assert subscription.url == "https://lockstep.example/api/webhooks/hook1"
    assert registered["publicUrl"] == subscription.url
    assert subscription.objects == ["contacts"]
    record = crm.account.records("contacts")[0]
    crm.account.update("contacts", record.id, {"city": "Lyon"})
    url, headers, body = sandbox_delivery(crm, record.id)
    assert url.endswith("/api/webhooks/hook1")
    answered = host.http("POST", "/api/webhooks/hook1", body=body, headers=headers)
    assert answered.status_code == 202, answered.get_body()
    report = drain_queues(host.runtime())
    assert [r.created for r in report.results if isinstance(r, SyncResult)] == [1]

    before = subscription.secret
    rotated = ok(call(host, "POST", "webhooks/hook1/rotate", {"overlapSeconds": 60}))
    assert rotated["secret"] is None
    assert subscription.secret != before
    _, headers, body = sandbox_delivery(crm, record.id)
    fresh = host.http("POST", "/api/webhooks/hook1", body=body, headers=headers)
    assert fresh.status_code in (200, 202), fresh.get_body()

    ok(call(host, "DELETE", "webhooks/hook1"), 204)
    assert crm.account.subscriptions == {}


def test_a_subscription_the_provider_refuses_leaves_nothing_registered(
    host: FunctionHost, crm: SandboxServer
) -> None:
    refused = call(
        host,
        "POST",
        "webhooks",
        {
            "id": "hook1",
            "connectionId": "crm",
            "provider": "standard_webhooks",
            "secret": "not-a-whsec-key",
            "subscribeAt": "https://lockstep.example",
        },
    )
    problem(refused, 422)
    assert crm.account.subscriptions == {}
    assert host.runtime().store.query("webhooks", partition_key=TENANT) == []
    problem(call(host, "GET", "webhooks/hook1"), 404)


def test_subscribing_needs_a_provider_api_and_its_verifier(
    host: FunctionHost, crm: SandboxServer
) -> None:
    wrong = {"connectionId": "crm", "provider": "github", "subscribeAt": "https://x.example"}
    assert "standard_webhooks" in problem(call(host, "POST", "webhooks", wrong), 422)["detail"]
    hubspot = {
        "id": "hs",
        "system": "hubspot",
        "config": {"base_url": "https://api.hubapi.com"},
        "credential": {"type": "bearer_token", "token": "pat-x"},
    }
    ok(call(host, "POST", "connections", hubspot), 201)
    none = {"connectionId": "hs", "provider": "hubspot", "subscribeAt": "https://x.example"}
    assert "by hand" in problem(call(host, "POST", "webhooks", none), 422)["detail"]
    both = wrong | {"provider": "standard_webhooks", "publicUrl": "https://x.example/h"}
    problem(call(host, "POST", "webhooks", both), 400)
    assert crm.account.subscriptions == {}
    assert host.runtime().store.query("webhooks", partition_key=TENANT) == []


OTHER_TENANT = "t-other"
SPAN = {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}


def _inbox_id(host: FunctionHost, registration: str) -> str:
    [delivery] = ok(call(host, "GET", f"webhooks/{registration}/deliveries"))["items"]
    inbox_id: str = delivery["inboxId"]
    return inbox_id


def test_no_answer_the_inbox_view_reads_holds_a_secret_a_body_or_a_signature(
    host: FunctionHost, crm: SandboxServer
) -> None:
    secret = register(host)["secret"]
    record = crm.account.records("contacts")[0]
    event = crm.account.webhook_event("contacts", record.id)
    headers, body = standard_webhooks_delivery(secret, json.dumps({"events": [event]}).encode())
    assert host.http("POST", "/api/webhooks/hook1", body=body, headers=headers).status_code == 202
    drain_queues(host.runtime())
    inbox_id = _inbox_id(host, "hook1")
    answers = [
        call(host, "GET", "webhooks"),
        call(host, "GET", "webhooks/hook1"),
        call(host, "GET", "webhooks/hook1/health"),
        call(host, "GET", "webhooks/hook1/deliveries"),
        call(host, "POST", f"webhooks/hook1/deliveries/{inbox_id}/replay"),
        call(host, "POST", "webhooks/hook1/replay", SPAN),
        call(host, "GET", "tasks/crm-contacts/results"),
    ]
    secret_key = secret.removeprefix("whsec_")
    for answer in answers:
        assert answer.status_code in (200, 202), answer.get_body()
        text = answer.get_body().decode()
        for withheld in (secret_key, headers["webhook-signature"], body.decode()):
            assert withheld not in text
        assert '"secret"' not in text
        assert '"body"' not in text
        assert '"headers"' not in text


def test_replays_of_unknown_or_another_tenants_deliveries_are_404(
    host: FunctionHost, crm: SandboxServer
) -> None:
    assert deliver(host, crm, register(host)["secret"]).status_code == 202
    register(host, id="hook2")
    inbox_id = _inbox_id(host, "hook1")
    for path, body in [
        ("webhooks/nosuch/deliveries", None),
        (f"webhooks/nosuch/deliveries/{inbox_id}/replay", None),
        ("webhooks/nosuch/replay", SPAN),
        ("webhooks/hook1/deliveries/nosuch/replay", None),
        (f"webhooks/hook2/deliveries/{inbox_id}/replay", None),  # hook1's, not hook2's
    ]:
        method = "GET" if body is None and path.endswith("deliveries") else "POST"
        problem(call(host, method, path, body), 404)
    # Another tenant knows neither the registration nor its delivery.
    assert ok(call(host, "GET", "webhooks", tenant=OTHER_TENANT))["items"] == []
    for method, path, body in [
        ("GET", "webhooks/hook1", None),
        ("GET", "webhooks/hook1/deliveries", None),
        ("GET", "webhooks/hook1/health", None),
        ("POST", f"webhooks/hook1/deliveries/{inbox_id}/replay", None),
        ("POST", "webhooks/hook1/replay", SPAN),
    ]:
        problem(call(host, method, path, body, tenant=OTHER_TENANT), 404)
    assert ok(call(host, "GET", "audit"))["items"][-1]["action"] == "register"  # no replay


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        json.dumps({"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"}).encode(),
        json.dumps({"since": "2030-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}).encode(),
        json.dumps({"since": "2020-01-01T00:00:00", "until": "2030-01-01T00:00:00"}).encode(),
        json.dumps({"since": "yesterday", "until": "2030-01-01T00:00:00Z"}).encode(),
        json.dumps({"until": "2030-01-01T00:00:00Z"}).encode(),
        json.dumps(SPAN | {"limit": 5}).encode(),
    ],
    ids=["empty", "not-json", "array", "backwards", "empty-range", "naive", "words", "no-since",
         "extra"],
)  # fmt: skip
def test_a_bad_range_is_400_and_replays_nothing(
    host: FunctionHost, crm: SandboxServer, body: bytes
) -> None:
    assert deliver(host, crm, register(host)["secret"]).status_code == 202
    drain_queues(host.runtime())
    response = host.http("POST", "/api/admin/webhooks/hook1/replay", body=body, tenant=TENANT)
    problem(response, 400)
    assert drain_queues(host.runtime()).results == []


def test_a_range_wider_than_a_replay_may_take_is_422(
    host: FunctionHost, crm: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = register(host)["secret"]
    assert deliver(host, crm, secret).status_code == 202
    assert deliver(host, crm, secret).status_code == 202
    monkeypatch.setattr(hooks, "MAX_REPLAYS", 1)
    assert "narrower" in problem(call(host, "POST", "webhooks/hook1/replay", SPAN), 422)["detail"]
    drain_queues(host.runtime())
    replays = ok(call(host, "POST", "webhooks/hook1/replay", {
        "since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}), 202)  # fmt: skip
    assert replays["messageIds"] == []  # nothing in that range


@pytest.mark.parametrize("bad", ["a#b", "..", "x" * 300, "a b"])
def test_a_hostile_id_in_a_replay_route_is_400(host: FunctionHost, bad: str) -> None:
    register(host)
    for path in (f"webhooks/{bad}/replay", f"webhooks/hook1/deliveries/{bad}/replay"):
        response = call(host, "POST", path, SPAN)
        assert response.status_code in (400, 404), (path, response.get_body())


def test_results_say_what_started_the_run_and_the_openapi_document_says_so(
    host: FunctionHost,
) -> None:
    result_id = ok(call(host, "POST", "tasks/crm-contacts/run"), 202)["resultId"]
    assert ok(call(host, "GET", f"results/{result_id}"))["trigger"] == "manual"  # running
    drain_queues(host.runtime())
    assert ok(call(host, "GET", f"results/{result_id}"))["trigger"] == "manual"
    [listed] = ok(call(host, "GET", "tasks/crm-contacts/results"))["items"]
    assert (listed["id"], listed["trigger"]) == (result_id, "manual")
    document = json.loads(host.http("GET", "/api/admin/openapi.json").get_body())
    schemas = document["components"]["schemas"]
    view = next(s for name, s in schemas.items() if name.startswith("ResultView"))
    trigger = view["properties"]["trigger"]
    [choices] = [
        schemas[ref["$ref"].rsplit("/", 1)[1]] for ref in trigger["anyOf"] if "$ref" in ref
    ]
    assert set(choices["enum"]) == {t.value for t in Trigger}
