"""Conflicts and duplicate candidates for the admin API and the CLI: pages of those waiting
(and of conflicts already resolved or decided), one by id, and a decision — audited, like
every admin write, whoever makes it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, TypeVar

from integration_core.admin.audit import record_write
from integration_core.admin.pages import Page, PageQuery, newest_first, paginate
from integration_core.models import (
    Conflict,
    ConflictStatus,
    Document,
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
    "ConflictQuery",
    "list_conflicts",
    "pending_duplicates",
]

D = TypeVar("D", bound=Document)


ListedStatus = Literal["pending", "resolved", "decided"]


class ConflictQuery(PageQuery):
    """`?limit=&after=&status=` on the conflicts list: `pending` (the default) waits for a
    decision, `resolved` was decided by the task's policy, `decided` by an admin."""

    status: ListedStatus = "pending"


def list_conflicts(
    rt: Runtime,
    tenant_id: str,
    *,
    status: ListedStatus = "pending",
    after: str | None = None,
    limit: int = 50,
) -> Page[Conflict]:
    """Pending conflicts in id order (a stable queue); resolved and decided ones newest
    first (recent history)."""
    if status == "pending":
        return _pending(rt, Conflict, ConflictStatus.PENDING, tenant_id, after=after, limit=limit)
    return newest_first(
        rt.store,
        Conflict,
        tenant_id,
        time_field="decidedAt",
        filters=[Filter("status", "=", status)],
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
    pending = DuplicateStatus.PENDING
    return _pending(rt, DuplicateCandidate, pending, tenant_id, after=after, limit=limit)


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


def _pending(
    rt: Runtime,
    model: type[D],
    status: StrEnum,
    tenant_id: str,
    *,
    after: str | None,
    limit: int,
) -> Page[D]:
    filters = [Filter("status", "=", status.value)]
    return paginate(rt.store, model, tenant_id, filters=filters, after=after, limit=limit)
