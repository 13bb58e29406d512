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

from integration_core.models import (
    Conflict,
    ConflictStatus,
    DuplicateCandidate,
    DuplicateStatus,
    Entity,
    Link,
)
from tests.conftest import tcp_check, unique_name
from tests.harness.decisions import TENANT, seed_conflict, seed_duplicate
from tests.harness.faults import CrashingStore, MeetingStore
from tests.harness.function_host import FunctionHost, embedded_settings

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
    rt = host.runtime()
    if request.param == "cosmos":
        rt.store.drop_database()  # type: ignore[attr-defined]
    rt.close()


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


def test_two_opposite_decisions_at_once_one_wins_and_the_data_agrees(host: FunctionHost) -> None:
    rt = host.runtime()
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


@pytest.mark.parametrize(
    "decisions",
    [(True, True), (True, False)],
    ids=["two-confirmations", "confirm-and-reject"],
)
def test_two_duplicate_decisions_at_once_one_wins_and_the_data_agrees(
    host: FunctionHost, decisions: tuple[bool, bool]
) -> None:
    rt = host.runtime()
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


# --- a decision whose data write fails -------------------------------------------------------


def test_a_conflict_decision_whose_data_write_fails_is_given_back(host: FunctionHost) -> None:
    rt = host.runtime()
    conflict = seed_conflict(rt)
    rt.store = store = CrashingStore(rt.store)
    store.switch.arm(2)  # 1: the claim on the conflict, 2: the entity takes the value
    path = f"/api/admin/tenants/{TENANT}/conflicts/{conflict.id}/decision"
    body = json.dumps({"winner": "incoming", "decided_by": "ann"}).encode()

    failed = host.http("POST", path, body=body)
    assert failed.status_code == 500
    assert "crash" not in failed.get_body().decode()  # nothing of the error is shown
    stored = Conflict.from_document(rt.store.get(Conflict.container, TENANT, conflict.id))
    entity = Entity.from_document(rt.store.get(Entity.container, TENANT, conflict.entity_id))
    assert (stored.status, stored.winner, entity.values["title"]) == (
        ConflictStatus.PENDING,
        None,
        "hub value",
    )

    assert host.http("POST", path, body=body).status_code == 200
    entity = Entity.from_document(rt.store.get(Entity.container, TENANT, conflict.entity_id))
    assert entity.values["title"] == "incoming value"


def test_a_merge_that_fails_half_way_is_given_back_and_completes_when_decided_again(
    host: FunctionHost,
) -> None:
    rt = host.runtime()
    candidate = seed_duplicate(rt)
    rt.store = store = CrashingStore(rt.store)
    store.switch.arm(3)  # 1: the claim, 2: the fold into `existing`, 3: moving the link
    path = f"/api/admin/tenants/{TENANT}/duplicates/{candidate.id}/decision"
    body = json.dumps({"same": True, "decided_by": "ann"}).encode()

    assert host.http("POST", path, body=body).status_code == 500
    document = rt.store.get(DuplicateCandidate.container, TENANT, candidate.id)
    assert document["status"] == DuplicateStatus.PENDING.value

    assert host.http("POST", path, body=body).status_code == 200
    held = Entity.from_document(rt.store.get(Entity.container, TENANT, "held"))
    assert (held.merged_into, held.deleted) == ("existing", True)
    links = rt.store.query(Link.container, partition_key=TENANT)
    assert {d["entityId"] for d in links} == {"existing"}
