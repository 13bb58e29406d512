"""The admin API's sync operations through the function host, on the embedded stack with
sandbox systems over loopback HTTP: task modes, results while running and after (status and
counts), the resync's dry run (which writes nothing) and real run, conflicts and duplicates
one by one, and the audit of every write whoever makes it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.admin import decisions
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.matching import blocking_keys
from integration_core.storage.base import CONTAINERS
from tests.harness.admin_api import call, connect, ok, problem, synced
from tests.harness.decisions import TENANT, seed_conflict, seed_duplicate
from tests.harness.function_host import FunctionHost
from tests.harness.sandbox import contact

pytestmark = pytest.mark.unit

Served = tuple[SandboxServer, SandboxServer]


def task(name: str, connection: str, **fields: Any) -> dict[str, Any]:
    return {"id": name, "connectionId": connection, "entityType": "contact"} | fields


def test_a_task_has_a_mode_that_must_agree_with_the_other_tasks(
    host: FunctionHost, served: Served
) -> None:
    crm, mkt = served
    connect(host, crm, "crm")
    connect(host, mkt, "mkt")
    created = ok(
        call(host, "POST", "tasks", task("crm-c", "crm", targetConnectionIds=["mkt"])), 201
    )
    assert created["mode"] == "bidirectional"
    ok(call(host, "POST", "tasks", task("mkt-c", "mkt", mode="push")), 201)
    problem(call(host, "POST", "tasks", task("x", "crm", mode="sideways")), 400)
    # mkt is pull-only? crm-c pushes there: refused, and the reverse too.
    problem(call(host, "PATCH", "tasks/mkt-c", {"mode": "pull"}), 422)
    pushing = {"mode": "push", "targetConnectionIds": ["crm"]}
    problem(call(host, "PATCH", "tasks/mkt-c", pushing), 422)
    ok(call(host, "PATCH", "tasks/crm-c", {"targetConnectionIds": []}))
    assert ok(call(host, "PATCH", "tasks/mkt-c", {"mode": "pull"}))["mode"] == "pull"
    problem(call(host, "PATCH", "tasks/crm-c", {"targetConnectionIds": ["mkt"]}), 422)
    ok(call(host, "PATCH", "tasks/mkt-c", {"mode": "push"}))
    # A push-only task has nothing to read: run-now, resync and its dry run are refused.
    for path in ("tasks/mkt-c/run", "tasks/mkt-c/resync", "tasks/mkt-c/resync/dry-run"):
        assert "push-only" in problem(call(host, "POST", path), 422)["detail"]


def test_a_task_mapping_is_checked_against_the_systems_default(
    host: FunctionHost, served: Served
) -> None:
    connect(host, served[0], "crm")
    remove = {"remove": ["city"]}
    ok(call(host, "POST", "tasks", task("crm-c", "crm", mapping=remove)), 201)
    bad = {"remove": ["no_such_field"]}
    assert "mapping" in problem(call(host, "PATCH", "tasks/crm-c", {"mapping": bad}), 422)["detail"]
    problem(call(host, "POST", "tasks", {**task("t2", "crm"), "entityType": "planet"}), 422)
    assert ok(call(host, "GET", "tasks/crm-c"))["mapping"] == remove


def test_a_result_is_running_until_recorded_then_says_what_the_sync_did(
    host: FunctionHost, served: Served
) -> None:
    crm, mkt = served
    connect(host, crm, "crm")
    connect(host, mkt, "mkt")
    ok(call(host, "POST", "tasks", task("crm-c", "crm", targetConnectionIds=["mkt"])), 201)
    result_id = ok(call(host, "POST", "tasks/crm-c/run"), 202)["resultId"]
    running = ok(call(host, "GET", f"results/{result_id}"))
    assert (running["status"], running["recordsRead"], running["finishedAt"]) == (
        "running",
        0,
        None,
    )
    assert running["progress"]["pages"] == 0
    drain_queues(host.runtime())
    done = ok(call(host, "GET", f"results/{result_id}"))
    assert (done["status"], done["recordsRead"], done["created"], done["progress"]) == (
        "success",
        3,
        3,
        None,
    )
    counts = ("deleted", "failed", "conflictsDetected", "conflictsResolved", "missedWebhooks")
    assert {name: done[name] for name in counts} == dict.fromkeys(counts, 0)
    assert done["finishedAt"]


def _store(host: FunctionHost) -> dict[str, Any]:
    rt = host.runtime()
    return {name: rt.store.query(name) for name in CONTAINERS}


def _records(served: Served) -> list[Any]:
    return [
        sorted(
            (r.id, r.version, r.archived, json.dumps(r.properties, sort_keys=True))
            for r in server.account.records("contacts", include_archived=True)
        )
        for server in served
    ]


def test_a_resync_dry_run_writes_nothing_and_the_real_run_applies_its_diff(
    host: FunctionHost, served: Served
) -> None:
    crm, mkt = served
    synced(host, served)  # crm's 3 contacts in the hub and in mkt
    first, second, third = sorted(crm.account.records("contacts"), key=lambda r: r.id)
    crm.account.update("contacts", first.id, {"jobtitle": "CTO"})
    crm.account.archive("contacts", second.id)
    added = crm.account.create("contacts", contact(9))
    before, records = _store(host), _records(served)

    diff = ok(call(host, "POST", "tasks/crm-contacts/resync/dry-run"))
    assert _store(host) == before
    assert _records(served) == records
    assert diff["complete"] is True
    assert diff["counts"] == {"create": 1, "update": 1, "delete": 1, "unchanged": 1, "fail": 0}
    by_record = {r["externalId"]: r for r in diff["records"]}
    assert by_record[first.id]["changes"] == {"title": {"before": "Engineer", "after": "CTO"}}
    assert by_record[second.id]["action"] == "delete"
    assert by_record[third.id]["action"] == "unchanged"
    assert by_record[added.id]["action"] == "create"
    assert by_record[added.id]["changes"]["email"] == {"before": None, "after": contact(9)["email"]}
    problem(call(host, "POST", "tasks/crm-contacts/resync/dry-run?maxRecords=0"), 400)

    result_id = ok(call(host, "POST", "tasks/crm-contacts/resync"), 202)["resultId"]
    assert ok(call(host, "GET", f"results/{result_id}"))["status"] == "running"
    drain_queues(host.runtime())
    result = ok(call(host, "GET", f"results/{result_id}"))
    assert (result["status"], result["created"], result["updated"], result["deleted"]) == (
        "success",
        1,
        1,
        1,
    )
    entities = host.runtime().store.query("entities", partition_key=TENANT)
    assert len(entities) == 4  # the records kept: nothing was wiped and made again
    mkt_titles = {
        r.properties["email"]: r.properties["jobtitle"] for r in mkt.account.records("contacts")
    }
    assert mkt_titles[first.properties["email"]] == "CTO"
    assert second.properties["email"] not in mkt_titles
    assert contact(9)["email"] in mkt_titles
    again = ok(call(host, "POST", "tasks/crm-contacts/resync/dry-run"))
    assert again["counts"] == {"create": 0, "update": 0, "delete": 0, "unchanged": 4, "fail": 0}
    actions = [(e["action"], e["resourceId"]) for e in ok(call(host, "GET", "audit"))["items"]]
    assert ("resync", "crm-contacts") in actions


def test_conflicts_and_duplicates_are_read_one_by_one_paged_and_their_decisions_audited(
    host: FunctionHost,
) -> None:
    rt = host.runtime()
    seed_conflict(rt)
    candidate = seed_duplicate(rt)
    assert ok(call(host, "GET", "conflicts/c1"))["field"] == "title"
    assert ok(call(host, "GET", f"duplicates/{candidate.id}"))["entityId"] == "held"
    problem(call(host, "GET", "conflicts/nope"), 404)
    listed = ok(call(host, "GET", "conflicts?limit=1"))
    assert ([c["id"] for c in listed["items"]], listed["next"]) == (["c1"], None)
    assert [c["id"] for c in ok(call(host, "GET", "duplicates"))["items"]] == [candidate.id]
    decisions.decide_conflict_as(
        rt, TENANT, "c1", winner="incoming", decided_by="someone", actor="cli:someone"
    )
    assert ok(call(host, "GET", "conflicts"))["items"] == []
    assert ok(call(host, "GET", "conflicts/c1"))["status"] == "decided"
    ok(
        call(
            host, "POST", f"duplicates/{candidate.id}/decision", {"same": False, "decided_by": "x"}
        )
    )
    audit = ok(call(host, "GET", "audit"))["items"]
    written = [(e["actor"], e["action"], e["resource"]) for e in audit]
    assert ("cli:someone", "decide", "conflict") in written
    assert ("decide", "duplicate") in [(a, r) for _, a, r in written]
    assert ("test-host", "issue", "api-key") in written


def test_an_admin_edit_removes_a_null_field_and_is_found_by_its_new_values(
    host: FunctionHost, served: Served
) -> None:
    synced(host, served)
    rt = host.runtime()
    entity = rt.store.query("entities", partition_key=TENANT)[0]
    edit = {"values": {"city": None, "email": "new.address@example.org"}}
    edited = ok(call(host, "PATCH", f"entities/{entity['id']}", edit))
    assert "city" not in edited["values"]
    assert "city" not in edited["provenance"]
    assert edited["provenance"]["email"]["source"] == "admin"
    stored = rt.store.get("entities", TENANT, entity["id"])
    assert stored["blockingKeys"] != entity["blockingKeys"]
    assert stored["blockingKeys"] == blocking_keys("contact", stored["values"])
