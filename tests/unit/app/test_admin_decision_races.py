"""Two admin decisions on one conflict or duplicate at the same moment: exactly one wins.

Real threads post through the function app's own registrations; a MeetingStore makes
both read the pending document before either writes (the worst interleaving, every run).
The winner gets 200, the loser 409 with the winning decision, and the stored decision
always agrees with the data. On SQLite (embedded) and on the Cosmos emulator (etags).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from integration_core.clock import utcnow
from integration_core.models import (
    Conflict,
    DuplicateCandidate,
    DuplicateStatus,
    Entity,
    Link,
)
from integration_core.runtime import Runtime
from tests.conftest import tcp_check, unique_name
from tests.harness.faults import MeetingStore
from tests.harness.function_host import FunctionHost, embedded_settings

TENANT = "t1"
BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.unit),
    pytest.param("cosmos", marks=pytest.mark.integration),
]


@pytest.fixture(params=BACKENDS)
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FunctionHost]:
    settings = embedded_settings(tmp_path)
    if request.param == "cosmos":
        stack = request.getfixturevalue("local_stack")
        tcp_check("Cosmos DB emulator", stack.cosmos_endpoint)
        settings |= {
            "STORE_BACKEND": "cosmos",
            "COSMOS_ENDPOINT": stack.cosmos_endpoint,
            "COSMOS_KEY": stack.cosmos_key,
            "COSMOS_CA_FILE": stack.cosmos_ca_file or "",
            "COSMOS_VERIFY_TLS": str(stack.cosmos_verify_tls).lower(),
            "COSMOS_DATABASE": unique_name("lockstep-race-"),
        }
    host = FunctionHost(settings)
    yield host
    rt = runtime(host)
    if request.param == "cosmos":
        rt.store.drop_database()  # type: ignore[attr-defined]
    rt.close()


def runtime(host: FunctionHost) -> Runtime:
    rt: Runtime = host.module.runtime()
    return rt


def post_at_once(
    host: FunctionHost, path: str, bodies: list[dict[str, Any]]
) -> list[tuple[int, dict[str, Any]]]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: _post(host, path, body), bodies))


def _post(host: FunctionHost, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        response = host.http("POST", path, body=json.dumps(body).encode())
    except Exception as err:  # the Functions host answers a function that raised with 500
        return 500, {"raised": repr(err)}
    return response.status_code, json.loads(response.get_body())


def winner_and_loser(
    results: list[tuple[int, dict[str, Any]]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    assert sorted(status for status, _ in results) == [200, 409], results
    (won,) = [body for status, body in results if status == 200]
    (lost,) = [body for status, body in results if status == 409]
    return won, lost


# --- conflicts --------------------------------------------------------------------------------


def seed_conflict(rt: Runtime) -> Conflict:
    now = utcnow()
    entity = Entity(
        id="e1",
        tenant_id=TENANT,
        entity_type="contact",
        values={"title": "hub value"},
        sources={"title": "mkt"},
        field_modified_at={"title": now},
        modified_at=now,
    )
    rt.store.upsert(Entity.container, entity.to_document())
    conflict = Conflict(
        id="c1",
        tenant_id=TENANT,
        entity_id=entity.id,
        entity_type="contact",
        connection_id="crm",
        field="title",
        base={"present": True, "value": "base value"},
        hub={"present": True, "value": "hub value"},
        incoming={"present": True, "value": "incoming value"},
        incoming_modified_at=now,
    )
    rt.store.create(Conflict.container, conflict.to_document())
    return conflict


def test_two_opposite_decisions_at_once_one_wins_and_the_data_agrees(host: FunctionHost) -> None:
    rt = runtime(host)
    conflict = seed_conflict(rt)
    rt.store = MeetingStore(rt.store, Conflict.container, conflict.id)
    path = f"/api/admin/tenants/{TENANT}/conflicts/{conflict.id}/decision"

    won, lost = winner_and_loser(
        post_at_once(
            host,
            path,
            [{"winner": "hub", "decided_by": "ann"}, {"winner": "incoming", "decided_by": "bob"}],
        )
    )

    stored = Conflict.from_document(rt.store.get(Conflict.container, TENANT, conflict.id))
    assert stored.winner == won["winner"]
    assert lost["status"] == 409
    assert lost["decision"]["winner"] == stored.winner
    assert lost["decision"]["decidedBy"] == stored.decided_by
    entity = Entity.from_document(rt.store.get(Entity.container, TENANT, conflict.entity_id))
    assert entity.values["title"] == f"{stored.winner} value"


# --- duplicates -------------------------------------------------------------------------------


def seed_duplicate(rt: Runtime) -> DuplicateCandidate:
    """`held` came from crm and may be `existing` (from mkt); it waits for a decision."""
    now = utcnow()
    for entity_id, connection_id, held in (("held", "crm", True), ("existing", "mkt", False)):
        values = {"first_name": "Grace", "last_name": "Hopper", "email": f"{entity_id}@x.example"}
        entity = Entity(
            id=entity_id,
            tenant_id=TENANT,
            entity_type="contact",
            values=values,
            sources={name: connection_id for name in values},
            field_modified_at=dict.fromkeys(values, now),
            modified_at=now,
            held_for_review=held,
        )
        rt.store.upsert(Entity.container, entity.to_document())
        link = Link(
            id=Link.make_id(connection_id, f"x-{entity_id}"),
            tenant_id=TENANT,
            connection_id=connection_id,
            external_id=f"x-{entity_id}",
            entity_id=entity_id,
            entity_type="contact",
        )
        rt.store.upsert(Link.container, link.to_document())
    candidate = DuplicateCandidate(
        id=DuplicateCandidate.make_id("held", "existing"),
        tenant_id=TENANT,
        entity_id="held",
        candidate_entity_id="existing",
        entity_type="contact",
        connection_id="crm",
        external_id="x-held",
        score=0.8,
        rule="fuzzy",
        explanation="same name, different email",
        target_connection_ids=["mkt"],
    )
    rt.store.create(DuplicateCandidate.container, candidate.to_document())
    return candidate


@pytest.mark.parametrize(
    "decisions",
    [(True, True), (True, False)],
    ids=["two-confirmations", "confirm-and-reject"],
)
def test_two_duplicate_decisions_at_once_one_wins_and_the_data_agrees(
    host: FunctionHost, decisions: tuple[bool, bool]
) -> None:
    rt = runtime(host)
    candidate = seed_duplicate(rt)
    rt.store = MeetingStore(rt.store, DuplicateCandidate.container, candidate.id)
    path = f"/api/admin/tenants/{TENANT}/duplicates/{candidate.id}/decision"

    won, lost = winner_and_loser(
        post_at_once(host, path, [{"same": same, "decided_by": "ann"} for same in decisions])
    )

    stored = DuplicateCandidate.from_document(
        rt.store.get(DuplicateCandidate.container, TENANT, candidate.id)
    )
    assert stored.status.value == won["status"]
    assert lost["decision"]["status"] == stored.status.value
    held = Entity.from_document(rt.store.get(Entity.container, TENANT, "held"))
    crm_link = rt.store.get(Link.container, TENANT, Link.make_id("crm", "x-held"))
    if stored.status is DuplicateStatus.CONFIRMED:
        assert (held.merged_into, held.deleted, crm_link["entityId"]) == (
            "existing",
            True,
            "existing",
        )
    else:
        assert (held.merged_into, held.deleted, held.held_for_review) == (None, False, False)
        assert crm_link["entityId"] == "held"
