"""Conflicts: those a sync leaves pending, decided later by an admin, and those the task's
policy resolved at once, kept for a while so an admin sees which rule chose what.

While a conflict waits, the field keeps its value in every system (the hub keeps its own,
the system keeps the one it sent): outbound leaves pending fields out of what it writes to
that system. Deciding applies the winner to the hub and lets it propagate everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from integration_core.clock import utcnow
from integration_core.errors import ConflictError
from integration_core.models import (
    Conflict,
    ConflictStatus,
    Entity,
    deterministic_id,
)
from integration_core.pipelines._private import oldest_first
from integration_core.pipelines.decisions import ConflictDecision, Lifecycle, checked, claimed
from integration_core.pipelines.pushes import push_everywhere
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.storage.concurrency import update_document
from integration_core.sync import FieldConflict, Strategy
from integration_core.sync.echo import values_hash
from integration_core.sync.policy import HUB
from integration_core.sync.resolve import ABSENT

__all__ = [
    "HUB_WINS",
    "INCOMING_WINS",
    "record_conflicts",
    "pending_fields",
    "list_conflicts",
    "decide_conflict",
]

log = logging.getLogger(__name__)

HUB_WINS = "hub"
INCOMING_WINS = "incoming"
LIFECYCLE = Lifecycle(
    Conflict,
    pending=ConflictStatus.PENDING.value,
    in_flight={ConflictStatus.DECIDING.value: ConflictStatus.DECIDED.value},
)


def _slot(value: Any) -> dict[str, Any]:
    return {"present": False} if value is ABSENT else {"present": True, "value": value}


def record_conflicts(
    rt: Runtime,
    entity: Entity,
    connection_id: str,
    conflicts: Sequence[FieldConflict],
    *,
    policy: Strategy,
    incoming_modified_at: Any,
) -> list[Conflict]:
    """Store each conflict once: pending ones (no winner yet) to wait for a decision, those
    the policy decided as `resolved` history that expires.

    The same disagreement maps to the same id, so a redelivered change writes nothing new.
    """
    stored = []
    now = utcnow()
    for found in conflicts:
        incoming = _slot(found.incoming_value)
        if found.winner is None:
            kind, digest = "conflict", values_hash({"v": incoming})
            outcome: dict[str, Any] = {}
        else:
            hub = _slot(found.hub_value)
            seen = {"hub": hub, "incoming": incoming, "at": str(incoming_modified_at)}
            kind, digest = "conflict-resolved", values_hash(seen)
            outcome = {
                "status": ConflictStatus.RESOLVED,
                "winner": HUB_WINS if found.winner == HUB else INCOMING_WINS,
                "decided_by": policy.value,
                "decided_at": now,
                "ttl": Conflict.resolved_ttl_seconds,
            }
        conflict = Conflict(
            id=deterministic_id(kind, entity.id, connection_id, found.field, digest),
            tenant_id=entity.tenant_id,
            entity_id=entity.id,
            entity_type=entity.entity_type,
            connection_id=connection_id,
            field=found.field,
            base=_slot(found.base_value),
            hub=_slot(found.hub_value),
            incoming=incoming,
            incoming_modified_at=incoming_modified_at,
            policy=policy.value,
            rule=found.rule,
            created_at=now,
            **outcome,
        )
        try:
            rt.store.create(Conflict.container, conflict.to_document())
        except ConflictError:
            continue  # already stored (a redelivery or a re-read)
        if found.winner is None:
            log.info("conflict on %s.%s waits for a decision", entity.id, found.field)
        stored.append(conflict)
    return stored


def pending_fields(rt: Runtime, tenant_id: str, entity_id: str, connection_id: str) -> set[str]:
    documents = rt.store.query(
        Conflict.container,
        partition_key=tenant_id,
        filters=[
            Filter("entityId", "=", entity_id),
            Filter("connectionId", "=", connection_id),
            Filter("status", "in", LIFECYCLE.waiting),
        ],
    )
    return {document["field"] for document in documents}


def list_conflicts(
    rt: Runtime, tenant_id: str, *, status: ConflictStatus | None = ConflictStatus.PENDING
) -> list[Conflict]:
    return oldest_first(rt.store, Conflict, tenant_id, status=status)


def decide_conflict(
    rt: Runtime, tenant_id: str, conflict_id: str, *, winner: str, decided_by: str
) -> Conflict:
    """Apply a decision: "incoming" takes the system's value into the hub, "hub" keeps it.

    The decision is claimed before the data changes (see decisions.py), so of two at once
    exactly one wins; either way every linked system is then brought to the decided value.
    """
    choice = checked(ConflictDecision, winner=winner, decided_by=decided_by)
    deciding = ConflictStatus.DECIDING.value
    with claimed(
        rt.store, LIFECYCLE, tenant_id, conflict_id, claim_as=deciding, **choice.model_dump()
    ) as claim:
        conflict = Conflict.from_document(claim.document)  # ours, or one that died in flight
        if conflict.winner == INCOMING_WINS:
            _take_incoming(rt, conflict)
    entity = Entity.from_document(rt.store.get(Entity.container, tenant_id, conflict.entity_id))
    push_everywhere(rt, entity, generation=conflict_id)
    return Conflict.from_document(claim.outcome())


def _take_incoming(rt: Runtime, conflict: Conflict) -> None:
    now = conflict.decided_at
    assert now is not None  # the claim stamped it

    def take(document: dict[str, Any]) -> dict[str, Any]:
        entity = Entity.from_document(document)
        values, sources = dict(entity.values), dict(entity.sources)
        if conflict.incoming["present"]:
            values[conflict.field] = conflict.incoming["value"]
            sources[conflict.field] = conflict.connection_id
        else:
            values.pop(conflict.field, None)
            sources.pop(conflict.field, None)
        times = {**entity.field_modified_at, conflict.field: now}
        updated = entity.model_copy(
            update={
                "values": values,
                "sources": sources,
                "field_modified_at": times,
                "modified_at": now,
            }
        )
        document.update(updated.to_document())
        return document

    update_document(rt.store, Entity.container, conflict.tenant_id, conflict.entity_id, take)
