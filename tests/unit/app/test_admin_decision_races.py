"""Two admin decisions on one conflict or duplicate at the same moment: exactly one wins.

Real threads post through the function app's own registrations; a MeetingStore makes
both read the pending document before either writes (the worst interleaving, every run).
The winner gets 200, the loser 409 with the winning decision, and the stored decision
always agrees with the data. On SQLite (embedded) and on the Cosmos emulator (etags).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from integration_core.clock import to_iso, utcnow
from integration_core.messaging import OUTBOUND_QUEUE
from integration_core.models import (
    Conflict,
    ConflictStatus,
    DuplicateCandidate,
    DuplicateStatus,
    Entity,
    Link,
)
from integration_core.pipelines.conflicts import pending_fields
from integration_core.pipelines.decisions import IN_FLIGHT_LEASE
from integration_core.pipelines.matching import awaits_duplicate_review
from integration_core.runtime import Runtime
from tests.harness.decisions import TENANT, seed_conflict, seed_duplicate
from tests.harness.faults import CrashingStore, MeetingStore
from tests.harness.function_host import FunctionHost


@pytest.fixture
def host(host_on_each_backend: FunctionHost) -> FunctionHost:
    return host_on_each_backend


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


def conflict_path(conflict_id: str) -> str:
    return f"/api/admin/conflicts/{conflict_id}/decision"


def duplicate_path(candidate_id: str) -> str:
    return f"/api/admin/duplicates/{candidate_id}/decision"


def crash_at(rt: Runtime, nth: int, *, after: bool = False) -> None:
    """The `nth` next write of the app's store fails (after it took effect, if `after`)."""
    rt.store = store = CrashingStore(rt.store)
    store.switch.arm(nth, after=after)


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
    path = conflict_path(conflict.id)

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
    assert stored.status is ConflictStatus.DECIDED
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
    path = duplicate_path(candidate.id)

    won, lost = winner_and_loser(
        post_at_once(host, path, [{"same": same, "decided_by": "ann"} for same in decisions])
    )

    stored = DuplicateCandidate.from_document(
        rt.store.get(DuplicateCandidate.container, TENANT, candidate.id)
    )
    assert stored.status.value == won["status"]
    assert lost["decision"]["decidedAt"] == won["decidedAt"]  # the winner's, seen in flight or done
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
    crash_at(rt, 2)  # 1: the claim on the conflict, 2: the entity takes the value
    path = conflict_path(conflict.id)
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
    crash_at(rt, 3)  # 1: the claim, 2: the fold into `existing`, 3: moving the link
    path = duplicate_path(candidate.id)
    body = json.dumps({"same": True, "decided_by": "ann"}).encode()

    assert host.http("POST", path, body=body).status_code == 500
    document = rt.store.get(DuplicateCandidate.container, TENANT, candidate.id)
    assert document["status"] == DuplicateStatus.PENDING.value

    assert host.http("POST", path, body=body).status_code == 200
    held = Entity.from_document(rt.store.get(Entity.container, TENANT, "held"))
    assert (held.merged_into, held.deleted) == ("existing", True)
    links = rt.store.query(Link.container, partition_key=TENANT)
    assert {d["entityId"] for d in links} == {"existing"}


# --- a request that dies in flight -------------------------------------------------------------


def _age(rt: Runtime, container: str, id: str) -> None:
    """Make a decision in flight look older than the lease (its request died long ago)."""
    document = rt.store.get(container, TENANT, id)
    document["decidedAt"] = to_iso(utcnow() - IN_FLIGHT_LEASE - timedelta(minutes=1))
    rt.store.upsert(container, document)


def test_a_conflict_decision_whose_request_died_in_flight_is_completed_by_the_next(
    host: FunctionHost,
) -> None:
    rt = host.runtime()
    conflict = seed_conflict(rt)
    crash_at(rt, 1, after=True)  # the claim is written, then the process "dies"
    path = conflict_path(conflict.id)
    incoming = json.dumps({"winner": "incoming", "decided_by": "ann"}).encode()
    hub = json.dumps({"winner": "hub", "decided_by": "bob"}).encode()
    assert host.http("POST", path, body=incoming).status_code == 500

    # In flight: outbound still keeps the field, and another decision is refused.
    assert pending_fields(rt, TENANT, conflict.entity_id, "crm") == {"title"}
    in_flight = host.http("POST", path, body=hub)
    assert in_flight.status_code == 409
    assert json.loads(in_flight.get_body())["decision"]["status"] == "deciding"

    _age(rt, Conflict.container, conflict.id)
    assert rt.queue.depth(OUTBOUND_QUEUE) == 0  # type: ignore[attr-defined]
    completed = host.http("POST", path, body=hub)
    assert completed.status_code == 409
    decision = json.loads(completed.get_body())["decision"]
    assert (decision["status"], decision["winner"], decision["decidedBy"]) == (
        "decided",
        "incoming",
        "ann",
    )
    entity = Entity.from_document(rt.store.get(Entity.container, TENANT, conflict.entity_id))
    assert entity.values["title"] == "incoming value"
    assert pending_fields(rt, TENANT, conflict.entity_id, "crm") == set()
    assert rt.queue.depth(OUTBOUND_QUEUE) == 1  # type: ignore[attr-defined]  # and it is pushed


def test_a_merge_whose_request_died_in_flight_holds_creates_until_the_next_completes_it(
    host: FunctionHost,
) -> None:
    rt = host.runtime()
    candidate = seed_duplicate(rt)
    crash_at(rt, 1, after=True)
    path = duplicate_path(candidate.id)
    assert host.http("POST", path, body=b'{"same": true, "decided_by": "ann"}').status_code == 500

    existing = Entity.from_document(rt.store.get(Entity.container, TENANT, "existing"))
    assert awaits_duplicate_review(rt, existing, "crm")  # no create of it in crm meanwhile

    _age(rt, DuplicateCandidate.container, candidate.id)
    no = b'{"same": false, "decided_by": "bob"}'
    completed = host.http("POST", path, body=no)
    assert completed.status_code == 409
    assert json.loads(completed.get_body())["decision"]["status"] == "confirmed"
    held = Entity.from_document(rt.store.get(Entity.container, TENANT, "held"))
    assert (held.merged_into, held.deleted) == ("existing", True)
    assert not awaits_duplicate_review(rt, existing, "crm")
