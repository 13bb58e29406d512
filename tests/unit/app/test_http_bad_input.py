"""Bad input on the HTTP functions gets a 4xx problem detail, never a 500, and loses nothing.

Each case posts through the function app's own registrations on the embedded stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from blueprints.http import MAX_BODY_BYTES
from integration_core.errors import PermanentError
from integration_core.models import (
    Conflict,
    ConflictStatus,
    DuplicateCandidate,
    DuplicateStatus,
    Entity,
)
from integration_core.pipelines.conflicts import decide_conflict
from integration_core.pipelines.decisions import DECIDED_BY_MAX_LENGTH
from integration_core.pipelines.matching import decide_duplicate
from integration_core.runtime import Runtime
from tests.harness.decisions import TENANT, seed_conflict, seed_duplicate
from tests.harness.function_host import FunctionHost, embedded_app_settings

pytestmark = pytest.mark.unit

CONFLICT = "/api/admin/conflicts/c1/decision"
DEEP = b"[" * 1000 + b"]" * 1000  # 2 KB, 1,000 levels


@pytest.fixture
def host(tmp_path: Path) -> Iterator[FunctionHost]:
    host = FunctionHost(embedded_app_settings(tmp_path), inline_queue=True, tenant=TENANT)
    yield host
    host.runtime().close()


def problem(response: func.HttpResponse, status: int) -> dict[str, Any]:
    """The RFC 9457 problem detail of `response`, checked to have `status`."""
    assert response.status_code == status, response.get_body()[:500]
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_body())
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


def pending(rt: Runtime) -> bool:
    document = rt.store.get(Conflict.container, TENANT, "c1")
    return bool(document["status"] == ConflictStatus.PENDING.value)


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        b'{"winner": ' + DEEP + b', "decided_by": "me"}',
        b'{"winner": "hub", "decided_by": "\xff\xfe"}',
        b"\xef\xbb\xbf\x00",
        b'{"winner": "hub", "decided_by": "me", "n": 1e99999}',
        b'{"winner": "hub", "decided_by": 7}',
        b'{"winner": ["hub"], "decided_by": "me"}',
        b"",
        b"null",
    ],
    ids=[
        "deep",
        "deep-field",
        "invalid-utf8",
        "bom-nul",
        "huge-number",
        "wrong-type",
        "list",
        "empty",
        "null",
    ],
)
def test_an_undecodable_conflict_decision_is_a_400_and_decides_nothing(
    host: FunctionHost, body: bytes
) -> None:
    seed_conflict(host.runtime())
    problem(host.http("POST", CONFLICT, body=body), 400)
    assert pending(host.runtime())


def test_a_deeply_nested_duplicate_decision_is_a_400(host: FunctionHost) -> None:
    candidate = seed_duplicate(host.runtime())
    path = f"/api/admin/duplicates/{candidate.id}/decision"
    problem(host.http("POST", path, body=DEEP), 400)
    body = b'{"same": ' + DEEP + b', "decided_by": "me"}'
    problem(host.http("POST", path, body=body), 400)


def test_decided_by_is_bounded_and_a_body_over_the_cap_is_a_413(host: FunctionHost) -> None:
    seed_conflict(host.runtime())
    too_long = {"winner": "hub", "decided_by": "x" * (DECIDED_BY_MAX_LENGTH + 1)}
    found = problem(host.http("POST", CONFLICT, body=json.dumps(too_long).encode()), 400)
    assert [e["location"] for e in found["errors"]] == ["decided_by"]
    assert "x" * 100 not in json.dumps(found)  # the input is not echoed
    huge = {"winner": "hub", "decided_by": "x" * 10_000_000}
    found = problem(host.http("POST", CONFLICT, body=json.dumps(huge).encode()), 413)
    assert str(MAX_BODY_BYTES) in found["detail"]
    assert pending(host.runtime())

    fits = {"winner": "hub", "decided_by": "x" * DECIDED_BY_MAX_LENGTH}
    decided = host.http("POST", CONFLICT, body=json.dumps(fits).encode())
    assert decided.status_code == 200
    assert json.loads(decided.get_body())["decidedBy"] == fits["decided_by"]


def test_confirming_a_duplicate_whose_entity_merged_elsewhere_is_a_409_and_stays_pending(
    host: FunctionHost,
) -> None:
    rt = host.runtime()
    first = seed_duplicate(rt)
    # The held entity may also be a third one: a second candidate for the same entity.
    second = first.model_copy(
        update={
            "id": DuplicateCandidate.make_id("held", "third"),
            "candidate_entity_id": "third",
        }
    )
    rt.store.create(DuplicateCandidate.container, second.to_document())
    third = rt.store.get(Entity.container, TENANT, "existing") | {"id": "third"}
    rt.store.create(Entity.container, third)
    yes = b'{"same": true, "decided_by": "me"}'
    base = "/api/admin/duplicates"
    assert host.http("POST", f"{base}/{first.id}/decision", body=yes).status_code == 200

    found = problem(host.http("POST", f"{base}/{second.id}/decision", body=yes), 409)
    assert "merged into existing" in found["detail"]
    document = rt.store.get(DuplicateCandidate.container, TENANT, second.id)
    assert document["status"] == DuplicateStatus.PENDING.value
    # It can still be rejected.
    no = b'{"same": false, "decided_by": "me"}'
    assert host.http("POST", f"{base}/{second.id}/decision", body=no).status_code == 200


@pytest.mark.parametrize(
    "odd", ["..", ".", "x" * 256, "a%3Fb", "a#b", "a\\b", " t1", "t1\x00", "é", "%2e%2e"]
)
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("POST", "/api/admin/conflicts/{}/decision"),
        ("POST", "/api/admin/duplicates/{}/decision"),
        ("POST", "/api/webhooks/{}"),
    ],
)
def test_an_odd_id_in_a_route_is_a_400_before_it_reaches_the_store(
    host: FunctionHost, method: str, template: str, odd: str
) -> None:
    body = b'{"winner": "hub", "same": true, "decided_by": "me"}'
    found = problem(host.http(method, template.format(odd), body=body), 400)
    assert len(odd) < 3 or odd not in found["detail"]  # not echoed


def test_an_unknown_conflict_is_a_404_problem(host: FunctionHost) -> None:
    body = b'{"winner": "hub", "decided_by": "me"}'
    problem(host.http("POST", "/api/admin/conflicts/nope/decision", body=body), 404)


def test_the_pipelines_bound_decisions_too_for_callers_other_than_http(host: FunctionHost) -> None:
    rt = host.runtime()
    seed_conflict(rt)
    candidate = seed_duplicate(rt)
    too_long = "x" * (DECIDED_BY_MAX_LENGTH + 1)
    with pytest.raises(PermanentError, match="decided_by") as raised:
        decide_conflict(rt, TENANT, "c1", winner="hub", decided_by=too_long)
    assert too_long not in str(raised.value)
    with pytest.raises(PermanentError, match="winner"):
        decide_conflict(rt, TENANT, "c1", winner="nobody", decided_by="me")
    with pytest.raises(PermanentError, match="same"):
        decide_duplicate(rt, TENANT, candidate.id, same="yes", decided_by="me")  # type: ignore[arg-type]
    assert pending(rt)
