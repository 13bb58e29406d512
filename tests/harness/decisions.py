"""Admin decisions' test data: a pending conflict and a pending duplicate, ready to decide.

`seed_conflict`: entity `e1` (linked to crm, whose value it holds: "hub value" in `title`)
and crm's newer "incoming value".
`seed_duplicate`: entity `held` (from crm, held for review) may be `existing` (from mkt).
"""

from __future__ import annotations

from typing import Any

from integration_core.clock import utcnow
from integration_core.models import Conflict, DuplicateCandidate, Entity, Link
from integration_core.runtime import Runtime

__all__ = ["TENANT", "linked_entity", "seed_conflict", "seed_duplicate"]

TENANT = "t1"


def linked_entity(
    rt: Runtime, entity_id: str, connection_id: str, values: dict[str, Any], *, held: bool = False
) -> Entity:
    """An entity whose every value came from `connection_id`, linked there as x-<id>."""
    now = utcnow()
    entity = Entity(
        id=entity_id,
        tenant_id=TENANT,
        entity_type="contact",
        values=values,
        sources=dict.fromkeys(values, connection_id),
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
    return entity


def seed_conflict(rt: Runtime) -> Conflict:
    entity = linked_entity(rt, "e1", "crm", {"title": "hub value"})
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
        incoming_modified_at=utcnow(),
    )
    rt.store.create(Conflict.container, conflict.to_document())
    return conflict


def seed_duplicate(rt: Runtime) -> DuplicateCandidate:
    """`held` came from crm and may be `existing` (from mkt); it waits for a decision."""
    for entity_id, connection_id, held in (("held", "crm", True), ("existing", "mkt", False)):
        values = {"first_name": "Grace", "last_name": "Hopper", "email": f"{entity_id}@x.example"}
        linked_entity(rt, entity_id, connection_id, values, held=held)
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
