"""What the admin page's webhook inbox and runs views read from the admin API, through the
function host on the embedded stack: no answer holds a webhook's secret or a delivery's
body or signature; replays refuse what they cannot do (an unknown or another tenant's
registration or delivery is 404, a bad range 400, too wide a one 422, never a 5xx); and a
result says what started its run, as the OpenAPI document says it may.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.admin import webhooks as hooks
from integration_core.models import Trigger
from integration_core.pipelines.drain import drain_queues
from tests.harness.admin_api import call, connect, ok, problem
from tests.harness.decisions import TENANT
from tests.harness.function_host import FunctionHost, embedded_app_settings
from tests.harness.sandbox import seeded_account
from tests.harness.webhooks import standard_webhooks_delivery

pytestmark = pytest.mark.unit

OTHER_TENANT = "t-other"
SPAN = {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}


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


def _register(host: FunctionHost, registration_id: str) -> str:
    body = {"id": registration_id, "connectionId": "crm", "provider": "standard_webhooks"}
    secret: str = ok(call(host, "POST", "webhooks", body), 201)["secret"]
    return secret


def _deliver(host: FunctionHost, crm: SandboxServer, secret: str, registration: str) -> Any:
    record = crm.account.records("contacts")[0]
    body = json.dumps({"events": [crm.account.webhook_event("contacts", record.id)]}).encode()
    headers, body = standard_webhooks_delivery(secret, body)
    response = host.http("POST", f"/api/webhooks/{registration}", body=body, headers=headers)
    assert response.status_code == 202
    return headers, body


def _inbox_id(host: FunctionHost, registration: str, **kw: Any) -> str:
    [delivery] = ok(call(host, "GET", f"webhooks/{registration}/deliveries", **kw))["items"]
    inbox_id: str = delivery["inboxId"]
    return inbox_id


def test_no_answer_the_inbox_view_reads_holds_a_secret_a_body_or_a_signature(
    host: FunctionHost, crm: SandboxServer
) -> None:
    secret = _register(host, "hook1")
    headers, body = _deliver(host, crm, secret, "hook1")
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
    _deliver(host, crm, _register(host, "hook1"), "hook1")
    _register(host, "hook2")
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
    _deliver(host, crm, _register(host, "hook1"), "hook1")
    drain_queues(host.runtime())
    response = host.http("POST", "/api/admin/webhooks/hook1/replay", body=body, tenant=TENANT)
    problem(response, 400)
    assert drain_queues(host.runtime()).results == []


def test_a_range_wider_than_a_replay_may_take_is_422(
    host: FunctionHost, crm: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = _register(host, "hook1")
    _deliver(host, crm, secret, "hook1")
    _deliver(host, crm, secret, "hook1")
    monkeypatch.setattr(hooks, "MAX_REPLAYS", 1)
    assert "narrower" in problem(call(host, "POST", "webhooks/hook1/replay", SPAN), 422)["detail"]
    drain_queues(host.runtime())
    replays = ok(call(host, "POST", "webhooks/hook1/replay", {
        "since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}), 202)  # fmt: skip
    assert replays["messageIds"] == []  # nothing in that range


@pytest.mark.parametrize("bad", ["a#b", "..", "x" * 300, "a b"])
def test_a_hostile_id_in_a_replay_route_is_400(host: FunctionHost, bad: str) -> None:
    _register(host, "hook1")
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
