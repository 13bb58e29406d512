"""A connection at a glance (`GET admin/connections/{id}/overview`) and an entity's links
(`GET admin/entities/{id}`), through the function host on the embedded stack with sandbox
systems over loopback HTTP: each figure moves when what it reports happens, nothing
secret is answered, and another tenant's key gets 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.admin.overview import connection_overview
from integration_core.clock import from_iso, to_iso, utcnow
from integration_core.credentials.records import CredentialRecord
from integration_core.models import Connection, Entity, SyncResult
from integration_core.pipelines._private import named
from integration_core.pipelines.links import links_in, retire_link
from integration_core.storage.concurrency import update_document
from integration_core.webhooks.audit import AUDIT, Outcome, WebhookAudit
from tests.harness.admin_api import call, connect, delivered_three_ways, ok, problem, synced
from tests.harness.decisions import TENANT
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.function_host import FunctionHost, embedded_app_settings
from tests.harness.oauth_connect import oauth_clients
from tests.harness.oauth_server import OAuthServer
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit

OTHER = "t2"


def overview(host: FunctionHost, connection_id: str = "crm") -> dict[str, object]:
    found: dict[str, object] = ok(call(host, "GET", f"connections/{connection_id}/overview"))
    return found


def test_a_new_connection_at_a_glance_shows_no_secret(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    crm, _ = served
    connect(host, crm, "crm")
    response = call(host, "GET", "connections/crm/overview")
    assert crm.account.api_key not in response.get_body().decode()
    found = ok(response)
    assert found["id"] == "crm"
    assert found["system"] == "sandbox"
    assert found["displayName"] == "CRM"
    assert found["status"] == "active"
    assert found["paused"] is False
    assert found["auth"] == {
        "credentialType": "bearer_token",
        "expiresAt": None,
        "needsReauth": False,
        "lastRefreshedAt": None,
    }
    assert found["breaker"] == {"state": "closed", "failures": 0}
    assert found["lastSuccessAt"] is None
    assert found["webhooks"] == {
        "lastSeenAt": None,
        "received": 0,
        "accepted": 0,
        "rejected": 0,
        "duplicate": 0,
        "missed": 0,
    }
    assert found["budgets"]
    assert all(b["remaining"] == b["limit"] for b in found["budgets"])
    assert found["tasks"] == []
    assert "OAUTH_CLIENTS" in found["oauthConnect"]  # no OAuth app in this deployment


def test_a_sync_moves_last_success_budget_and_cursor(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    before = utcnow()
    synced(host, served)
    found = overview(host)
    assert from_iso(found["lastSuccessAt"]) >= before  # type: ignore[arg-type]
    # The page read and the pushes took from the budgets (a new connection's are full).
    assert any(b["remaining"] < b["limit"] for b in found["budgets"])  # type: ignore[attr-defined]
    (task,) = found["tasks"]  # type: ignore[misc]
    assert task["taskId"] == "crm-contacts"
    assert task["enabled"] is True
    saved = from_iso(task["cursorSavedAt"])
    assert saved >= before.replace(microsecond=0)
    assert task["cursorAgeSeconds"] >= 0
    later = connection_overview(host.runtime(), TENANT, "crm", now=saved + timedelta(minutes=3))
    assert later.tasks[0].cursor_age_seconds == 180
    # mkt is only a target: no task reads it, so it has no cursor.
    assert overview(host, "mkt")["tasks"] == []


def test_pausing_every_task_and_an_open_breaker_show(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    synced(host, served)
    ok(call(host, "POST", "tasks/crm-contacts/pause"))
    rt = host.runtime()
    for _ in range(rt.breaker.config.failures):
        rt.breaker.record_status(TENANT, "crm", 503)
    found = overview(host)
    assert found["paused"] is True
    assert found["tasks"][0]["enabled"] is False  # type: ignore[index]
    assert found["breaker"]["state"] == "open"  # type: ignore[index]
    ok(call(host, "POST", "tasks/crm-contacts/resume"))
    assert overview(host)["paused"] is False


def test_token_expiry_and_needs_reauth_come_from_the_credential_metadata(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    created = connect(host, served[0], "crm")
    expires = utcnow().replace(microsecond=0) + timedelta(hours=1)

    def needs_reauth(document: dict[str, object]) -> dict[str, object]:
        document["status"] = "needs_reauth"
        document["expiresAt"] = to_iso(expires)
        return document

    update_document(
        host.runtime().store,
        CredentialRecord.container,
        TENANT,
        created["credentialId"],
        needs_reauth,
    )
    auth = overview(host)["auth"]
    assert auth["needsReauth"] is True  # type: ignore[index]
    assert from_iso(auth["expiresAt"]) == expires  # type: ignore[index]
    # Reading the budgets needs no credential (nor refreshes one): they still show.
    assert overview(host)["budgets"]
    assert ok(call(host, "GET", "connections/crm/limits"))


def test_webhooks_over_24_hours_count_each_outcome_and_the_missed(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    synced(host, served)
    rt = host.runtime()
    before = utcnow()
    registration_id = delivered_three_ways(host, TENANT, "crm")
    old = utcnow() - timedelta(hours=25)
    stale = WebhookAudit(
        id="old-delivery",
        tenant_id=TENANT,
        registration_id=registration_id,
        provider="github",
        outcome=Outcome.ACCEPTED,
        status=202,
        latency_ms=1.0,
        at=old,
    )
    rt.store.create(AUDIT, stale.to_document())
    for result_id, finished, missed in (("r-now", utcnow(), 2), ("r-old", old, 5)):
        result = SyncResult(
            id=result_id,
            tenant_id=TENANT,
            connection_id="crm",
            direction="inbound",
            correlation_id=result_id,
            started_at=finished,
            finished_at=finished,
            duration_ms=1.0,
            missed_webhooks=missed,
        )
        rt.store.create(SyncResult.container, result.to_document())

    webhooks = overview(host)["webhooks"]
    assert webhooks == {
        "lastSeenAt": webhooks["lastSeenAt"],  # type: ignore[index]
        "received": 3,
        "accepted": 1,
        "rejected": 1,
        "duplicate": 1,
        "missed": 2,
    }
    assert from_iso(webhooks["lastSeenAt"]) >= before  # type: ignore[index]
    # mkt has no registration: none of crm's deliveries are its.
    assert overview(host, "mkt")["webhooks"]["received"] == 0  # type: ignore[index]


def test_a_connection_whose_limits_cannot_be_read_still_shows(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    connect(host, served[0], "crm")

    def unreadable(document: dict[str, object]) -> dict[str, object]:
        document["config"] = {"rate_limits": "not a list"}
        return document

    update_document(host.runtime().store, Connection.container, TENANT, "crm", unreadable)
    found = overview(host)
    assert found["budgets"] is None
    assert found["status"] == "active"


@pytest.fixture
def oauth_host(tmp_path: Path) -> Iterator[FunctionHost]:
    with OAuthServer() as oauth:
        settings = embedded_app_settings(tmp_path) | {"OAUTH_CLIENTS": oauth_clients(oauth)}
        host = FunctionHost(settings, inline_queue=True, tenant=TENANT)
        yield host
        host.runtime().close()


def test_a_deployment_with_an_oauth_app_can_connect(
    oauth_host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    connect(oauth_host, served[0], "crm")
    assert overview(oauth_host)["oauthConnect"] is None


def test_another_tenant_and_a_bad_id_are_refused(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    connect(host, served[0], "crm")
    problem(call(host, "GET", "connections/crm/overview", tenant=OTHER), 404)
    problem(call(host, "GET", "connections/nope/overview"), 404)
    assert call(host, "GET", "connections/a%20b/overview").status_code in (400, 404)


def test_an_entity_answers_its_links_in_every_system(
    host: FunctionHost, served: tuple[SandboxServer, SandboxServer]
) -> None:
    before = utcnow().replace(microsecond=0)
    synced(host, served)
    rt = host.runtime()
    entity_id = rt.store.query(Entity.container, partition_key=TENANT)[0]["id"]
    links = ok(call(host, "GET", f"entities/{entity_id}"))["links"]
    assert [(k["connectionId"], k["system"], k["retired"]) for k in links] == [
        ("crm", "sandbox", False),
        ("mkt", "sandbox", False),
    ]
    crm, mkt = served
    assert links[0]["externalId"] in {r.id for r in crm.account.records("contacts")}
    assert links[1]["externalId"] in {r.id for r in mkt.account.records("contacts")}
    assert all(from_iso(k["lastSyncedAt"]) >= before for k in links)

    (mkt_link,) = links_in(rt.store, TENANT, entity_id, "mkt")
    retire_link(rt.store, mkt_link)
    links = ok(call(host, "GET", f"entities/{entity_id}"))["links"]
    assert [(k["connectionId"], k["retired"]) for k in links] == [("crm", False), ("mkt", True)]
    # Another tenant's key does not find the entity, nor its links.
    problem(call(host, "GET", f"entities/{entity_id}", tenant=OTHER), 404)


def test_a_connection_on_its_default_credential_shows_that_credential(tmp_path: Path) -> None:
    """A connection that names no `credentialId` uses its default credential (as the
    workers do): the overview reads that one's metadata."""
    crm = seeded_account("crm", contacts=1)
    with closing(embedded_runtime(tmp_path, {"crm": crm})) as rt:
        connect_sandbox(rt, "crm", crm)
        assert named(rt.store, Connection, TENANT, "crm").credential_id is None
        auth = connection_overview(rt, TENANT, "crm").auth
        assert (auth.credential_type, auth.needs_reauth) == ("bearer_token", False)
