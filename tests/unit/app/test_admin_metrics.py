"""The admin API's figures and notification settings through the function host: what a
sync did, per hour and per stage, read back by any instance; destinations whose URLs are
write-only; preferences; open incidents; tenant isolation; bad input as problem details.
"""

from __future__ import annotations

import json

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.clock import utcnow
from integration_core.notify import Alert, AlertKind, raise_alert
from tests.harness.admin_api import call, delivered_three_ways, ok, problem, synced
from tests.harness.decisions import TENANT
from tests.harness.function_host import FunctionHost

pytestmark = pytest.mark.unit

OTHER = "t2"


def test_the_figures_of_a_sync_per_connection_hour_and_stage(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    synced(host, served)
    delivered_three_ways(host, TENANT, "crm")

    figures = ok(call(host, "GET", "metrics?hours=3"))
    assert figures["records"]["read"] == 3
    assert figures["records"]["created"] == 6  # three in the hub, three in mkt
    assert figures["records"]["pushed"] == 3
    assert len(figures["recordsPerHour"]) == 3
    assert figures["recordsPerHour"][-1]["read"] == 3  # this hour's
    assert sum(h["read"] for h in figures["recordsPerHour"]) == 3
    by = {(c["connectionId"], c["direction"]): c for c in figures["connections"]}
    assert by[("crm", "inbound")]["records"]["read"] == 3
    assert by[("mkt", "outbound")]["messages"] == 3
    assert by[("mkt", "outbound")]["latencyMs"]["count"] == 3
    assert {"fetch", "match", "store", "push", "inbound", "outbound"} <= set(figures["latencyMs"])
    p95 = figures["latencyPerHour"][-1]["p95Ms"]
    assert p95["fetch"] > 0
    assert figures["dedup"] == {"linked": 0, "review": 0, "new": 3, "matchRate": 0.0}
    assert figures["webhooks"]["outcomes"] == {"accepted": 1, "duplicate": 1, "refused": 1}
    assert figures["webhooks"]["perHour"][-1]["outcomes"]["accepted"] == 1
    assert figures["limiter"]["allowed"] >= 4  # a page read and three pushes
    assert figures["limiter"]["fallback"] == 0
    queues = {q["queue"]: q for q in figures["queues"]}
    assert queues["sync-outbound"] == {
        "queue": "sync-outbound",
        "depth": 0,
        "oldestAgeSeconds": None,
    }
    assert queues["sync-inbound"]["depth"] == 1  # the accepted delivery, not yet worked
    assert queues["sync-inbound"]["oldestAgeSeconds"] >= 0
    # Another tenant's key sees none of it.
    theirs = ok(call(host, "GET", "metrics", tenant=OTHER))
    assert theirs["records"]["read"] == 0
    assert theirs["connections"] == []
    assert theirs["webhooks"]["outcomes"] == {}


@pytest.mark.parametrize("query", ["hours=0", "hours=169", "hours=x"])
def test_a_window_out_of_range_is_a_400(host: FunctionHost, query: str) -> None:
    problem(call(host, "GET", f"metrics?{query}"), 400)


def test_destinations_keep_their_url_write_only_and_are_removed(host: FunctionHost) -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
    added = ok(
        call(
            host, "POST", "notifications/destinations", {"kind": "slack", "name": "ops", "url": url}
        ),
        201,
    )
    assert added == {"id": added["id"], "kind": "slack", "name": "ops", "host": "hooks.slack.com"}
    listed = call(host, "GET", "notifications/destinations")
    assert ok(listed) == [added]
    assert b"XXXXsecretXXXX" not in listed.get_body()
    assert ok(call(host, "GET", "notifications/destinations", tenant=OTHER)) == []
    problem(call(host, "DELETE", f"notifications/destinations/{added['id']}", tenant=OTHER), 404)
    ok(call(host, "DELETE", f"notifications/destinations/{added['id']}"), 204)
    problem(call(host, "DELETE", f"notifications/destinations/{added['id']}"), 404)
    assert ok(call(host, "GET", "notifications/destinations")) == []
    audit = ok(call(host, "GET", "audit"))
    assert "XXXXsecretXXXX" not in json.dumps(audit)
    writes = [(e["action"], e["resource"]) for e in audit["items"]]
    assert [w for w in writes if w[1] != "api-key"] == [  # the host's own key is audited too
        ("add", "notification-destination"),
        ("remove", "notification-destination"),
    ]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"kind": "email", "name": "x", "url": "https://example.com/hook"}, 400),
        ({"kind": "slack", "name": "", "url": "https://example.com/hook"}, 400),
        ({"kind": "slack", "name": "x", "url": "https://example.com/hook", "more": 1}, 400),
        ({"kind": "teams", "name": "x", "url": "ftp://example.com/hook"}, 422),
        ({"kind": "teams", "name": "x", "url": "not a url at all"}, 422),
    ],
)
def test_a_destination_that_cannot_be_used_is_refused_without_echoing_its_url(
    host: FunctionHost, body: dict[str, str], status: int
) -> None:
    found = problem(call(host, "POST", "notifications/destinations", body), status)
    assert body["url"] not in json.dumps(found)
    assert ok(call(host, "GET", "notifications/destinations")) == []


def test_preferences_are_read_set_and_validated(host: FunctionHost) -> None:
    assert ok(call(host, "GET", "notifications/preferences")) == {"decisionWaitMinutes": 1440}
    assert ok(call(host, "PUT", "notifications/preferences", {"decisionWaitMinutes": 30})) == {
        "decisionWaitMinutes": 30
    }
    assert ok(call(host, "GET", "notifications/preferences")) == {"decisionWaitMinutes": 30}
    assert ok(call(host, "GET", "notifications/preferences", tenant=OTHER)) == {
        "decisionWaitMinutes": 1440
    }
    off = ok(call(host, "PUT", "notifications/preferences", {"decisionWaitMinutes": None}))
    assert off == {"decisionWaitMinutes": None}
    for bad in ({"decisionWaitMinutes": 1}, {"decisionWaitMinutes": "soon"}, {"other": 5}):
        problem(call(host, "PUT", "notifications/preferences", bad), 400)


def test_open_incidents_are_listed_for_their_tenant_only(host: FunctionHost) -> None:
    store = host.runtime().store
    raise_alert(store, Alert(tenant_id=TENANT, kind=AlertKind.CIRCUIT_OPEN, subject_id="crm"))
    raise_alert(store, Alert(tenant_id=TENANT, kind=AlertKind.CIRCUIT_OPEN, subject_id="crm"))
    raise_alert(store, Alert(tenant_id=OTHER, kind=AlertKind.NEEDS_REAUTH, subject_id="x"))
    [incident] = ok(call(host, "GET", "notifications/incidents"))
    assert (incident["kind"], incident["subjectId"], incident["occurrences"]) == (
        "circuit_open",
        "crm",
        2,
    )
    assert incident["openedAt"] <= utcnow().isoformat().replace("+00:00", "Z")


def test_the_new_routes_are_in_the_openapi_document(host: FunctionHost) -> None:
    paths = ok(call(host, "GET", "openapi.json"))["paths"]
    assert set(paths["/api/admin/metrics"]) == {"get"}
    assert set(paths["/api/admin/notifications/destinations"]) == {"get", "post"}
    assert set(paths["/api/admin/notifications/destinations/{destination_id}"]) == {"delete"}
    assert set(paths["/api/admin/notifications/preferences"]) == {"get", "put"}
    assert set(paths["/api/admin/notifications/incidents"]) == {"get"}
    body = paths["/api/admin/notifications/destinations"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["properties"]["url"]["writeOnly"] is True


def test_each_connection_reports_its_health_to_its_own_tenant(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    synced(host, served)
    rt = host.runtime()
    for _ in range(rt.breaker.config.failures):
        rt.breaker.record_status(TENANT, "mkt", 503)
    health = {c["id"]: c for c in ok(call(host, "GET", "health/connections"))}
    assert health["crm"]["status"] == "active"
    assert health["crm"]["lastSuccessAt"] is not None
    # The embedded stack has no Redis: each instance keeps its own breaker (shared: false).
    assert health["crm"]["breaker"] == {"state": "closed", "failures": 0, "shared": False}
    assert health["mkt"]["breaker"]["state"] == "open"
    assert ok(call(host, "GET", "health/connections", tenant=OTHER)) == []


def _stored_result(result_id: str, **fields: object) -> dict[str, object]:
    now = utcnow().isoformat().replace("+00:00", "Z")
    return {
        "id": result_id,
        "tenantId": TENANT,
        "connectionId": "crm",
        "direction": "inbound",
        "correlationId": result_id,
        "startedAt": now,
        "finishedAt": now,
        "durationMs": 1.0,
        "recordsRead": 2,
    } | fields


def test_conflicts_are_counted_from_results_of_either_stored_shape(host: FunctionHost) -> None:
    store = host.runtime().store
    # Results stored before `conflictsPending` carried the pending count in `conflictCounts`.
    old = {"conflictCounts": {"detected": 3, "resolved": 1, "pending": 2}}
    store.upsert(
        "sync-results", _stored_result("old", conflictsDetected=3, conflictsResolved=1, **old)
    )
    store.upsert(
        "sync-results",
        _stored_result("new", conflictsDetected=2, conflictsResolved=1, conflictsPending=1),
    )
    conflicts = ok(call(host, "GET", "metrics"))["conflicts"]
    assert (conflicts["detected"], conflicts["resolved"], conflicts["pending"]) == (5, 2, 3)
    old_view = ok(call(host, "GET", "results/old"))
    assert (old_view["conflictsPending"], "conflictCounts" in old_view) == (2, False)
