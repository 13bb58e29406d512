"""InboundWorker: read a source's changes and fold them into the hub.

For each change: map to canonical -> find its link (none: find its twin, or a new entity)
-> drop our own echo -> decide (decision.py: pure) -> carry the decision out: the entity
(etag), conflict documents, the link (links.py), a push to every system that must hear
of it. A record that cannot be mapped goes to the `dead-letters` container with its
reason; the rest of the page carries on. The task's cursor moves only after its page is
applied, so a crash re-reads rather than skips. A pull counts the changes that were new
to the hub against the connection's webhook registrations (reconcile.py: missed webhooks).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from integration_core.clock import to_iso, utcnow
from integration_core.dedup import Decision, Matcher
from integration_core.errors import ConflictError, PermanentError, RetryableError
from integration_core.mapping import ObjectMapping
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
from integration_core.observability.metrics import record_dedup, timed
from integration_core.pipelines._private import named
from integration_core.pipelines.conflicts import record_conflicts
from integration_core.pipelines.dead_letters import DEAD_LETTERS
from integration_core.pipelines.decision import (
    ChangeDecision,
    Incoming,
    decide_change,
    source_lacks,
)
from integration_core.pipelines.links import (
    RETIRED,
    intent_values,
    is_retired,
    new_link,
    nothing_new,
    relink,
    retire_link,
    withdraw_copies,
)
from integration_core.pipelines.mappings import task_mapping
from integration_core.pipelines.mass_delete import guard_deletes
from integration_core.pipelines.matching import find_twin, matcher_for, propose_duplicate
from integration_core.pipelines.misconfigured import marks_misconfigured
from integration_core.pipelines.modes import pull_only_connections
from integration_core.pipelines.pushes import (
    push_message,
    safety_net,
    send_pushes,
)
from integration_core.pipelines.reconcile import count_missed_webhooks
from integration_core.pipelines.results import (
    POSTPONED,
    Tally,
    already_done,
    record_progress,
    record_result,
)
from integration_core.pipelines.throttle import reschedule, take_budget
from integration_core.pipelines.webhook_delivery import is_delivery, process_delivery
from integration_core.ports import IntegrationAdapter, RejectedRecord
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.storage.concurrency import get_or_none, update_document
from integration_core.sync import Policy

__all__ = ["process_inbound", "apply_changes", "DEAD_LETTERS", "FROM_START"]

log = logging.getLogger(__name__)

MAX_PAGES_PER_MESSAGE = 20
_VERDICTS = {Decision.LINK: "linked", Decision.REVIEW: "review", Decision.NEW: "new"}
# A pull message's payload flag: read from the start, not from the task's stored cursor.
FROM_START = "from_start"


@dataclass
class _Context:
    rt: Runtime
    message: SyncMessage
    task: SyncTask
    connection: Connection
    mapping: ObjectMapping
    policy: Policy
    matcher: Matcher
    tally: Tally
    # Connections whose task for this type is pull-only: the hub never writes to them.
    pull_only: frozenset[str]
    # Changes the hub had not seen (not replays, not echoes): what webhooks should announce.
    news: list[Change] = field(default_factory=list)
    # The page's pushes, sent once it is applied: one batch message per target (pushes.py).
    pushes: list[SyncMessage] = field(default_factory=list)

    def push(self, message: SyncMessage) -> None:
        """Batch `message` with the page's other pushes; its stand-in goes out now, before
        the change is marked applied (pushes.py)."""
        self.rt.queue.send(
            OUTBOUND_QUEUE,
            safety_net(message),
            delay_seconds=self.rt.settings.push_safety_net_seconds,
        )
        self.pushes.append(message)


def process_inbound(rt: Runtime, message: SyncMessage) -> SyncResult:
    done = already_done(rt.store, message)
    if done is not None:
        log.info("duplicate delivery of %s ignored", message.message_id)
        return done
    if message.kind is MessageKind.WEBHOOK and is_delivery(message):
        return process_delivery(rt, message, apply=apply_changes)
    task_id = message.payload.get("task_id")
    if not isinstance(task_id, str):
        raise PermanentError(f"message {message.message_id} names no task_id")
    task = named(rt.store, SyncTask, message.tenant_id, task_id)
    connection = named(rt.store, Connection, message.tenant_id, task.connection_id)
    tally = Tally()
    if connection.status is not ConnectionStatus.ACTIVE:
        tally.errors.append(f"connection {connection.id} is {connection.status}; nothing read")
        return record_result(rt.store, message, tally, direction="inbound", task_id=task.id)
    if not task.mode.reads:
        tally.errors.append(f"task {task.id} is push-only: nothing is read from {connection.id}")
        return record_result(rt.store, message, tally, direction="inbound", task_id=task.id)
    with (
        marks_misconfigured(rt.store, connection, tally),
        rt.connectors.adapter_for(connection) as adapter,
    ):
        context = _context(rt, message, task, connection, adapter, tally)
        try:
            rt.breaker.admit(connection.tenant_id, connection.id)
            if message.kind is MessageKind.PULL:
                _pull(context, adapter)
            elif message.kind is MessageKind.WEBHOOK:
                raw_changes = message.payload.get("changes", [])
                _apply_page(context, [Change.parse(raw) for raw in raw_changes])
            else:
                raise PermanentError(f"inbound cannot handle {message.kind} messages")
        except RetryableError as err:
            rt.breaker.record_error(connection.tenant_id, connection.id, err)
            if err.retry_after is None:
                raise
            # Pages applied so far are committed (cursor); the follow-up resumes after them.
            later = reschedule(rt, INBOUND_QUEUE, message, err)
            tally.errors.append(f"{POSTPONED}{later.message_id}")
    return record_result(rt.store, message, tally, direction="inbound", task_id=task.id)


def _context(
    rt: Runtime,
    message: SyncMessage,
    task: SyncTask,
    connection: Connection,
    adapter: IntegrationAdapter,
    tally: Tally,
) -> _Context:
    return _Context(
        rt=rt,
        message=message,
        task=task,
        connection=connection,
        mapping=task_mapping(adapter, task),
        policy=Policy.from_dict(task.policy),
        matcher=matcher_for(task),
        tally=tally,
        pull_only=pull_only_connections(rt.store, message.tenant_id, task.entity_type),
    )


def apply_changes(
    rt: Runtime,
    message: SyncMessage,
    task: SyncTask,
    connection: Connection,
    adapter: IntegrationAdapter,
    changes: Sequence[Change],
    tally: Tally,
) -> None:
    """Fold changes read outside a pull (a webhook's records) into the hub for `task`,
    exactly as a pull's page is."""
    _apply_page(_context(rt, message, task, connection, adapter, tally), changes)


def _pull(context: _Context, adapter: IntegrationAdapter) -> None:
    """Read page by page from the task's opaque cursor (from the start for a resync: see
    admin/resync.py); store the next one once applied.
    """
    rt, task, message = context.rt, context.task, context.message
    cursor = None if message.payload.get(FROM_START) else task.cursor
    more = True
    for pages in range(1, MAX_PAGES_PER_MESSAGE + 1):
        take_budget(rt, adapter, tally=context.tally)
        with timed("fetch", into=context.tally.stages, connection=context.connection.id):
            page = adapter.read_changes(
                task.entity_type, cursor, page_size=rt.settings.sync_page_size
            )
        for rejected in page.rejected:
            _dead_letter_rejected(context, rejected)
        _apply_page(context, page.changes)
        if page.cursor != cursor:
            cursor = page.cursor
            _save_cursor(rt, task, cursor)
        if not page.has_more:
            more = False
            break
        record_progress(rt.store, message, context.tally, task_id=task.id, pages=pages)
    context.tally.missed_webhooks += count_missed_webhooks(
        rt, task, context.connection, context.news
    )
    if not more:
        return
    # More pages remain: hand them to a follow-up message, which resumes from the stored
    # cursor, rather than running unbounded.
    payload = {k: v for k, v in message.payload.items() if k != FROM_START}
    follow_up = message.model_copy(
        update={
            "message_id": deterministic_id(message.message_id, "more", cursor or ""),
            "payload": payload,
        }
    )
    rt.queue.send(INBOUND_QUEUE, follow_up)


def _save_cursor(rt: Runtime, task: SyncTask, cursor: str) -> None:
    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        document["cursor"] = cursor
        document["cursorSavedAt"] = to_iso(utcnow())
        return document

    update_document(rt.store, SyncTask.container, task.tenant_id, task.id, mutate)


def _apply_page(context: _Context, changes: Sequence[Change]) -> None:
    """Apply a page; then send its pushes, batched per target, before its cursor moves.

    A crash before they are sent loses none: each went out as a delayed stand-in before
    its change was marked applied (`_Context.push`); a push sent twice lands once.
    """
    try:
        _apply_changes(context, changes)
    finally:
        # The pushes of the changes applied before an error go out at once too.
        pushes, context.pushes = context.pushes, []
        send_pushes(context.rt, pushes)


def _apply_changes(context: _Context, changes: Sequence[Change]) -> None:
    kept = guard_deletes(context.rt, context.message, context.task, context.connection, changes)
    context.tally.records_read += len(changes) - len(kept)  # held deletes were read too
    for change in kept:
        context.tally.records_read += 1
        try:
            canonical = context.mapping.to_canonical(change.values, record_id=change.external_id)
        except PermanentError as err:
            _dead_letter(context, change, str(err))
            continue
        if _apply_change(context, change, canonical):
            context.news.append(change)


def _dead_letter(context: _Context, change: Change, reason: str) -> None:
    _store_dead_letter(
        context,
        external_id=change.external_id,
        version=change.version,
        reason=reason,
        record=change.to_json(),
    )


def _dead_letter_rejected(context: _Context, rejected: RejectedRecord) -> None:
    """A record the adapter could not read: kept with its raw form and the reason."""
    _store_dead_letter(
        context,
        external_id=rejected.external_id or "unknown",
        version=deterministic_id(repr(rejected.raw)),
        reason=rejected.reason,
        record={"raw": rejected.raw},
    )


def _store_dead_letter(
    context: _Context, *, external_id: str, version: str, reason: str, record: dict[str, Any]
) -> None:
    message = context.message
    document = {
        "id": deterministic_id("dead", message.message_id, external_id, version),
        "tenantId": message.tenant_id,
        "connectionId": context.connection.id,
        "taskId": context.task.id,
        "messageId": message.message_id,
        "externalId": external_id,
        "reason": reason,
        "change": record,
        "createdAt": utcnow().isoformat(),
    }
    context.rt.store.upsert(DEAD_LETTERS, document)
    context.tally.failed += 1
    context.tally.errors.append(f"{external_id}: {reason}")
    log.warning(
        "dead-lettered %s: %s",
        external_id,
        reason,
    )


def _apply_change(context: _Context, change: Change, canonical: dict[str, Any]) -> bool:
    """Apply one change; returns whether it was news to the hub (not already applied, not
    our own echo, not late news of a record gone from the system)."""
    store, tenant = context.rt.store, context.message.tenant_id
    link_id = Link.make_id(context.connection.id, change.external_id)
    found = get_or_none(store, Link.container, tenant, link_id)
    if found is None:
        _create_entity(context, change, canonical)
        return not change.deleted
    link = Link.from_document(found)
    if is_retired(link):
        context.tally.unchanged += 1  # the record is gone from this system: late news
        _after_retired(context, link, change)
        return False
    # A value the system cannot hold (a task in progress is an open GitHub issue) is no
    # change by the system: it keeps the value the hub last synced.
    canonical = context.mapping.read_as_base(canonical, link.base)
    if link.withdrawn and change.deleted:
        context.tally.unchanged += 1  # a copy we withdrew is gone: its person lives on
        _retire(context, link, change)
        return False
    if nothing_new(link, change, canonical):
        if link.last_message_id == context.message.message_id:
            _resend_pushes(context, link, canonical)
        relink(store, link, change, base=None, message_id=context.message.message_id)
        context.tally.unchanged += 1
        return False
    _merge_into_entity(context, link, change, canonical, base=link.base)
    return True


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
    if get_or_none(store, Entity.container, tenant, entity_id) is not None:
        # A crash after this record's entity was written and before its link: the
        # redelivery finds it. The record may have changed since; it meets it as a twin.
        _link_to(context, change, canonical, entity_id)
        return
    with timed("match", into=context.tally.stages, connection=connection.id):
        verdict = find_twin(
            context.rt,
            context.matcher,
            tenant_id=tenant,
            entity_type=context.task.entity_type,
            connection_id=connection.id,
            entity_id=entity_id,
            values=canonical,
        )
    context.tally.dedup[_VERDICTS[verdict.decision]] += 1
    record_dedup(connection.id, _VERDICTS[verdict.decision])
    if verdict.decision is Decision.LINK and verdict.match is not None:
        _link_to(context, change, canonical, verdict.match.right_id)
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
        with timed("store", into=context.tally.stages, connection=connection.id):
            store.create(Entity.container, entity.to_document())
    except ConflictError:
        _link_to(context, change, canonical, entity_id)  # a concurrent delivery made it
        return
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
    _enqueue_pushes(context, entity, fresh=True)
    store.upsert(Link.container, _new_link(context, change, canonical, entity.id).to_document())
    context.tally.created += 1


def _new_link(context: _Context, change: Change, canonical: dict[str, Any], entity_id: str) -> Link:
    return new_link(
        tenant_id=context.message.tenant_id,
        connection_id=context.connection.id,
        entity_type=context.task.entity_type,
        change=change,
        canonical=canonical,
        entity_id=entity_id,
        message_id=context.message.message_id,
    )


def _write_new_link(context: _Context, link: Link) -> None:
    """Link a record the system holds of its own; copies of it we made there are withdrawn."""
    withdraw_copies(context.rt, link, correlation_id=context.message.correlation_id)
    context.rt.store.upsert(Link.container, link.to_document())


def _link_to(context: _Context, change: Change, canonical: dict[str, Any], entity_id: str) -> None:
    """Link a record the hub has no link for to an existing entity and merge it in: the
    same person or company from another system (a twin), or this record's own entity.

    There is no common base, so the merge is a first contact (base None): fields the two
    disagree on are conflicts for the task's policy. Unless the record holds exactly what
    a standing create of the entity there sent (our copy, its answer lost: links.py):
    those values are its base, so that it brings nothing the hub has moved on from.
    """
    link = _new_link(context, change, canonical, entity_id)
    sent = intent_values(context.rt.store, link.tenant_id, entity_id, link.connection_id)
    written = {f: canonical[f] for f in context.mapping.written_fields if f in canonical}
    base = sent if sent is not None and sent == written else None
    _merge_into_entity(context, link, change, canonical, base=base, first=True)


def _merge_into_entity(
    context: _Context,
    link: Link,
    change: Change,
    canonical: dict[str, Any],
    *,
    base: Mapping[str, Any] | None,
    first: bool = False,
) -> None:
    """Fold a change into the linked entity; `first`: through a new link (`base` None: a
    first contact, no common base).
    """
    incoming = Incoming(
        source=context.connection.id,
        values=canonical,
        modified_at=change.modified_at,
        deleted=change.deleted,
    )
    decision: ChangeDecision | None = None

    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal decision
        with timed("resolve", into=context.tally.stages, connection=context.connection.id):
            decision = decide_change(
                Entity.from_document(document),
                incoming,
                base=base,
                policy=context.policy,
                delete_rule=context.task.delete_rule,
                matcher=context.matcher,
                fields=context.mapping.canonical_fields,
            )
        if not decision.changed:
            return None
        document.update(decision.entity.to_document())
        return document

    # The store stage is the etag round trip: its re-reads and each re-decision included.
    with timed("store", into=context.tally.stages, connection=context.connection.id):
        stored = update_document(
            context.rt.store, Entity.container, link.tenant_id, link.entity_id, mutate
        )
    assert stored is not None
    assert decision is not None
    entity = Entity.from_document(stored)
    _carry_out(context, link, change, canonical, entity, decision, first=first)
    _count(context.tally, decision, first=first)


def _count(tally: Tally, decision: ChangeDecision, *, first: bool) -> None:
    """A merged change: linked (`first`), deleted (or archived), updated or unchanged, and
    the conflicts it met (detected; resolved by the policy at once; left pending)."""
    pending = len(decision.conflicts)
    tally.conflicts["detected"] += decision.detected
    tally.conflicts["pending"] += pending
    tally.conflicts["resolved"] += max(decision.detected - pending, 0)
    if first:
        tally.linked += 1
    elif decision.changed and (decision.entity.deleted or decision.entity.archived):
        tally.deleted += 1
    elif decision.changed:
        tally.updated += 1
    else:
        tally.unchanged += 1


def _carry_out(
    context: _Context,
    link: Link,
    change: Change,
    canonical: dict[str, Any],
    entity: Entity,
    decision: ChangeDecision,
    *,
    first: bool,
) -> None:
    """The effects of a decided change, in an order that a crash at any point repeats."""
    if decision.conflicts or decision.resolved:
        record_conflicts(
            context.rt,
            entity,
            context.connection.id,
            decision.conflicts + decision.resolved,
            policy=context.policy.strategy,
            incoming_modified_at=change.modified_at,
        )
    if decision.recreate_in_source:
        # The delete lost to a newer hub change: the record goes back into the source,
        # which hears of nothing else.
        _retire(context, link, change)
        _send_recreate(context, entity, link.external_id)
    elif first:
        # A new link first: a push to the source must find it, or it would create a twin.
        _write_new_link(context, link)
    if decision.push:
        _enqueue_pushes(context, entity, via=link, lacking=decision.push_to_source)
    if first or decision.recreate_in_source:
        return
    # After the pushes: the link marks the change as applied, so a crash before this point
    # re-runs the merge (a no-op now) and sends the pushes again.
    if decision.source_gone:
        _retire(context, link, change)  # so that a later restore re-creates it there
    else:
        relink(
            context.rt.store, link, change, base=canonical, message_id=context.message.message_id
        )


def _resend_pushes(context: _Context, link: Link, canonical: dict[str, Any]) -> None:
    """This very message wrote the link and then failed: its pushes may not have gone out.

    A twin's link is written before its pushes (so that they find it); for every other
    path the pushes went first and sending them again is dropped as a duplicate.
    """
    found = get_or_none(context.rt.store, Entity.container, link.tenant_id, link.entity_id)
    if found is not None:
        entity = Entity.from_document(found)
        _enqueue_pushes(
            context, entity, via=link, lacking=_source_lacks(context, entity, canonical)
        )


def _retire(context: _Context, link: Link, change: Change) -> None:
    """The record is gone from the source (as of `change`): retire its link."""
    retire_link(
        context.rt.store,
        link,
        version=change.version,
        modified_at=change.modified_at,
        message_id=context.message.message_id,
    )


def _source_lacks(context: _Context, entity: Entity, canonical: dict[str, Any]) -> bool:
    return source_lacks(entity, canonical, context.mapping.canonical_fields)


def _send_recreate(context: _Context, entity: Entity, external_id: str) -> None:
    if context.connection.id in context.pull_only:
        return  # the hub keeps the record; a pull-only source is never written to
    context.push(
        push_message(
            entity.tenant_id,
            entity,
            context.connection.id,
            correlation_id=context.message.correlation_id,
            generation=f"recreate:{external_id}",
            trigger=context.message.trigger,
        )
    )


def _after_retired(context: _Context, link: Link, change: Change) -> None:
    """News of a record whose link is retired: finish what retiring it may have left undone.

    A live entity with no record in this system after a lost delete is re-created there
    (a crash between retiring the link and sending the re-create). An entity this very
    tombstone deleted has its delete pushed again: the link may have been retired by
    someone else (a push of the deleted state back to this record) while the message that
    applied the delete failed before all its pushes went out. Either push carries the
    message id it had the first time, so one already sent is dropped as a duplicate.
    """
    store, entity_id = context.rt.store, link.entity_id.removeprefix(RETIRED)
    if not entity_id:
        return  # retired before any entity existed (a delete seen first): nothing to re-create
    found = get_or_none(store, Entity.container, link.tenant_id, entity_id)
    if found is None:
        return
    entity = Entity.from_document(found)
    if entity.merged_into is not None:
        return
    if entity.deleted or entity.archived:
        if (
            change.deleted
            and entity.deleted_by == context.connection.id
            and entity.deleted_at == change.modified_at
        ):
            _enqueue_pushes(context, entity)
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


def _enqueue_pushes(
    context: _Context,
    entity: Entity,
    *,
    via: Link | None = None,
    lacking: bool = False,
    fresh: bool = False,
) -> None:
    """Tell every system linked to or targeted for this entity; outbound skips no-ops.

    `via`: the source's record the change came from. The source hears too, in a push that
    names that record (the same state may have been pushed there before, as a copy since
    withdrawn: that push is done, this one is not), when the merge gave the record values
    it lacks (`lacking`), or when the source holds the entity in another record as well:
    `via` is a copy of ours (withdrawn, or not yet known as ours: its create's answer was
    lost), and the record that stays there has not seen what the copy brought.
    A `fresh` entity (created by this very change) has no links yet to look up.
    """
    if entity.archived or entity.held_for_review:
        return  # archived: no longer synced; held: waits for a duplicate decision
    source = context.connection.id
    links = (
        []
        if fresh
        else [
            Link.from_document(document)
            for document in context.rt.store.query(
                Link.container,
                partition_key=entity.tenant_id,
                filters=[Filter("entityId", "=", entity.id)],
            )
        ]
    )
    linked = {link.connection_id for link in links}
    generations = dict.fromkeys((linked | set(context.task.target_connection_ids)) - {source}, "")
    if via is not None and (lacking or via.withdrawn or _held_elsewhere(links, via)):
        generations[source] = f"to:{via.external_id}"
    for refused in context.pull_only:
        generations.pop(refused, None)
    for target, generation in sorted(generations.items()):
        context.push(
            push_message(
                entity.tenant_id,
                entity,
                target,
                correlation_id=context.message.correlation_id,
                generation=generation,
                trigger=context.message.trigger,
            )
        )


def _held_elsewhere(links: Sequence[Link], via: Link) -> bool:
    """Whether `via`'s system holds the entity in another record that stays there."""
    return any(
        link.connection_id == via.connection_id
        and link.external_id != via.external_id
        and not link.withdrawn
        for link in links
    )
