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
from datetime import datetime
from typing import Any

from adapters.base import BaseIntegrationAdapter
from integration_core.clock import utcnow
from integration_core.dedup import Decision, Matcher
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
from integration_core.observability.metrics import timed
from integration_core.pipelines._private import hub_side, named
from integration_core.pipelines.conflicts import record_conflicts
from integration_core.pipelines.dead_letters import DEAD_LETTERS
from integration_core.pipelines.mass_delete import guard_deletes
from integration_core.pipelines.matching import find_twin, matcher_for, propose_duplicate
from integration_core.pipelines.misconfigured import marks_misconfigured
from integration_core.pipelines.pushes import push_message
from integration_core.pipelines.results import Tally, already_done, record_result
from integration_core.pipelines.throttle import reschedule, take_budget
from integration_core.runtime import Runtime
from integration_core.storage import DocumentStore, Filter
from integration_core.storage.concurrency import get_or_none, update_document
from integration_core.sync import FieldConflict, Policy, Resolution, Side, resolve
from integration_core.sync.echo import is_echo, is_replay
from integration_core.sync.tombstones import (
    DeleteDecision,
    DeleteOutcome,
    resolve_delete,
    resolve_update_of_deleted,
)
from integration_core.sync.watermark import advance, decode_cursor, encode_cursor, rewind

__all__ = ["process_inbound", "retire_link", "is_retired", "DEAD_LETTERS", "RETIRED"]

log = logging.getLogger(__name__)

MAX_PAGES_PER_MESSAGE = 20
# A retired link's entity id starts with this: its record is gone from that system. The
# link is kept (not deleted) so that a late delivery of the record's older state is
# recognised and dropped, instead of looking like a new record (a duplicate, or a deleted
# one back). Queries by entity id no longer find it.
RETIRED = "retired:"


@dataclass
class _Context:
    rt: Runtime
    message: SyncMessage
    task: SyncTask
    connection: Connection
    field_map: FieldMap
    policy: Policy
    matcher: Matcher
    tally: Tally


def process_inbound(rt: Runtime, message: SyncMessage) -> SyncResult:
    done = already_done(rt.store, message)
    if done is not None:
        log.info("duplicate delivery of %s ignored", message.message_id)
        return done
    task_id = message.payload.get("task_id")
    if not isinstance(task_id, str):
        raise PermanentError(f"message {message.message_id} names no task_id")
    task = named(rt.store, SyncTask, message.tenant_id, task_id)
    connection = named(rt.store, Connection, message.tenant_id, task.connection_id)
    tally = Tally()
    if connection.status is not ConnectionStatus.ACTIVE:
        tally.errors.append(f"connection {connection.id} is {connection.status}; nothing read")
        return record_result(rt.store, message, tally, direction="inbound", task_id=task.id)
    with (
        marks_misconfigured(rt.store, connection, tally),
        rt.connectors.adapter_for(connection) as adapter,
    ):
        context = _Context(
            rt=rt,
            message=message,
            task=task,
            connection=connection,
            field_map=adapter.field_map(task.entity_type),
            policy=Policy.from_dict(task.policy),
            matcher=matcher_for(task),
            tally=tally,
        )
        try:
            rt.breaker.admit(connection.tenant_id, connection.id)
            if message.kind is MessageKind.PULL:
                _pull(context, adapter)
            elif message.kind is MessageKind.WEBHOOK:
                raw_changes = message.payload.get("changes", [])
                _apply_page(context, [Change.model_validate(raw) for raw in raw_changes])
            else:
                raise PermanentError(f"inbound cannot handle {message.kind} messages")
        except RetryableError as err:
            rt.breaker.record_error(connection.tenant_id, connection.id, err)
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
        with timed("fetch", connection=context.connection.id):
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
    kept = guard_deletes(context.rt, context.message, context.task, context.connection, changes)
    context.tally.records_read += len(changes) - len(kept)  # held deletes were read too
    for change in kept:
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
    )


def _apply_change(context: _Context, change: Change, canonical: dict[str, Any]) -> None:
    store, tenant = context.rt.store, context.message.tenant_id
    link_id = Link.make_id(context.connection.id, change.external_id)
    found = get_or_none(store, Link.container, tenant, link_id)
    if found is None:
        _create_entity(context, change, canonical)
        return
    link = Link.from_document(found)
    if is_retired(link):
        context.tally.unchanged += 1  # the record is gone from this system: late news
        _resend_recreate(context, link)
        return
    if is_replay(
        change.version,
        change.modified_at,
        applied_version=link.external_version,
        applied_modified_at=link.applied_modified_at,
    ) or (
        # A tombstone carries the values it had, often exactly what we wrote: never an echo.
        not change.deleted
        and is_echo(
            canonical,
            change.version,
            written_hash=link.written_hash,
            written_version=link.external_version,
        )
    ):
        # Already applied (a redelivery, an overlap re-read, an older reordered delivery)
        # or our own write coming back (echo): nothing new.
        if link.last_message_id == context.message.message_id:
            _resend_pushes(context, link, canonical)
        _relink(context, link, change, base=None)
        context.tally.unchanged += 1
        return
    _merge_into_entity(context, link, change, canonical, base=link.base)


def _create_entity(context: _Context, change: Change, canonical: dict[str, Any]) -> None:
    """A record the hub has no link for: link it to its twin, or create a new entity."""
    store, tenant, connection = context.rt.store, context.message.tenant_id, context.connection
    if change.deleted:
        # A tombstone for a record the hub never had. Remember it (a retired link), so that
        # a late delivery of the record's earlier, live state cannot bring it back.
        context.tally.unchanged += 1
        retire_link(store, _new_link(context, change, canonical, RETIRED))
        return
    entity_id = deterministic_id("entity", tenant, connection.id, change.external_id)
    found = get_or_none(store, Entity.container, tenant, entity_id)
    fresh = found is None
    if found is not None:
        # A crash after this write and before the link: the redelivery finds its own entity.
        entity = Entity.from_document(found)
    else:
        verdict = find_twin(
            context.rt,
            context.matcher,
            tenant_id=tenant,
            entity_type=context.task.entity_type,
            connection_id=connection.id,
            entity_id=entity_id,
            values=canonical,
        )
        if verdict.decision is Decision.LINK and verdict.match is not None:
            _link_to_twin(context, change, canonical, verdict.match.right_id)
            return
        entity = Entity(
            id=entity_id,
            tenant_id=tenant,
            entity_type=context.task.entity_type,
            values=canonical,
            sources=dict.fromkeys(canonical, connection.id),
            field_modified_at=dict.fromkeys(canonical, change.modified_at),
            modified_at=change.modified_at,
            blocking_keys=verdict.keys,
            held_for_review=verdict.decision is Decision.REVIEW,
        )
        try:
            store.create(Entity.container, entity.to_document())
        except ConflictError:
            entity = Entity.from_document(store.get(Entity.container, tenant, entity_id))
        if verdict.decision is Decision.REVIEW and verdict.match is not None:
            propose_duplicate(
                context.rt,
                context.task,
                entity,
                verdict.match,
                connection_id=connection.id,
                external_id=change.external_id,
            )
    # Pushes first, the link last: the link marks the change as applied, so a crash in
    # between re-runs this (and repeated pushes are dropped as duplicates).
    _enqueue_pushes(context, entity, incoming=canonical, fresh=fresh)
    store.upsert(Link.container, _new_link(context, change, canonical, entity.id).to_document())
    context.tally.created += 1


def _new_link(context: _Context, change: Change, canonical: dict[str, Any], entity_id: str) -> Link:
    connection = context.connection
    return Link(
        id=Link.make_id(connection.id, change.external_id),
        tenant_id=context.message.tenant_id,
        connection_id=connection.id,
        external_id=change.external_id,
        entity_id=entity_id,
        entity_type=context.task.entity_type,
        base=canonical,
        external_version=change.version,
        applied_modified_at=change.modified_at,
        last_message_id=context.message.message_id,
    )


def _link_to_twin(
    context: _Context, change: Change, canonical: dict[str, Any], entity_id: str
) -> None:
    """The same person or company, already in the hub from another system: merge into it.

    There is no common base yet, so the merge is a first contact (base None): fields the
    two disagree on are conflicts for the task's policy.
    """
    link = _new_link(context, change, canonical, entity_id)
    _merge_into_entity(context, link, change, canonical, base=None)


@dataclass
class _Outcome:
    """What one attempt of the etag-guarded entity update decided."""

    changed: bool = False
    pending: tuple[FieldConflict, ...] = ()
    recreate_in_source: bool = False


def _merge_into_entity(
    context: _Context,
    link: Link,
    change: Change,
    canonical: dict[str, Any],
    *,
    base: Mapping[str, Any] | None,
) -> None:
    """Fold a change into the linked entity; `base` None means first contact (a new link)."""
    store, tenant, connection = context.rt.store, context.message.tenant_id, context.connection
    outcome = _Outcome()

    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal outcome
        entity = Entity.from_document(document)
        outcome = _Outcome()
        updated = _decide(context, base, change, canonical, entity, outcome)
        if updated is None:
            return None
        document.update(updated.to_document())
        return document

    stored = update_document(store, Entity.container, tenant, link.entity_id, mutate)
    assert stored is not None
    entity = Entity.from_document(stored)
    if outcome.pending:
        record_conflicts(
            context.rt,
            entity,
            connection.id,
            outcome.pending,
            incoming_modified_at=change.modified_at,
        )
    if outcome.recreate_in_source:
        # The delete lost to a newer hub change: the record goes back into the source.
        retire_link(
            store,
            link,
            version=change.version,
            modified_at=change.modified_at,
            message_id=context.message.message_id,
        )
        _send_recreate(context, entity, link.external_id)
    elif base is None:
        # A new link first: a push to the source must find it, or it would create a twin.
        store.upsert(Link.container, link.to_document())
    if outcome.changed or not outcome.pending:
        # A source whose delete lost hears only of the re-create (sent above).
        _enqueue_pushes(
            context, entity, incoming=canonical, to_source=not outcome.recreate_in_source
        )
    if base is not None and not outcome.recreate_in_source:
        # After the pushes: the link marks the change as applied, so a crash before this
        # point re-runs the merge (a no-op now) and sends the pushes again.
        _relink(context, link, change, base=canonical)
    if base is None:
        context.tally.linked += 1
    elif outcome.changed:
        context.tally.updated += 1
    else:
        context.tally.unchanged += 1


def _decide(
    context: _Context,
    base: Mapping[str, Any] | None,
    change: Change,
    canonical: dict[str, Any],
    entity: Entity,
    outcome: _Outcome,
) -> Entity | None:
    """The entity after `change` under the task's policy and delete rule (None: unchanged)."""
    source = context.connection.id
    hub = hub_side(entity)
    incoming = Side(system=source, values=canonical, modified_at=change.modified_at)
    gone = entity.deleted or entity.archived
    if change.deleted:
        if gone:
            return None
        verdict = resolve_delete(base, hub, incoming, context.policy, rule=context.task.delete_rule)
        outcome.pending = (verdict.conflict,) if verdict.conflict and _pending(verdict) else ()
        if verdict.outcome is DeleteOutcome.KEEP:
            outcome.recreate_in_source = verdict.conflict is not None
            return None
        if verdict.outcome is DeleteOutcome.PENDING:
            return None
        outcome.changed = True
        return entity.model_copy(
            update={
                "deleted": verdict.outcome is DeleteOutcome.DELETE,
                "archived": verdict.outcome is DeleteOutcome.ARCHIVE,
                "deleted_by": source,
                "deleted_at": change.modified_at,
                "modified_at": max(entity.modified_at, change.modified_at),
            }
        )
    if gone:
        verdict = resolve_update_of_deleted(base, hub, incoming, context.policy)
        if verdict.outcome is not DeleteOutcome.RESTORE:
            outcome.pending = (verdict.conflict,) if verdict.conflict and _pending(verdict) else ()
            return None
        outcome.changed = True
        entity = entity.model_copy(
            update={"deleted": False, "archived": False, "deleted_by": None, "deleted_at": None}
        )
        hub = hub_side(entity)  # restored: no deletion stamps any more
    resolution = resolve(base, hub, incoming, context.policy)
    outcome.pending = resolution.pending
    if not resolution.applied and not outcome.changed:
        return None
    outcome.changed = True
    times = dict(entity.field_modified_at)
    for name in resolution.applied:
        times[name] = change.modified_at
    return entity.model_copy(
        update={
            "values": resolution.values,
            "sources": resolution.sources,
            "field_modified_at": {k: v for k, v in times.items() if k in resolution.values},
            "blocking_keys": _keys_after(context.matcher, entity, resolution),
            "modified_at": max(entity.modified_at, change.modified_at),
        }
    )


def _keys_after(matcher: Matcher, entity: Entity, resolution: Resolution) -> list[str]:
    """The entity's blocking keys after a merge, recomputed only when a key field changed."""
    key_fields = matcher.key_fields
    if key_fields is not None and not key_fields & resolution.applied and entity.blocking_keys:
        return entity.blocking_keys
    return matcher.blocking_keys(resolution.values)


def _resend_pushes(context: _Context, link: Link, canonical: dict[str, Any]) -> None:
    """This very message wrote the link and then failed: its pushes may not have gone out.

    A twin's link is written before its pushes (so that they find it); for every other
    path the pushes went first and sending them again is dropped as a duplicate.
    """
    found = get_or_none(context.rt.store, Entity.container, link.tenant_id, link.entity_id)
    if found is not None:
        _enqueue_pushes(context, Entity.from_document(found), incoming=canonical)


def _pending(verdict: DeleteDecision) -> bool:
    return verdict.outcome is DeleteOutcome.PENDING


def _send_recreate(context: _Context, entity: Entity, external_id: str) -> None:
    context.rt.queue.send(
        OUTBOUND_QUEUE,
        push_message(
            entity.tenant_id,
            entity,
            context.connection.id,
            correlation_id=context.message.correlation_id,
            generation=f"recreate:{external_id}",
        ),
    )


def _resend_recreate(context: _Context, link: Link) -> None:
    """A live entity with no record in this system after a lost delete: re-create it.

    Covers a crash between retiring the link and sending the re-create (same message id,
    so a re-create already sent is dropped as a duplicate).
    """
    store, entity_id = context.rt.store, link.entity_id.removeprefix(RETIRED)
    found = get_or_none(store, Entity.container, link.tenant_id, entity_id)
    if found is None:
        return
    entity = Entity.from_document(found)
    if entity.deleted or entity.archived or entity.merged_into is not None:
        return
    linked = store.query(
        Link.container,
        partition_key=link.tenant_id,
        filters=[
            Filter("entityId", "=", entity.id),
            Filter("connectionId", "=", link.connection_id),
        ],
        limit=1,
    )
    if not linked:
        _send_recreate(context, entity, link.external_id)


def is_retired(link: Link) -> bool:
    return link.entity_id.startswith(RETIRED)


def retire_link(
    store: DocumentStore,
    link: Link,
    *,
    version: str | None = None,
    modified_at: datetime | None = None,
    message_id: str | None = None,
) -> None:
    """The linked record is gone from its system: keep the link, pointing at no entity."""
    retired = link.model_copy(
        update={
            "entity_id": RETIRED + link.entity_id.removeprefix(RETIRED),
            "external_version": version or link.external_version,
            "applied_modified_at": modified_at or link.applied_modified_at,
            "last_message_id": message_id or link.last_message_id,
        }
    )
    store.upsert(Link.container, retired.to_document())


def _relink(context: _Context, link: Link, change: Change, *, base: dict[str, Any] | None) -> None:
    """Record that this link has seen `change` (and, after a merge, its new base)."""

    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        current = Link.from_document(document)
        newer = (
            current.applied_modified_at is None or change.modified_at >= current.applied_modified_at
        )
        seen = (
            change.version == current.external_version
            and change.modified_at == current.applied_modified_at
        )
        if base is None and (seen or not newer):
            return None  # a re-read or a stale delivery: nothing to record (idle = no writes)
        updated = current.model_copy(
            update={
                "external_version": change.version if newer else current.external_version,
                "applied_modified_at": max(
                    change.modified_at, current.applied_modified_at or change.modified_at
                ),
                "base": base if base is not None else current.base,
                # Once the system has sent data of its own, what we last wrote there is no
                # longer what it holds: a later change back to those values is real.
                "written_hash": None if base is not None else current.written_hash,
                "last_message_id": context.message.message_id,
            }
        )
        document.update(updated.to_document())
        return document

    update_document(context.rt.store, Link.container, link.tenant_id, link.id, mutate)


def _enqueue_pushes(
    context: _Context,
    entity: Entity,
    *,
    incoming: Mapping[str, Any],
    to_source: bool = True,
    fresh: bool = False,
) -> None:
    """Tell every system linked to or targeted for this entity; outbound skips no-ops.

    The source itself hears back only when the merge gave it values it does not have. A
    `fresh` entity (created by this very change) has no links yet to look up.
    """
    if entity.archived or entity.held_for_review:
        return  # archived: no longer synced; held: waits for a duplicate decision
    source = context.connection.id
    linked = (
        set()
        if fresh
        else {
            document["connectionId"]
            for document in context.rt.store.query(
                Link.container,
                partition_key=entity.tenant_id,
                filters=[Filter("entityId", "=", entity.id)],
            )
        }
    )
    targets = (linked | set(context.task.target_connection_ids)) - {source}
    mapped = set(context.field_map.fields)
    source_view = {f: entity.values[f] for f in mapped if f in entity.values}
    in_source = {f: incoming[f] for f in mapped if f in incoming}
    if to_source and not entity.deleted and source_view != in_source:
        targets.add(source)
    for target in sorted(targets):
        context.rt.queue.send(
            OUTBOUND_QUEUE,
            push_message(
                entity.tenant_id, entity, target, correlation_id=context.message.correlation_id
            ),
        )
