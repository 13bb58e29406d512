"""Deletes as tombstones: what a delete does, and delete against a concurrent update.

The rule: the record's existence is a synthetic field, DELETED_FIELD. A delete (or an
update of a deleted record) that meets no change on the other side since `base` simply
applies. If the other side changed since `base` (or `base` is None: nothing is known),
that is a true conflict on DELETED_FIELD, decided exactly as `resolve` decides a field
conflict: by the policy's strategy, owners (`field_owners[DELETED_FIELD]`), priority,
skew tolerance and tie-breaks; if DELETED_FIELD is protected only "admin" may delete or
restore. The time of the hub's side is the latest per-field time among its changed
fields (when known) and its source the system that set that field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from integration_core.sync._private import ABSENT, PROTECTED_RULE, decide, same
from integration_core.sync.policy import ADMIN, HUB, Policy
from integration_core.sync.records import FieldConflict, Side

__all__ = [
    "DELETED_FIELD",
    "DeleteRule",
    "DeleteOutcome",
    "DeleteDecision",
    "resolve_delete",
    "resolve_update_of_deleted",
]

DELETED_FIELD = "_deleted"


class DeleteRule(StrEnum):
    """What a winning delete from a system does to the hub record."""

    PROPAGATE = "propagate"  # delete the hub record and send tombstones to linked systems
    ARCHIVE = "archive"  # keep the hub record, flagged archived; nothing propagates
    IGNORE = "ignore"  # deletes from systems never touch the hub


class DeleteOutcome(StrEnum):
    DELETE = "delete"  # delete the hub record and propagate the tombstone
    ARCHIVE = "archive"  # archive the hub record; propagate nothing
    KEEP = "keep"  # leave the hub record as it is (live or deleted); drop the change
    RESTORE = "restore"  # undelete the hub record, then apply the update with `resolve`
    PENDING = "pending"  # manual: the hub stays as it is and `conflict` waits for a decision


@dataclass(frozen=True)
class DeleteDecision:
    outcome: DeleteOutcome
    conflict: FieldConflict | None = None  # the DELETED_FIELD conflict, when there was one


def resolve_delete(
    base: Mapping[str, Any] | None,
    hub: Side,
    tombstone: Side,
    policy: Policy,
    *,
    rule: DeleteRule,
) -> DeleteDecision:
    """A system deleted a record whose hub record is live.

    `tombstone` names the deleting system and its time (`field_modified_at[DELETED_FIELD]`
    if known, else `modified_at`); its values are ignored.
    """
    if rule is DeleteRule.IGNORE:
        return DeleteDecision(DeleteOutcome.KEEP)
    winning = DeleteOutcome.DELETE if rule is DeleteRule.PROPAGATE else DeleteOutcome.ARCHIVE
    protected = DELETED_FIELD in policy.protected_fields and tombstone.system != ADMIN
    changed = _changed(base, hub)
    if not changed:
        return DeleteDecision(DeleteOutcome.KEEP if protected else winning)
    live, deleting = _existence_side(hub, changed, False), _existence_side(tombstone, (), True)
    winner: str | None = HUB
    why = PROTECTED_RULE
    if not protected:
        winner, why = decide(DELETED_FIELD, live, deleting, policy)
    conflict = FieldConflict(DELETED_FIELD, False, False, True, winner, why)
    if winner is None:
        return DeleteDecision(DeleteOutcome.PENDING, conflict)
    return DeleteDecision(DeleteOutcome.KEEP if winner == HUB else winning, conflict)


def resolve_update_of_deleted(
    base: Mapping[str, Any] | None,
    hub: Side,
    incoming: Side,
    policy: Policy,
) -> DeleteDecision:
    """A system updated a record whose hub record is deleted (or archived).

    `hub` is the deleted record: the deleting system is `field_sources[DELETED_FIELD]`
    (default `hub.system`), the delete time `field_modified_at[DELETED_FIELD]` (default
    `modified_at`). An update that changes nothing since `base` leaves the record deleted.
    """
    changed = _changed(base, incoming)
    if not changed:
        return DeleteDecision(DeleteOutcome.KEEP)
    if DELETED_FIELD in policy.protected_fields and incoming.system != ADMIN:
        return DeleteDecision(
            DeleteOutcome.KEEP,
            FieldConflict(DELETED_FIELD, False, True, False, HUB, PROTECTED_RULE),
        )
    deleted = _existence_side(hub, (), True)
    updating = _existence_side(incoming, changed, False)
    winner, why = decide(DELETED_FIELD, deleted, updating, policy)
    conflict = FieldConflict(DELETED_FIELD, False, True, False, winner, why)
    if winner is None:
        return DeleteDecision(DeleteOutcome.PENDING, conflict)
    return DeleteDecision(DeleteOutcome.KEEP if winner == HUB else DeleteOutcome.RESTORE, conflict)


def _changed(base: Mapping[str, Any] | None, side: Side) -> tuple[str, ...]:
    """Fields of `side` that differ from `base` (every present field if base is None)."""
    if base is None:
        return tuple(sorted(side.values))
    names = set(base) | set(side.values)
    return tuple(
        sorted(n for n in names if not same(side.values.get(n, ABSENT), base.get(n, ABSENT)))
    )


def _existence_side(side: Side, changed: tuple[str, ...], deleted: bool) -> Side:
    """`side` reduced to DELETED_FIELD, with the time and source of its latest change."""
    time: datetime | None = side.field_modified_at.get(DELETED_FIELD)
    source: str | None = side.field_sources.get(DELETED_FIELD)
    if time is None:
        timed = [(side.field_modified_at[n], n) for n in changed if n in side.field_modified_at]
        if timed:
            # The latest change; among equal times the smallest field name (determinism).
            time = max(t for t, _ in timed)
            name = min(n for t, n in timed if t == time)
            source = source or side.source_of(name)
    if source is None:
        sources = {side.source_of(n) for n in changed}
        source = sources.pop() if len(sources) == 1 else side.system
    return Side(
        system=side.system,
        values={DELETED_FIELD: deleted},
        modified_at=side.modified_at,
        field_modified_at={} if time is None else {DELETED_FIELD: time},
        field_sources={DELETED_FIELD: source},
    )
