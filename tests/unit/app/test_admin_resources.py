"""The admin API's resources through the function host, on the embedded stack with a
sandbox system served over loopback HTTP: success, validation, not found, and tenant
isolation (a key of another tenant gets 404 for every id of this one, and changes nothing).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.admin import ApiKey, AuditEntry
from integration_core.credentials.records import CredentialRecord
from integration_core.models import (
    Conflict,
    Connection,
    DuplicateCandidate,
    Entity,
    SyncResult,
    SyncTask,
)
from integration_core.notify import add_destination
from integration_core.notify.destinations import DESTINATIONS
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.mass_delete import HELD_DELETES
from integration_core.webhooks.registrations import WebhookRegistration, WebhookRegistrations
from tests.harness.admin_api import call, connect, ok, problem, synced
from tests.harness.decisions import TENANT, seed_conflict, seed_duplicate
from tests.harness.function_host import FunctionHost

pytestmark = pytest.mark.unit

OTHER = "t2"
CONTAINERS = [
    Connection.container,
    SyncTask.container,
    SyncResult.container,
    Entity.container,
    Conflict.container,
    DuplicateCandidate.container,
    ApiKey.container,
    CredentialRecord.container,
    DESTINATIONS,
    WebhookRegistration.container,
    HELD_DELETES,
]


def test_connections_are_created_with_a_credential_tested_updated_disabled_and_deleted(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    crm, _ = served
    created = connect(host, crm, "crm")
    assert created["credentialId"]
    rt = host.runtime()
    written = json.dumps([rt.store.query(c, partition_key=TENANT) for c in CONTAINERS])
    assert crm.account.api_key not in json.dumps(created)
    assert crm.account.api_key not in written
    assert ok(call(host, "POST", "connections/crm/test")) == {"ok": True}
    assert [c["id"] for c in ok(call(host, "GET", "connections"))["items"]] == ["crm"]

    wrong = {"credential": {"type": "bearer_token", "token": "not-the-key"}}
    ok(call(host, "PATCH", "connections/crm", wrong))
    failed = ok(call(host, "POST", "connections/crm/test"))
    assert failed["ok"] is False
    assert "not-the-key" not in json.dumps(failed)
    assert ok(call(host, "POST", "connections/crm/disable"))["status"] == "disabled"

    ok(call(host, "DELETE", "connections/crm"), 204)
    problem(call(host, "GET", "connections/crm"), 404)
    assert rt.store.query(CredentialRecord.container, partition_key=TENANT) == []
    actions = [
        (e["action"], e["resourceId"])
        for e in ok(call(host, "GET", "audit"))["items"]
        if e["resource"] == "connection"
    ]
    assert actions == [("create", "crm"), ("update", "crm"), ("disable", "crm"), ("delete", "crm")]
    assert "not-the-key" not in json.dumps(rt.store.query(AuditEntry.container))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"id": "x", "system": "sandbox", "surprise": 1}, 400),
        ({"id": "../x", "system": "sandbox"}, 400),
        ({"id": "x"}, 400),
        ({"id": "x", "system": "nosuch"}, 422),
        ({"id": "x", "system": "sandbox", "credential": {"type": "bearer_token"}}, 422),
        # A token answer's API host that the outbound policy refuses (the metadata service).
        (
            {
                "id": "x",
                "system": "salesforce",
                "config": {"instance_url": "https://acme.my.salesforce.com"},
                "credential": {
                    "type": "oauth2_authorization_code",
                    "token_url": "https://login.salesforce.com/services/oauth2/token",
                    "client_id": "client",
                    "refresh_token": "refresh",
                    "access_token": "access",
                    "extras": {"instance_url": "http://169.254.169.254"},
                },
            },
            422,
        ),
    ],
)
def test_a_connection_that_cannot_be_made_is_refused_and_nothing_is_written(
    host: FunctionHost, body: dict[str, Any], status: int
) -> None:
    problem(call(host, "POST", "connections", body), status)
    rt = host.runtime()
    assert rt.store.query(Connection.container, partition_key=TENANT) == []
    assert rt.store.query(CredentialRecord.container, partition_key=TENANT) == []


def test_a_task_runs_now_and_its_result_says_what_it_did(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    crm, mkt = served
    connect(host, crm, "crm")
    connect(host, mkt, "mkt")
    task = {
        "id": "crm-contacts",
        "connectionId": "crm",
        "entityType": "contact",
        "targetConnectionIds": ["mkt"],
        "policy": {"strategy": "source_wins"},
    }
    ok(call(host, "POST", "tasks", task), 201)
    problem(call(host, "POST", "tasks", task), 409)
    problem(call(host, "DELETE", "connections/crm"), 409)  # a task still uses it

    result_id = ok(call(host, "POST", "tasks/crm-contacts/run"), 202)["resultId"]
    drain_queues(host.runtime())
    result = ok(call(host, "GET", f"results/{result_id}"))
    assert (result["status"], result["recordsRead"], result["created"]) == ("success", 3, 3)
    listed = ok(call(host, "GET", "tasks/crm-contacts/results"))["items"]
    assert result_id in [r["id"] for r in listed]
    problem(call(host, "GET", "tasks/crm-contacts/results?after=not-a-token"), 400)
    assert len(mkt.account.records("contacts")) == 3

    assert ok(call(host, "POST", "tasks/crm-contacts/pause"))["enabled"] is False
    assert ok(call(host, "POST", "tasks/crm-contacts/resume"))["enabled"] is True
    updated = ok(call(host, "PATCH", "tasks/crm-contacts", {"intervalSeconds": 60}))
    assert updated["intervalSeconds"] == 60
    problem(call(host, "PATCH", "tasks/crm-contacts", {"intervalSeconds": 0}), 400)
    problem(call(host, "PATCH", "tasks/crm-contacts", {"policy": {"strategy": "nah"}}), 422)
    problem(call(host, "PATCH", "tasks/crm-contacts", {"targetConnectionIds": ["gone"]}), 422)
    assert ok(call(host, "GET", "tasks/crm-contacts"))["policy"] == {"strategy": "source_wins"}
    ok(call(host, "DELETE", "tasks/crm-contacts"), 204)
    problem(call(host, "GET", "tasks/crm-contacts"), 404)


def test_an_admin_edit_is_sourced_admin_and_reaches_every_linked_system(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    synced(host, served)
    entity_id = host.runtime().store.query(Entity.container, partition_key=TENANT)[0]["id"]

    before = ok(call(host, "GET", f"entities/{entity_id}"))
    assert {p["source"] for p in before["provenance"].values()} == {"crm"}
    edited = ok(call(host, "PATCH", f"entities/{entity_id}", {"values": {"city": "Oslo"}}))
    assert edited["provenance"]["city"]["source"] == "admin"
    assert edited["provenance"]["email"]["source"] == "crm"
    drain_queues(host.runtime())
    for server in served:
        assert "Oslo" in [r.properties.get("city") for r in server.account.records("contacts")]
    problem(call(host, "PATCH", f"entities/{entity_id}", {"values": {}}), 400)


def test_rate_limits_are_shown_configured_and_reset(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    connect(host, served[0], "crm")
    budgets = {"rateLimits": [{"bucket": "api", "maxRequests": 0, "windowSeconds": 1}]}
    problem(call(host, "PUT", "connections/crm/limits", budgets), 400)
    budgets = {"rateLimits": [{"bucket": "api", "maxRequests": 5, "windowSeconds": 1}]}
    status = ok(call(host, "PUT", "connections/crm/limits", budgets))
    assert [(s["key"], s["max_requests"]) for s in status] == [(f"conn:{TENANT}/crm:api", 5)]
    host.runtime().limiter.acquire(
        host.runtime()
        .connectors.adapter_for(
            Connection.from_document(host.runtime().store.get("integrations", TENANT, "crm"))
        )
        .rate_limits()
    )
    assert ok(call(host, "GET", "connections/crm/limits"))[0]["used"] == 1
    assert ok(call(host, "POST", "connections/crm/limits/reset"))[0]["used"] == 0


def test_a_key_of_another_tenant_gets_404_for_every_id_and_changes_nothing(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    result_id = synced(host, served)
    rt = host.runtime()
    seed_conflict(rt)
    seed_duplicate(rt)
    destination = add_destination(rt, TENANT, kind="slack", name="ops", url="https://x.example/h")
    WebhookRegistrations(rt.store, rt.credentials).register(
        TENANT, "crm", "github", registration_id="hook1"
    )
    rt.store.upsert(
        HELD_DELETES,
        {"id": "hold1", "tenantId": TENANT, "connectionId": "crm", "status": "held", "held": []},
    )
    ids = {
        "registration_id": "hook1",
        "hold_id": "hold1",
        "inbox_id": "entry1",
        "connection_id": "crm",
        "task_id": "crm-contacts",
        "result_id": result_id,
        "entity_id": "e1",
        "conflict_id": "c1",
        "candidate_id": DuplicateCandidate.make_id("held", "existing"),
        "key_id": host.api_key(TENANT).split("_")[1],
        "destination_id": destination.id,
    }
    bodies = {
        "AdminDecideConflict": {"winner": "incoming", "decided_by": "mallory"},
        "AdminDecideDuplicate": {"same": True, "decided_by": "mallory"},
        "AdminUpdateConnection": {"displayName": "stolen"},
        "AdminConfigureRateLimits": {
            "rate_limits": [{"bucket": "api", "max_requests": 1, "window_seconds": 1}]
        },
        "AdminUpdateTask": {"intervalSeconds": 60},
        "AdminEditEntity": {"values": {"title": "stolen"}},
        "AdminRotateWebhookSecret": {"secret": "stolen"},
        "AdminReleaseHeldDeletes": {"decidedBy": "mallory"},
        "AdminRejectHeldDeletes": {"decidedBy": "mallory"},
        "AdminReplayWebhookRange": {
            "since": "2020-01-01T00:00:00Z",
            "until": "2030-01-01T00:00:00Z",
        },
    }
    before = {c: rt.store.query(c, partition_key=TENANT) for c in CONTAINERS}
    with_ids = [
        (name, str(getattr(m, "value", m)), r.binding["route"])
        for name, r in sorted(host.functions.items())
        if r.binding.get("route", "").startswith("admin/") and "{" in r.binding["route"]
        for m in r.binding["methods"]
    ]
    assert len(with_ids) >= 20
    for name, method, route in with_ids:
        path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], route).removeprefix("admin/")
        response = call(host, method, path, bodies.get(name), tenant=OTHER)
        assert response.status_code == 404, (name, response.get_body())
        # A bare problem detail: no documents, nothing of this tenant's but the ids sent.
        found = json.loads(response.get_body())
        assert set(found) == {"type", "title", "status", "detail"}
        assert "CRM" not in found["detail"]
    assert {c: rt.store.query(c, partition_key=TENANT) for c in CONTAINERS} == before
    for listing in ("connections", "tasks", "conflicts", "duplicates", "webhooks"):
        assert ok(call(host, "GET", listing, tenant=OTHER))["items"] == [], listing
    # Of keys and the audit log, only its own test host's key and its issue.
    assert len(ok(call(host, "GET", "keys", tenant=OTHER))["items"]) == 1
    assert [e["resource"] for e in ok(call(host, "GET", "audit", tenant=OTHER))["items"]] == [
        "api-key"
    ]


def test_null_in_an_update_changes_nothing_and_leaves_the_document_readable(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    """Found by schemathesis: a PATCH of nulls stored a connection no read could parse."""
    connect(host, served[0], "crm")
    connect(host, served[1], "mkt")
    nulls = {"displayName": None, "config": None, "credential": None}
    assert ok(call(host, "PATCH", "connections/crm", nulls))["displayName"] == "CRM"
    assert ok(call(host, "GET", "connections/crm"))["config"]["base_url"] == served[0].base_url
    task = {
        "id": "crm-c",
        "connectionId": "crm",
        "entityType": "contact",
        "targetConnectionIds": ["mkt"],
    }
    ok(call(host, "POST", "tasks", task), 201)
    nulls = {"matching": None, "policy": None, "deleteRule": None, "targetConnectionIds": None}
    assert ok(call(host, "PATCH", "tasks/crm-c", nulls))["targetConnectionIds"] == ["mkt"]
    assert ok(call(host, "GET", "tasks/crm-c"))["deleteRule"] == "propagate"


def test_a_budget_window_too_small_to_measure_is_refused(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    """Found by schemathesis: windowSeconds 5e-324 reached the limiter and failed there."""
    connect(host, served[0], "crm")
    tiny = {"rateLimits": [{"bucket": "api", "maxRequests": 1, "windowSeconds": 5e-324}]}
    problem(call(host, "PUT", "connections/crm/limits", tiny), 400)
    assert ok(call(host, "GET", "connections/crm/limits"))
