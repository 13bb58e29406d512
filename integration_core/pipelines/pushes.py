"""The push message: one per (entity state, target system), so a repeat is a duplicate."""

from __future__ import annotations

from collections.abc import Sequence

from integration_core.clock import to_iso
from integration_core.messaging import OUTBOUND_QUEUE
from integration_core.models import Entity, Link, MessageKind, SyncMessage, deterministic_id
from integration_core.pipelines.modes import pull_only_connections
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.sync.echo import values_hash

__all__ = ["push_message", "push_everywhere"]


def push_message(
    tenant_id: str,
    entity: Entity,
    target_connection_id: str,
    *,
    correlation_id: str,
    generation: str = "",
) -> SyncMessage:
    """`generation` tells apart deliberate re-pushes of an unchanged state (a decided
    conflict, a record to re-create after its delete lost) from duplicates.
    """
    # The modification time is part of the state: after A -> B -> A the second A is a new
    # state that must be pushed, not a repeat of the first one.
    state = values_hash(
        {
            "values": entity.values,
            "deleted": entity.deleted,
            "archived": entity.archived,
            "modified_at": to_iso(entity.modified_at),
        }
    )
    return SyncMessage(
        message_id=deterministic_id(
            "push", tenant_id, entity.id, target_connection_id, state, generation
        ),
        tenant_id=tenant_id,
        connection_id=target_connection_id,
        kind=MessageKind.PUSH,
        correlation_id=correlation_id,
        payload={
            "entity_id": entity.id,
            "entity_type": entity.entity_type,
            "generation": generation,
        },
    )


def push_everywhere(
    rt: Runtime, entity: Entity, *, targets: Sequence[str] = (), generation: str
) -> None:
    """Push `entity` to every system linked to it and to `targets`, after a decision (but
    not to a connection whose task for the type is pull-only)."""
    linked = {
        document["connectionId"]
        for document in rt.store.query(
            Link.container,
            partition_key=entity.tenant_id,
            filters=[Filter("entityId", "=", entity.id)],
        )
    }
    refused = pull_only_connections(rt.store, entity.tenant_id, entity.entity_type)
    for target in sorted((linked | set(targets)) - refused):
        rt.queue.send(
            OUTBOUND_QUEUE,
            push_message(
                entity.tenant_id, entity, target, correlation_id=generation, generation=generation
            ),
        )
