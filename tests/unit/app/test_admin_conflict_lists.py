"""`GET admin/conflicts?status=`: pending (the default), resolved by the task's policy or
decided by an admin; newest first for the last two, one tenant's only, bad status a 400.
On SQLite (unit) and the Cosmos DB emulator (integration)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integration_core.clock import utcnow
from integration_core.models import Conflict, ConflictStatus
from tests.harness.admin_api import call, ok, problem
from tests.harness.decisions import TENANT, seed_conflict
from tests.harness.function_host import FunctionHost


def _settled(
    pending: Conflict, conflict_id: str, status: ConflictStatus, minutes_ago: int, **kw: str
) -> Conflict:
    return pending.model_copy(
        update={
            "id": conflict_id,
            "status": status,
            "policy": "last_write_wins",
            "rule": "later modification",
            "winner": "incoming",
            "decided_at": utcnow() - timedelta(minutes=minutes_ago),
            **kw,
        }
    )


@pytest.fixture
def listed(host_on_each_backend: FunctionHost) -> FunctionHost:
    """c1 pending; r-old and r-new resolved; d1 decided; t2's own resolved one."""
    host = host_on_each_backend
    pending = seed_conflict(host.runtime())
    for settled in (
        _settled(pending, "r-old", ConflictStatus.RESOLVED, 30),
        _settled(pending, "r-new", ConflictStatus.RESOLVED, 1),
        _settled(pending, "d1", ConflictStatus.DECIDED, 5, decided_by="admin@test"),
        _settled(pending, "other", ConflictStatus.RESOLVED, 2, tenant_id="t2"),
    ):
        host.runtime().store.upsert(Conflict.container, settled.to_document())
    return host


def _ids(host: FunctionHost, query: str = "", **kw: str) -> list[str]:
    return [c["id"] for c in ok(call(host, "GET", f"conflicts{query}", **kw))["items"]]


def test_the_default_lists_the_pending_only(listed: FunctionHost) -> None:
    assert _ids(listed) == _ids(listed, "?status=pending") == ["c1"]


def test_resolved_ones_are_listed_newest_first_with_their_rule(listed: FunctionHost) -> None:
    assert _ids(listed, "?status=resolved") == ["r-new", "r-old"]
    newest = ok(call(listed, "GET", "conflicts?status=resolved&limit=1"))
    assert [(c["policy"], c["rule"], c["winner"]) for c in newest["items"]] == [
        ("last_write_wins", "later modification", "incoming")
    ]
    after = newest["next"]
    assert _ids(listed, f"?status=resolved&limit=1&after={after}") == ["r-old"]


def test_decided_ones_are_listed_apart(listed: FunctionHost) -> None:
    assert _ids(listed, "?status=decided") == ["d1"]


def test_another_tenant_sees_only_its_own(listed: FunctionHost) -> None:
    assert _ids(listed, "?status=resolved", tenant="t2") == ["other"]
    assert _ids(listed, tenant="t2") == []
    assert TENANT != "t2"


@pytest.mark.parametrize("status", ["bogus", "deciding", "PENDING", "pending,resolved"])
def test_a_status_that_is_not_listed_is_refused(listed: FunctionHost, status: str) -> None:
    found = problem(call(listed, "GET", f"conflicts?status={status}"), 400)
    assert [e["location"] for e in found["errors"]] == ["status"]
    assert "'resolved'" in found["errors"][0]["message"]


def test_the_openapi_document_declares_the_status_filter(listed: FunctionHost) -> None:
    document = ok(call(listed, "GET", "openapi.json"))
    parameters = document["paths"]["/api/admin/conflicts"]["get"]["parameters"]
    (status,) = [p for p in parameters if p["name"] == "status"]
    assert status["in"] == "query"
    assert set(status["schema"]["enum"]) == {"pending", "resolved", "decided"}
    assert status["schema"]["default"] == "pending"


def test_a_resolved_conflict_cannot_be_decided_again(listed: FunctionHost) -> None:
    body = {"winner": "hub", "decided_by": "admin@test"}
    problem(call(listed, "POST", "conflicts/r-new/decision", body), 409)
    stored = listed.runtime().store.get(Conflict.container, TENANT, "r-new")
    assert (stored["status"], stored["winner"]) == ("resolved", "incoming")
