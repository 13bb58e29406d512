"""Conflicts and duplicate candidates for the admin API and the CLI: pages of those waiting,
one by id, and a decision — audited, like every admin write, whoever makes it.
"""

from __future__ import annotations

from integration_core.admin.audit import record_write
from integration_core.admin.pages import Page, paginate
from integration_core.models import (
    Conflict,
    ConflictStatus,
    DuplicateCandidate,
    DuplicateStatus,
)
from integration_core.pipelines.conflicts import decide_conflict
from integration_core.pipelines.matching import decide_duplicate
from integration_core.runtime import Runtime
from integration_core.storage import Filter

__all__ = [
    "decide_conflict_as",
    "decide_duplicate_as",
    "get_conflict",
    "get_duplicate",
    "pending_conflicts",
    "pending_duplicates",
]


def pending_conflicts(
    rt: Runtime, tenant_id: str, *, after: str | None = None, limit: int = 50
) -> Page[Conflict]:
    return paginate(
        rt.store,
        Conflict,
        tenant_id,
        filters=[Filter("status", "=", ConflictStatus.PENDING.value)],
        after=after,
        limit=limit,
    )


def get_conflict(rt: Runtime, tenant_id: str, conflict_id: str) -> Conflict:
    return Conflict.from_document(rt.store.get(Conflict.container, tenant_id, conflict_id))


def decide_conflict_as(
    rt: Runtime, tenant_id: str, conflict_id: str, *, winner: str, decided_by: str, actor: str
) -> Conflict:
    decided = decide_conflict(rt, tenant_id, conflict_id, winner=winner, decided_by=decided_by)
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action="decide",
        resource="conflict",
        resource_id=conflict_id,
    )
    return decided


def pending_duplicates(
    rt: Runtime, tenant_id: str, *, after: str | None = None, limit: int = 50
) -> Page[DuplicateCandidate]:
    return paginate(
        rt.store,
        DuplicateCandidate,
        tenant_id,
        filters=[Filter("status", "=", DuplicateStatus.PENDING.value)],
        after=after,
        limit=limit,
    )


def get_duplicate(rt: Runtime, tenant_id: str, candidate_id: str) -> DuplicateCandidate:
    found = rt.store.get(DuplicateCandidate.container, tenant_id, candidate_id)
    return DuplicateCandidate.from_document(found)


def decide_duplicate_as(
    rt: Runtime, tenant_id: str, candidate_id: str, *, same: bool, decided_by: str, actor: str
) -> DuplicateCandidate:
    decided = decide_duplicate(rt, tenant_id, candidate_id, same=same, decided_by=decided_by)
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action="decide",
        resource="duplicate",
        resource_id=candidate_id,
    )
    return decided
