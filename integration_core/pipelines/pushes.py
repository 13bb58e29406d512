"""Push messages: one push per (entity state, target system), so a repeat is a duplicate.

A push is either a message of its own (the single format, its id the push id: a webhook's
change, an admin's decision, a withdrawal) or one item of a batch message for one target
(`pushes`: what a page of changes yields for it), so that the OutboundWorker can write
them with the target's batch endpoints. Each item keeps its own push id: its result is
stored under it, so a redelivered batch skips what already landed, and a push sent both
alone and in a batch lands once. A batch is bounded by `MAX_PUSHES_PER_MESSAGE` (the
largest batch a provider takes in one call: HubSpot's 100) and by the queue's message size
(a Storage queue holds 64 KB of base64: `MAX_MESSAGE_BYTES` of JSON).

The inbound worker sends a page's batches once the page is applied; but a change is
marked applied (its link written) as it is applied, and a crash in between must lose no
push. So each push also goes out at once, as a delayed stand-in (`safety_net`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from integration_core.clock import to_iso
from integration_core.errors import PermanentError
from integration_core.messaging import OUTBOUND_QUEUE
from integration_core.models import (
    Entity,
    Link,
    MessageKind,
    PushItem,
    SyncMessage,
    Trigger,
    deterministic_id,
)
from integration_core.pipelines.links import WITHDRAW
from integration_core.pipelines.modes import pull_only_connections
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.sync.echo import values_hash

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_PUSHES_PER_MESSAGE",
    "PUSHES",
    "batch_message",
    "batched",
    "item_message",
    "push_everywhere",
    "push_items",
    "push_message",
    "safety_net",
    "send_pushes",
]

PUSHES = "pushes"
MAX_PUSHES_PER_MESSAGE = 100
MAX_MESSAGE_BYTES = 40_000  # of 48 KB of JSON (64 KB base64), room left for the envelope


def push_message(
    tenant_id: str,
    entity: Entity,
    target_connection_id: str,
    *,
    correlation_id: str,
    generation: str = "",
    trigger: Trigger | None,
) -> SyncMessage:
    """`generation` tells apart deliberate re-pushes of an unchanged state (a decided
    conflict, a record to re-create after its delete lost) from duplicates; `trigger` is
    what started the run that made the push (its result is listed under it).
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
        trigger=trigger,
        payload={
            "entity_id": entity.id,
            "entity_type": entity.entity_type,
            "generation": generation,
        },
    )


def push_everywhere(
    rt: Runtime, entity: Entity, *, targets: Sequence[str] = (), generation: str
) -> None:
    """Push `entity` to every system linked to it and to `targets`, after an admin's
    decision or edit (but not to a connection whose task for the type is pull-only)."""
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
                entity.tenant_id,
                entity,
                target,
                correlation_id=generation,
                generation=generation,
                trigger=Trigger.MANUAL,
            ),
        )


def push_items(message: SyncMessage) -> list[PushItem]:
    """The pushes a message carries: its `pushes`, or itself (the single format)."""
    raw = message.payload.get(PUSHES)
    if raw is None:
        entity_id = message.payload.get("entity_id")
        if not isinstance(entity_id, str):
            raise PermanentError(f"message {message.message_id} names no entity_id")
        withdraw = message.payload.get(WITHDRAW)
        entity_type = message.payload.get("entity_type")
        return [
            PushItem(
                push_id=message.message_id,
                entity_id=entity_id,
                entity_type=entity_type if isinstance(entity_type, str) else None,
                generation=str(message.payload.get("generation", "")),
                withdraw=withdraw if isinstance(withdraw, str) else None,
            )
        ]
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_PUSHES_PER_MESSAGE:
        raise PermanentError(
            f"message {message.message_id}: pushes must be a list of 1 to "
            f"{MAX_PUSHES_PER_MESSAGE} pushes"
        )
    return [PushItem.model_validate(item) for item in raw]


def item_message(message: SyncMessage, item: PushItem) -> SyncMessage:
    """The push `item` of `message` as a message of its own (the single format)."""
    payload: dict[str, object] = {"entity_id": item.entity_id, "generation": item.generation}
    if item.entity_type is not None:
        payload["entity_type"] = item.entity_type
    if item.withdraw is not None:
        payload[WITHDRAW] = item.withdraw
    return message.model_copy(update={"message_id": item.push_id, "payload": payload})


def batch_message(template: SyncMessage, items: Sequence[PushItem]) -> SyncMessage:
    """`items` for `template`'s target in one message (one item: the single format)."""
    if len(items) == 1:
        return item_message(template, items[0])
    return template.model_copy(
        update={
            "message_id": deterministic_id(
                PUSHES, template.tenant_id, template.connection_id, *(i.push_id for i in items)
            ),
            "payload": {PUSHES: [item.model_dump(by_alias=True) for item in items]},
        }
    )


def batched(messages: Sequence[SyncMessage]) -> list[SyncMessage]:
    """Single push messages grouped per target into batches, in their order (a push sent
    twice, once)."""
    groups: dict[tuple[str, str], list[SyncMessage]] = {}
    for message in messages:
        groups.setdefault((message.tenant_id, message.connection_id), []).append(message)
    out: list[SyncMessage] = []
    for group in groups.values():
        pushes = {item.push_id: item for message in group for item in push_items(message)}
        items = list(pushes.values())
        out.extend(batch_message(group[0], chunk) for chunk in _bounded(items))
    return out


def _bounded(items: Sequence[PushItem]) -> Iterator[list[PushItem]]:
    chunk: list[PushItem] = []
    size = 0
    for item in items:
        item_size = len(item.model_dump_json(by_alias=True)) + 1
        if chunk and (len(chunk) == MAX_PUSHES_PER_MESSAGE or size + item_size > MAX_MESSAGE_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


def safety_net(message: SyncMessage) -> SyncMessage:
    """A push message's delayed stand-in, with an id of its own (Service Bus's duplicate
    detection would drop a second send of the same id) and the same push id: sent as the
    change is applied, before the change is marked applied, it makes the push land even
    if the batch that should carry it is never sent (a crash before the end of the
    page). When the batch did its work, the stand-in finds the push done and costs one
    read."""
    return message.model_copy(
        update={
            "message_id": deterministic_id("safety-net", message.message_id),
            "payload": {PUSHES: [item.model_dump(by_alias=True) for item in push_items(message)]},
        }
    )


def send_pushes(rt: Runtime, messages: Sequence[SyncMessage]) -> None:
    """Send single push messages, as few batch messages per target as the bounds allow."""
    for message in batched(messages):
        rt.queue.send(OUTBOUND_QUEUE, message)
