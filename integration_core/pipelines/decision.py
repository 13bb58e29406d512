"""What one incoming change does to its hub entity: inbound's decision, with no I/O.

`decide_change` takes the last synced base (None: first contact, no common base), the hub
entity, the incoming change, the task's policy and delete rule, and answers with the
entity's new state, the conflicts left for a decision, whether the source's delete lost
(the record goes back there), whether the source's record is gone for good (its link is
retired), and who hears of the result. inbound.py loads, asks, and carries the answer out
(the etag write, the link, the pushes, the conflict documents: pending ones and those
the policy resolved), so this is tested on plain
values (tests/unit/pipelines/test_decision.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integration_core.dedup import Matcher
from integration_core.models import Entity
from integration_core.pipelines._private import hub_side
from integration_core.sync import FieldConflict, Policy, Resolution, Side, resolve
from integration_core.sync.tombstones import (
    DeleteDecision,
    DeleteOutcome,
    DeleteRule,
    resolve_delete,
    resolve_update_of_deleted,
)

__all__ = ["Incoming", "ChangeDecision", "decide_change", "source_lacks"]


@dataclass(frozen=True)
class Incoming:
    """A change read from `source`, mapped to canonical values."""

    source: str
    values: Mapping[str, Any]
    modified_at: datetime
    deleted: bool = False


@dataclass(frozen=True)
class ChangeDecision:
    entity: Entity  # the entity after the change (the one given, when nothing changed)
    changed: bool = False
    conflicts: tuple[FieldConflict, ...] = ()  # to record, awaiting a decision
    resolved: tuple[FieldConflict, ...] = ()  # decided by the policy: recorded as history
    recreate_in_source: bool = False  # the source's delete lost: re-create the record there
    source_gone: bool = False  # the source's record is deleted and stays so
    push: bool = False  # tell the systems linked to or targeted for the entity
    push_to_source: bool = False  # ... and the source, which lacks some of the result
    detected: int = 0  # fields changed on both sides to different values, however decided


def decide_change(
    entity: Entity,
    incoming: Incoming,
    *,
    base: Mapping[str, Any] | None,
    policy: Policy,
    delete_rule: DeleteRule,
    matcher: Matcher,
    fields: Collection[str],
) -> ChangeDecision:
    """`fields`: the canonical fields the source maps (what it can hold)."""
    if incoming.deleted:
        decision = _decide_delete(entity, incoming, base=base, policy=policy, rule=delete_rule)
    else:
        decision = _decide_update(entity, incoming, base=base, policy=policy, matcher=matcher)
    # A change that left a question open tells no one, unless it changed something too.
    push = decision.changed or not decision.conflicts
    to_source = (
        push
        and not decision.recreate_in_source
        and source_lacks(decision.entity, incoming.values, fields)
    )
    return ChangeDecision(
        entity=decision.entity,
        changed=decision.changed,
        conflicts=decision.conflicts,
        resolved=decision.resolved,
        recreate_in_source=decision.recreate_in_source,
        source_gone=decision.source_gone,
        push=push,
        push_to_source=to_source,
        detected=decision.detected,
    )


def source_lacks(entity: Entity, values: Mapping[str, Any], fields: Collection[str]) -> bool:
    """Whether the source, holding `values`, lacks some of the live entity's mapped values."""
    if entity.deleted:
        return False
    held = {name: values[name] for name in fields if name in values}
    return {name: entity.values[name] for name in fields if name in entity.values} != held


def _decide_delete(
    entity: Entity,
    incoming: Incoming,
    *,
    base: Mapping[str, Any] | None,
    policy: Policy,
    rule: DeleteRule,
) -> ChangeDecision:
    if entity.deleted or entity.archived:
        return ChangeDecision(entity, source_gone=True)
    verdict = resolve_delete(base, hub_side(entity), _side(incoming), policy, rule=rule)
    conflicts, resolved = _pending(verdict), _resolved(verdict)
    detected = int(verdict.conflict is not None)
    if verdict.outcome is DeleteOutcome.KEEP:
        return ChangeDecision(
            entity, resolved=resolved, recreate_in_source=bool(detected), detected=detected
        )
    if verdict.outcome is DeleteOutcome.PENDING:
        return ChangeDecision(entity, conflicts=conflicts, detected=detected)
    deleted = entity.model_copy(
        update={
            "deleted": verdict.outcome is DeleteOutcome.DELETE,
            "archived": verdict.outcome is DeleteOutcome.ARCHIVE,
            "deleted_by": incoming.source,
            "deleted_at": incoming.modified_at,
            "modified_at": max(entity.modified_at, incoming.modified_at),
        }
    )
    return ChangeDecision(
        deleted,
        changed=True,
        conflicts=conflicts,
        resolved=resolved,
        source_gone=True,
        detected=detected,
    )


def _decide_update(
    entity: Entity,
    incoming: Incoming,
    *,
    base: Mapping[str, Any] | None,
    policy: Policy,
    matcher: Matcher,
) -> ChangeDecision:
    restored = False
    if entity.deleted or entity.archived:
        verdict = resolve_update_of_deleted(base, hub_side(entity), _side(incoming), policy)
        if verdict.outcome is not DeleteOutcome.RESTORE:
            detected = int(verdict.conflict is not None)
            return ChangeDecision(
                entity, conflicts=_pending(verdict), resolved=_resolved(verdict), detected=detected
            )
        restored = True
        entity = entity.model_copy(
            update={"deleted": False, "archived": False, "deleted_by": None, "deleted_at": None}
        )
    resolution = resolve(base, hub_side(entity), _side(incoming), policy)
    detected = len(resolution.conflicts)
    resolved = tuple(c for c in resolution.conflicts if c.winner is not None)
    if not resolution.applied and not restored:
        return ChangeDecision(
            entity, conflicts=resolution.pending, resolved=resolved, detected=detected
        )
    times = dict(entity.field_modified_at)
    for name in resolution.applied:
        times[name] = incoming.modified_at
    updated = entity.model_copy(
        update={
            "values": resolution.values,
            "sources": resolution.sources,
            "field_modified_at": {k: v for k, v in times.items() if k in resolution.values},
            "blocking_keys": _keys_after(matcher, entity, resolution),
            "modified_at": max(entity.modified_at, incoming.modified_at),
        }
    )
    return ChangeDecision(
        updated,
        changed=True,
        conflicts=resolution.pending,
        resolved=resolved,
        detected=detected,
    )


def _side(incoming: Incoming) -> Side:
    return Side(
        system=incoming.source, values=dict(incoming.values), modified_at=incoming.modified_at
    )


def _pending(verdict: DeleteDecision) -> tuple[FieldConflict, ...]:
    if verdict.outcome is DeleteOutcome.PENDING and verdict.conflict is not None:
        return (verdict.conflict,)
    return ()


def _resolved(verdict: DeleteDecision) -> tuple[FieldConflict, ...]:
    if verdict.conflict is not None and verdict.conflict.winner is not None:
        return (verdict.conflict,)
    return ()


def _keys_after(matcher: Matcher, entity: Entity, resolution: Resolution) -> list[str]:
    """The entity's blocking keys after a merge, recomputed only when a key field changed."""
    key_fields = matcher.key_fields
    if key_fields is not None and not key_fields & resolution.applied and entity.blocking_keys:
        return entity.blocking_keys
    return matcher.blocking_keys(resolution.values)
