"""OutboundWorker: write hub entities' current state to one target system, in batches.

A message carries one push or a batch of them for one target (pushes.py). Each push is
decided alone, as it always was: only fields that differ from what the target last had
(the link's base) are sent; updates carry the target's last known version (If-Match), so
a record someone edited there in the meantime is never overwritten: the write is
postponed while that edit arrives inbound and merges, then retried against the merged
state. Creates carry an idempotency key and leave an intent first, so a crash between the
provider's answer and our link write cannot create the record twice. The link then keeps
a hash of the values written: when they come back from the target, inbound drops the echo.

The creates and updates of a batch then go out through the adapter's `write_batch`, as
many records per API call as the provider takes (batch_writes.py), and each push's own
outcome is routed to it alone: written (its link, echo hash and modification time
recorded), stale (postponed until inbound merges), permanently refused (dead-lettered
with its reason), or stopped by a retryable error (it and every push not yet written are
re-enqueued, nothing already written is redone). Each push's result is stored under its
own id as soon as it is settled: a redelivered batch skips what already landed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from integration_core.errors import (
    ConflictError,
    LockstepError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.mapping import ObjectMapping
from integration_core.messaging import OUTBOUND_QUEUE
from integration_core.models import (
    Connection,
    ConnectionStatus,
    Entity,
    Link,
    PushItem,
    SyncMessage,
    SyncResult,
    deterministic_id,
)
from integration_core.observability.metrics import timed
from integration_core.pipelines._private import named
from integration_core.pipelines.backoff import outage_delay
from integration_core.pipelines.batch_writes import PendingWrite, write_pending
from integration_core.pipelines.conflicts import pending_fields
from integration_core.pipelines.dead_letters import dead_letter_message
from integration_core.pipelines.links import (
    clear_intent,
    intent_of,
    is_retired,
    links_in,
    record_intent,
    retire_link,
    withdraw,
)
from integration_core.pipelines.mappings import connection_mapping
from integration_core.pipelines.matching import awaits_duplicate_review
from integration_core.pipelines.misconfigured import marks_misconfigured
from integration_core.pipelines.modes import takes_pushes
from integration_core.pipelines.pushes import PUSHES, item_message, push_items
from integration_core.pipelines.results import (
    POSTPONED,
    Tally,
    already_done,
    record_result,
    result_of,
)
from integration_core.pipelines.throttle import postponed_id, reschedule, take_budget
from integration_core.ports import IntegrationAdapter, WriteRequest, WriteResult
from integration_core.resilience import CircuitOpen
from integration_core.runtime import Runtime
from integration_core.storage.concurrency import get_or_none
from integration_core.sync.echo import values_hash

__all__ = ["process_outbound"]

log = logging.getLogger(__name__)

# After a 412 (the target moved on), how long the push waits for inbound to catch up.
STALE_TARGET_RETRY_SECONDS = 60.0


@dataclass(eq=False)
class _Push:
    """One push of the message being handled: its own envelope (id = push id) and tally;
    `alone`: the message is this push (the single format)."""

    item: PushItem
    message: SyncMessage
    alone: bool
    tally: Tally = field(default_factory=Tally)
    settled: bool = False


def process_outbound(rt: Runtime, message: SyncMessage) -> SyncResult:
    done = already_done(rt.store, message)
    if done is not None:
        log.info("duplicate delivery of %s ignored", message.message_id)
        return done
    items = push_items(message)
    pushes = [
        _Push(item, item_message(message, item), alone=item.push_id == message.message_id)
        for item in items
    ]
    todo = [push for push in pushes if push.alone or already_done(rt.store, push.message) is None]
    if not todo:  # every push landed: a redelivered batch, or a push's stand-in
        return _summary(message, pushes, Tally())
    connection = named(rt.store, Connection, message.tenant_id, message.connection_id)
    shared = Tally()  # what concerns the whole message (the connection, its budgets)
    if connection.status is not ConnectionStatus.ACTIVE:
        shared.errors.append(f"connection {connection.id} is {connection.status}; nothing sent")
    else:
        with (
            marks_misconfigured(rt.store, connection, shared),
            rt.connectors.adapter_for(connection) as adapter,
        ):
            try:
                rt.breaker.admit(connection.tenant_id, connection.id)
                _push_all(rt, adapter, todo)
            except RetryableError as err:
                rt.breaker.record_error(connection.tenant_id, connection.id, err)
                _postpone(rt, message, [push for push in todo if not push.settled], err)
    for push in todo:
        if not push.settled:  # the connection is not active, or was found misconfigured
            push.tally.errors.extend(shared.errors)
            _settle(rt, push)
    return _summary(message, pushes, shared)


def _push_all(rt: Runtime, adapter: IntegrationAdapter, todo: list[_Push]) -> None:
    """Decide each push (single calls go out at once: deletes, withdrawals), then send the
    creates and updates in batches. Two pushes of one entity go in turns: the second
    meets what the first wrote, as it would have as a message of its own."""
    while todo:
        turn: dict[str, _Push] = {}
        for push in todo:
            turn.setdefault(push.item.entity_id, push)
        pending: list[PendingWrite] = []
        for push in turn.values():
            if already_done(rt.store, push.message) is not None:
                push.settled = True  # sent twice in one batch
                continue
            with timed("push", into=push.tally.stages, connection=adapter.connection.id):
                write = _routed(rt, push, functools.partial(_prepare, rt, adapter, push))
            if write is not None:
                pending.append(write)
        write_pending(rt, adapter, pending, settle=functools.partial(_finish, rt))
        taken = set(map(id, turn.values()))
        todo = [push for push in todo if not push.settled and id(push) not in taken]


def _routed(
    rt: Runtime, push: _Push, step: Callable[[], PendingWrite | None]
) -> PendingWrite | None:
    """Run a push's `step`; settle the push unless it left a write pending.

    A permanent refusal (or a conflict no wait resolves) dead-letters this push alone;
    a retryable error is raised to postpone it with the rest; anything else propagates.
    """
    try:
        pending = step()
    except (PermanentError, ConflictError) as err:
        _dead_letter(rt, push, err)
        return None
    if pending is None:
        _settle(rt, push)
    return pending


def _finish(rt: Runtime, write: PendingWrite, outcome: WriteResult | LockstepError) -> None:
    push = write.owner
    assert isinstance(push, _Push)

    _routed(rt, push, functools.partial(write.finish, outcome))


def _settle(rt: Runtime, push: _Push) -> None:
    """The push is done with: its result, under its own id, marks it so."""
    record_result(rt.store, push.message, push.tally, direction="outbound", task_id=None)
    push.settled = True


def _dead_letter(rt: Runtime, push: _Push, err: LockstepError) -> None:
    """Set one push of a batch aside with its reason; the others go on. A message that is
    one push is set aside by the worker, as every message is (with its delivery count)."""
    if push.alone:
        raise PermanentError(str(err)) from err
    dead_letter_message(
        rt.store,
        push.message,
        str(err),
        queue=OUTBOUND_QUEUE,
        delivery_id=push.message.message_id,
        dequeue_count=0,
    )
    push.tally.failed += 1
    push.tally.errors.append(f"{push.item.entity_id}: {err}")
    _settle(rt, push)


def _postpone(rt: Runtime, message: SyncMessage, rest: list[_Push], err: RetryableError) -> None:
    """Hand the pushes not yet settled to one delayed copy of the message.

    A provider that names no delay (a 503 without Retry-After, a timeout), or an open
    circuit, is an outage: the copy waits by exponential backoff (backoff.py), and such
    waits never exhaust the message's postponements. A rate limit waits as it says.
    """
    if not rest:
        return
    outage = err.retry_after is None or isinstance(err, CircuitOpen)
    if outage:
        err = RetryableError(
            str(err), retry_after=outage_delay(message.attempt, at_least=err.retry_after)
        )
    attempt = message.attempt + 1
    items = [
        push.item.model_copy(update={"push_id": postponed_id(push.item.push_id, attempt)})
        for push in rest
    ]
    later = reschedule(
        rt,
        OUTBOUND_QUEUE,
        message,
        err,
        rate_limited=not outage,
        bounded=not outage,
        payload={PUSHES: [item.model_dump(by_alias=True) for item in items]},
    )
    for push in rest:
        push.tally.errors.append(f"{POSTPONED}{later.message_id}")
        _settle(rt, push)


def _summary(message: SyncMessage, pushes: Sequence[_Push], shared: Tally) -> SyncResult:
    """What the message did, summed over its pushes (each push's own result is stored)."""
    total = Tally(started_at=shared.started_at)
    for push in pushes:
        total.absorb(push.tally)
    return result_of(message, total, direction="outbound", task_id=None)


# -- one push: what it writes ------------------------------------------------------------


def _prepare(rt: Runtime, adapter: IntegrationAdapter, push: _Push) -> PendingWrite | None:
    """What `push` writes: a create or update left pending for a batch, or None when it
    is done (nothing to send, or a delete or withdrawal sent already)."""
    tenant, connection, tally = push.message.tenant_id, adapter.connection, push.tally
    if push.item.withdraw is not None:
        _withdraw(rt, push, adapter, push.item.withdraw)
        return None
    entity = named(rt.store, Entity, tenant, push.item.entity_id)
    if not takes_pushes(rt.store, tenant, connection.id, entity.entity_type):
        # Queued before its task became pull-only: the hub no longer writes there.
        tally.unchanged += 1
        return None
    mapping = connection_mapping(rt.store, adapter, entity.entity_type)
    target = _Target(rt, adapter, push, mapping, entity)
    values = {f: entity.values[f] for f in mapping.written_fields if f in entity.values}
    unanswered = intent_of(rt.store, tenant, entity.id, connection.id)
    if unanswered is not None:
        if not (entity.deleted or entity.archived or entity.held_for_review):
            # A create may have made a record whose answer was lost: ask again with its key.
            return target.create(values, unanswered)
        clear_intent(rt.store, tenant, entity.id, connection.id)
    links = links_in(rt.store, tenant, entity.id, connection.id)
    current = [link for link in links if not link.withdrawn]
    if links and not current:
        # Only a copy being withdrawn: the system's own record is being linked, and that
        # link sends its own pushes. A create now would make a copy again.
        tally.unchanged += 1
        return None
    link = current[0] if current else None
    if link is not None:
        # A field with a pending conflict keeps, in this system, the value it has there.
        for name in pending_fields(rt, tenant, entity.id, connection.id):
            if name in link.base:
                values[name] = link.base[name]
            else:
                values.pop(name, None)
    if (
        entity.archived
        or entity.held_for_review
        or (link is None and entity.deleted)
        or (link is not None and not entity.deleted and link.base == values)
    ):
        tally.unchanged += 1  # nothing the target does not already have
        return None
    if link is None and awaits_duplicate_review(rt, entity, connection.id):
        # This system may already hold this very person (the record under review): creating
        # it now could make a duplicate there. The admin's decision pushes it.
        log.info("create of %s in %s waits for a duplicate review", entity.id, connection.id)
        tally.unchanged += 1
        return None
    if link is None:
        return target.create(values, push.item.generation)
    return target.update(link, values)


@dataclass
class _Target:
    """One push's entity and its writes to the target: each builds its request, and
    finishes with the provider's answer (sent in a batch, or at once when a first answer
    calls for another write)."""

    rt: Runtime
    adapter: IntegrationAdapter
    push: _Push
    mapping: ObjectMapping
    entity: Entity

    def update(self, link: Link, values: dict[str, Any]) -> PendingWrite | None:
        """The entity's delete (sent at once), or the fields that differ from what the
        target last had; either only if the target still holds what we last saw there."""
        entity, tally = self.entity, self.push.tally
        if entity.deleted:
            take_budget(self.rt, self.adapter, tally=tally)
            try:
                self.adapter.delete(
                    entity.entity_type, link.external_id, expected_version=link.external_version
                )
            except PreconditionFailedError as err:
                _wait_for_inbound(self.rt, self.push, err, link)
                return None
            except NotFoundError:
                retire_link(self.rt.store, link)  # already gone there
                return None
            retire_link(self.rt.store, link)
            tally.pushed += 1
            tally.deleted += 1
            return None
        changed = {
            f: values.get(f)
            for f in set(values) | set(link.base)
            if values.get(f) != link.base.get(f)
        }
        request = WriteRequest(
            link.external_id,
            # Every mapping that touches a changed field, from all current values: a joined
            # provider field (a full name) is rebuilt whole, never from one changed part.
            self.mapping.to_provider({**values, **changed}, only=changed, record_id=entity.id),
            expected_version=link.external_version,
        )
        return self._pending(request, lambda outcome: self._updated(link, values, outcome))

    def _updated(
        self, link: Link, values: dict[str, Any], outcome: WriteResult | LockstepError
    ) -> None:
        if isinstance(outcome, PreconditionFailedError):
            _wait_for_inbound(self.rt, self.push, outcome, link)
            return None
        if isinstance(outcome, NotFoundError):
            # Deleted there while the hub kept (or restored) it: create it again.
            retire_link(self.rt.store, link)
            self._now(self.create(values, f"recreate:{link.external_id}"))
            return
        if isinstance(outcome, LockstepError):
            raise outcome
        _record_write(self.rt, link, values, outcome, self.push.message)
        self.push.tally.updated += 1
        self.push.tally.pushed += 1

    def create(self, values: dict[str, Any], generation: str) -> PendingWrite:
        """Create the record; the idempotency key makes a retried create return the first
        one, and the intent recorded first lets a lost answer be asked for again."""
        tenant, connection, entity = (
            self.push.message.tenant_id,
            self.adapter.connection,
            self.entity,
        )
        key = deterministic_id("create", tenant, entity.id, connection.id, generation)
        record_intent(
            self.rt.store,
            tenant_id=tenant,
            connection_id=connection.id,
            entity_id=entity.id,
            entity_type=entity.entity_type,
            generation=generation,
            values=values,
        )
        request = WriteRequest(
            None, self.mapping.to_provider(values, record_id=entity.id), idempotency_key=key
        )
        return self._pending(request, lambda outcome: self._created(values, outcome))

    def _created(self, values: dict[str, Any], outcome: WriteResult | LockstepError) -> None:
        if isinstance(outcome, LockstepError):
            raise outcome
        rt, push, entity = self.rt, self.push, self.entity
        tenant, connection = push.message.tenant_id, self.adapter.connection
        gone = get_or_none(
            rt.store, Link.container, tenant, Link.make_id(connection.id, outcome.external_id)
        )
        if gone is not None and is_retired(Link.from_document(gone)):
            # The key was used before: the provider answered with that earlier record,
            # which is gone from the system since. Create it anew (under a key of its own).
            self._now(self.create(values, f"recreate:{outcome.external_id}"))
            return
        link = Link(
            id=Link.make_id(connection.id, outcome.external_id),
            tenant_id=tenant,
            connection_id=connection.id,
            external_id=outcome.external_id,
            entity_id=entity.id,
            entity_type=entity.entity_type,
            external_version=outcome.version,
            last_message_id=push.message.message_id,
            created_by_push=True,
        )
        others = [
            other
            for other in links_in(rt.store, tenant, entity.id, connection.id)
            if other.external_id != outcome.external_id and not other.withdrawn
        ]
        if others:
            # The answer was lost, and meanwhile the system's own record of this entity
            # was linked: ours is one record too many there.
            withdrawn = link.model_copy(update={"withdrawn": True})
            rt.store.upsert(Link.container, withdrawn.to_document())
            withdraw(rt, withdrawn, correlation_id=push.message.correlation_id)
            push.tally.unchanged += 1
        elif not outcome.created:
            # An earlier attempt made the record and its answer was lost: the record holds
            # what that attempt sent, perhaps an older state. Link it with no known base,
            # so that it is written in full like any update (If-Match: an edit made there
            # since is merged first, and with no base it meets the hub's values as a first
            # contact would).
            rt.store.upsert(Link.container, link.to_document())
            self._now(self.update(link, values))
        else:
            _record_write(rt, link, values, outcome, push.message)
            push.tally.created += 1
            push.tally.pushed += 1
        clear_intent(rt.store, tenant, entity.id, connection.id)

    def _pending(
        self,
        request: WriteRequest,
        finish: Callable[[WriteResult | LockstepError], None],
    ) -> PendingWrite:
        return PendingWrite(
            self.entity.entity_type, request, finish, tally=self.push.tally, owner=self.push
        )

    def _now(self, write: PendingWrite | None) -> None:
        """Send a write a first answer called for at once, alone, and finish it."""
        if write is not None:
            take_budget(self.rt, self.adapter, tally=self.push.tally)
            write.finish(_write_one(self.adapter, write))


def _write_one(adapter: IntegrationAdapter, write: PendingWrite) -> WriteResult | LockstepError:
    request = write.request
    try:
        return adapter.write(
            write.entity_type,
            request.external_id,
            request.values,
            expected_version=request.expected_version,
            idempotency_key=request.idempotency_key,
        )
    except (PreconditionFailedError, NotFoundError) as err:
        return err  # answers the push acts on; any other error is raised as it is


def _withdraw(rt: Runtime, push: _Push, adapter: IntegrationAdapter, external_id: str) -> None:
    """Delete a copy we made of a record the system holds of its own (see links.py)."""
    found = get_or_none(
        rt.store,
        Link.container,
        push.message.tenant_id,
        Link.make_id(adapter.connection.id, external_id),
    )
    link = Link.from_document(found) if found is not None else None
    if link is None or is_retired(link) or not link.withdrawn:
        push.tally.unchanged += 1
        return
    take_budget(rt, adapter, tally=push.tally)
    try:
        adapter.delete(link.entity_type, external_id, expected_version=link.external_version)
    except PreconditionFailedError as err:
        _wait_for_inbound(rt, push, err, link)  # a user edited the copy meanwhile
        return
    except NotFoundError:
        pass  # gone already (an earlier attempt, or a user)
    retire_link(rt.store, link)
    push.tally.pushed += 1
    push.tally.deleted += 1


def _wait_for_inbound(rt: Runtime, push: _Push, err: PreconditionFailedError, link: Link) -> None:
    """Never overwrite (or delete) an edit we have not seen: it arrives inbound and merges;
    this push tries again later against the merged state. (Not done yet: a re-push of the
    same state would carry this push's id and be dropped as a duplicate.)
    """
    later = reschedule(
        rt,
        OUTBOUND_QUEUE,
        push.message,
        RetryableError(str(err), retry_after=STALE_TARGET_RETRY_SECONDS),
        rate_limited=False,
    )
    push.tally.errors.append(
        f"{link.external_id} changed in {link.connection_id} since last sync; "
        f"its change will be merged inbound, this push continues as {later.message_id}"
    )


def _record_write(
    rt: Runtime, link: Link, values: dict[str, Any], written: WriteResult, message: SyncMessage
) -> None:
    """The target now holds `values` at `written.version`. Its modification time, when the
    provider tells, dates what we know of the record: a late report of an earlier state
    (a reordered webhook) is then recognised as older, never applied over our write.
    """
    known = [t for t in (link.applied_modified_at, written.modified_at) if t is not None]
    updated = link.model_copy(
        update={
            "base": values,
            "written_hash": values_hash(values),
            "external_version": written.version,
            "applied_modified_at": max(known, default=None),
            "last_message_id": message.message_id,
        }
    )
    rt.store.upsert(Link.container, updated.to_document())
