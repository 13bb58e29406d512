"""InboundWorker: read a source's changes and fold them into the hub.

For each change: map to canonical -> find its link -> drop our own echo -> resolve
against the hub record with the task's policy -> store entity and link (etags) -> enqueue a
push to every other system that must hear of it. A record that cannot be mapped goes to
the `dead-letters` container with its reason; the rest of the page carries on. The task's
cursor moves only after its page is applied, so a crash re-reads rather than skips.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.base import BaseIntegrationAdapter
from integration_core.clock import utcnow
from integration_core.errors import ConflictError, PermanentError, RetryableError
from integration_core.mapping import FieldMap
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from integration_core.models import (
    Change,
    Connection,
    ConnectionStatus,
    Entity,
    Link,
    MessageKind,
    SyncMessage,
    SyncResult,
    SyncTask,
    deterministic_id,
)
from integration_core.pipelines.results import Tally, already_done, record_result
from integration_core.pipelines.throttle import reschedule, take_budget
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.storage.concurrency import get_or_none, update_document
from integration_core.sync import Policy, Side, resolve
from integration_core.sync.echo import values_hash
from integration_core.sync.watermark import advance, decode_cursor, encode_cursor, rewind

__all__ = ["process_inbound", "push_message", "DEAD_LETTERS"]

log = logging.getLogger(__name__)

DEAD_LETTERS = "dead-letters"
MAX_PAGES_PER_MESSAGE = 20


@dataclass
class _Context:
    rt: Runtime
    message: SyncMessage
    task: SyncTask
    connection: Connection
    field_map: FieldMap
    policy: Policy
    tally: Tally


def push_message(
    tenant_id: str, entity: Entity, target_connection_id: str, *, correlation_id: str
) -> SyncMessage:
    """One push per (entity state, target): a repeat of the same state is the same message."""
    state = values_hash({"values": entity.values, "deleted": entity.deleted})
    return SyncMessage(
        message_id=deterministic_id("push", tenant_id, entity.id, target_connection_id, state),
        tenant_id=tenant_id,
        connection_id=target_connection_id,
        kind=MessageKind.PUSH,
        correlation_id=correlation_id,
        payload={"entity_id": entity.id, "entity_type": entity.entity_type},
    )


def process_inbound(rt: Runtime, message: SyncMessage) -> SyncResult:
    done = already_done(rt.store, message)
    if done is not None:
        log.info("duplicate delivery of %s ignored", message.message_id)
        return done
    task_id = message.payload.get("task_id")
    if not isinstance(task_id, str):
        raise PermanentError(f"message {message.message_id} names no task_id")
    task = SyncTask.from_document(rt.store.get(SyncTask.container, message.tenant_id, task_id))
    connection = Connection.from_document(
        rt.store.get(Connection.container, message.tenant_id, task.connection_id)
    )
    tally = Tally()
    if connection.status is not ConnectionStatus.ACTIVE:
        tally.errors.append(f"connection {connection.id} is {connection.status}; nothing read")
        return record_result(rt.store, message, tally, direction="inbound", task_id=task.id)
    adapter = rt.connectors.adapter_for(connection)
    context = _Context(
        rt=rt,
        message=message,
        task=task,
        connection=connection,
        field_map=adapter.field_map(task.entity_type),
        policy=Policy.from_dict(task.policy),
        tally=tally,
    )
    try:
        if message.kind is MessageKind.PULL:
            _pull(context, adapter)
        elif message.kind is MessageKind.WEBHOOK:
            changes = [Change.model_validate(raw) for raw in message.payload.get("changes", [])]
            _apply_page(context, changes)
        else:
            raise PermanentError(f"inbound cannot handle {message.kind} messages")
    except RetryableError as err:
        if err.retry_after is None:
            raise
        # Pages applied so far are committed (cursor); the follow-up resumes after them.
        later = reschedule(rt, INBOUND_QUEUE, message, err)
        tally.errors.append(f"throttled: continues as {later.message_id}")
    return record_result(rt.store, message, tally, direction="inbound", task_id=task.id)


def _pull(context: _Context, adapter: BaseIntegrationAdapter) -> None:
    """Read from an overlap before the committed watermark; commit past each applied page."""
    rt, task = context.rt, context.task
    committed = decode_cursor(task.cursor) if task.cursor else None
    position = rewind(committed, adapter.read_overlap)
    for _ in range(MAX_PAGES_PER_MESSAGE):
        take_budget(rt, adapter)
        page = adapter.read_changes(
            task.entity_type, position, page_size=rt.settings.sync_page_size
        )
        _apply_page(context, page.changes)
        position = advance(position, page.changes)
        moved = advance(committed, page.changes)
        if moved != committed and moved is not None:
            committed = moved
            _save_cursor(rt, task, encode_cursor(committed))
        if not page.has_more:
            return
    # More pages remain: hand them to a follow-up message rather than running unbounded.
    marker = encode_cursor(position) if position else ""
    follow_up = context.message.model_copy(
        update={"message_id": deterministic_id(context.message.message_id, "more", marker)}
    )
    rt.queue.send(INBOUND_QUEUE, follow_up)


def _save_cursor(rt: Runtime, task: SyncTask, cursor: str) -> None:
    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        document["cursor"] = cursor
        return document

    update_document(rt.store, SyncTask.container, task.tenant_id, task.id, mutate)


def _apply_page(context: _Context, changes: Sequence[Change]) -> None:
    for change in changes:
        context.tally.records_read += 1
        try:
            canonical = context.field_map.to_canonical(change.values)
        except PermanentError as err:
            _dead_letter(context, change, str(err))
            continue
        _apply_change(context, change, canonical)


def _dead_letter(context: _Context, change: Change, reason: str) -> None:
    message = context.message
    document = {
        "id": deterministic_id("dead", message.message_id, change.external_id, change.version),
        "tenantId": message.tenant_id,
        "connectionId": context.connection.id,
        "taskId": context.task.id,
        "messageId": message.message_id,
        "externalId": change.external_id,
        "reason": reason,
        "change": change.model_dump(mode="json"),
        "createdAt": utcnow().isoformat(),
    }
    context.rt.store.upsert(DEAD_LETTERS, document)
    context.tally.errors.append(f"{change.external_id}: {reason}")
    log.warning(
        "dead-lettered %s: %s",
        change.external_id,
        reason,
        extra={"correlation_id": message.correlation_id},
    )


def _apply_change(context: _Context, change: Change, canonical: dict[str, Any]) -> None:
    store, tenant = context.rt.store, context.message.tenant_id
    link_id = Link.make_id(context.connection.id, change.external_id)
    found = get_or_none(store, Link.container, tenant, link_id)
    if found is None:
        _create_entity(context, change, canonical)
        return
    link = Link.from_document(found)
    if link.external_version == change.version or link.written_hash == values_hash(canonical):
        # Already applied (redelivery) or our own write coming back (echo): nothing new.
        _remember_version(context, link, change)
        context.tally.unchanged += 1
        return
    _merge_into_entity(context, link, change, canonical)


def _create_entity(context: _Context, change: Change, canonical: dict[str, Any]) -> None:
    store, tenant, connection = context.rt.store, context.message.tenant_id, context.connection
    if change.deleted:
        context.tally.unchanged += 1  # a tombstone for a record the hub never had
        return
    entity = Entity(
        id=deterministic_id("entity", tenant, connection.id, change.external_id),
        tenant_id=tenant,
        entity_type=context.task.entity_type,
        values=canonical,
        sources=dict.fromkeys(canonical, connection.id),
        modified_at=change.modified_at,
    )
    try:
        store.create(Entity.container, entity.to_document())
    except ConflictError:
        # A crash after this write and before the link: the redelivery finds its own entity.
        entity = Entity.from_document(store.get(Entity.container, tenant, entity.id))
    link = Link(
        id=Link.make_id(connection.id, change.external_id),
        tenant_id=tenant,
        connection_id=connection.id,
        external_id=change.external_id,
        entity_id=entity.id,
        entity_type=entity.entity_type,
        base=canonical,
        external_version=change.version,
        last_message_id=context.message.message_id,
    )
    store.upsert(Link.container, link.to_document())
    context.tally.created += 1
    _enqueue_pushes(context, entity, incoming=canonical)


def _merge_into_entity(
    context: _Context, link: Link, change: Change, canonical: dict[str, Any]
) -> None:
    store, tenant, connection = context.rt.store, context.message.tenant_id, context.connection
    incoming = Side(system=connection.id, values=canonical, modified_at=change.modified_at)
    changed = False

    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal changed
        entity = Entity.from_document(document)
        hub = Side(
            system="hub",
            values=entity.values,
            modified_at=entity.modified_at,
            field_sources=entity.sources,
        )
        resolution = resolve(link.base, hub, incoming, context.policy)
        deleted = change.deleted and not entity.deleted
        changed = bool(resolution.applied) or deleted
        if not changed:
            return None
        document.update(
            Entity(
                id=entity.id,
                tenant_id=tenant,
                entity_type=entity.entity_type,
                values=resolution.values,
                sources=resolution.sources,
                modified_at=max(entity.modified_at, change.modified_at),
                deleted=entity.deleted or change.deleted,
            ).to_document()
        )
        return document

    stored = update_document(store, Entity.container, tenant, link.entity_id, mutate)
    assert stored is not None
    entity = Entity.from_document(stored)

    def relink(document: dict[str, Any]) -> dict[str, Any]:
        document.update(
            base=canonical,
            externalVersion=change.version,
            lastMessageId=context.message.message_id,
        )
        return document

    update_document(store, Link.container, tenant, link.id, relink)
    if changed:
        context.tally.updated += 1
    else:
        context.tally.unchanged += 1
    _enqueue_pushes(context, entity, incoming=canonical)


def _remember_version(context: _Context, link: Link, change: Change) -> None:
    if link.external_version == change.version:
        return

    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        document["externalVersion"] = change.version
        return document

    update_document(context.rt.store, Link.container, link.tenant_id, link.id, mutate)


def _enqueue_pushes(context: _Context, entity: Entity, *, incoming: Mapping[str, Any]) -> None:
    """Tell every system linked to or targeted for this entity; outbound skips no-ops."""
    source = context.connection.id
    linked = {
        document["connectionId"]
        for document in context.rt.store.query(
            Link.container,
            partition_key=entity.tenant_id,
            filters=[Filter("entityId", "=", entity.id)],
        )
    }
    targets = (linked | set(context.task.target_connection_ids)) - {source}
    source_view = {field: entity.values.get(field) for field in incoming}
    if source_view != dict(incoming) or _hub_has_more(context, entity, incoming):
        targets.add(source)  # the merge produced values the source does not have yet
    for target in sorted(targets):
        context.rt.queue.send(
            OUTBOUND_QUEUE,
            push_message(
                entity.tenant_id, entity, target, correlation_id=context.message.correlation_id
            ),
        )


def _hub_has_more(context: _Context, entity: Entity, incoming: Mapping[str, Any]) -> bool:
    mapped = set(context.field_map.fields)
    return any(field in mapped and field not in incoming for field in entity.values)
