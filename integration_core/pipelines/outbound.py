"""OutboundWorker: write one hub entity's current state to one target system.

Only fields that differ from what the target last had (the link's base) are sent; updates
carry the target's last known version (If-Match), so a record someone edited there in the
meantime is never overwritten: the write is postponed while that edit arrives inbound and
merges, then retried against the merged state. Creates carry an idempotency key, so a crash
between the provider's answer and our link write cannot create the record twice. The link
then keeps a hash of the values written: when they come back from the target, inbound drops
the echo.
"""

from __future__ import annotations

import logging
from typing import Any

from integration_core.errors import (
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
    SyncMessage,
    SyncResult,
    deterministic_id,
)
from integration_core.observability.metrics import timed
from integration_core.pipelines._private import named
from integration_core.pipelines.conflicts import pending_fields
from integration_core.pipelines.links import (
    WITHDRAW,
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
from integration_core.pipelines.results import POSTPONED, Tally, already_done, record_result
from integration_core.pipelines.throttle import reschedule, take_budget
from integration_core.ports import IntegrationAdapter, WriteResult
from integration_core.runtime import Runtime
from integration_core.storage.concurrency import get_or_none
from integration_core.sync.echo import values_hash

__all__ = ["process_outbound"]

log = logging.getLogger(__name__)

# After a 412 (the target moved on), how long the push waits for inbound to catch up.
STALE_TARGET_RETRY_SECONDS = 60.0


def process_outbound(rt: Runtime, message: SyncMessage) -> SyncResult:
    done = already_done(rt.store, message)
    if done is not None:
        log.info("duplicate delivery of %s ignored", message.message_id)
        return done
    entity_id = message.payload.get("entity_id")
    if not isinstance(entity_id, str):
        raise PermanentError(f"message {message.message_id} names no entity_id")
    tenant = message.tenant_id
    tally = Tally()
    connection = named(rt.store, Connection, tenant, message.connection_id)
    if connection.status is not ConnectionStatus.ACTIVE:
        tally.errors.append(f"connection {connection.id} is {connection.status}; nothing sent")
        return record_result(rt.store, message, tally, direction="outbound", task_id=None)
    entity = named(rt.store, Entity, tenant, entity_id)
    if not takes_pushes(rt.store, tenant, connection.id, entity.entity_type):
        # Queued before its task became pull-only: the hub no longer writes there.
        tally.unchanged += 1
        return record_result(rt.store, message, tally, direction="outbound", task_id=None)
    with (
        marks_misconfigured(rt.store, connection, tally),
        rt.connectors.adapter_for(connection) as adapter,
    ):
        try:
            rt.breaker.admit(connection.tenant_id, connection.id)
            withdraw = message.payload.get(WITHDRAW)
            with timed("push", into=tally.stages, connection=connection.id):
                if isinstance(withdraw, str):
                    _withdraw(rt, message, adapter, withdraw, tally)
                else:
                    _push(rt, message, adapter, entity, tally)
        except RetryableError as err:
            rt.breaker.record_error(connection.tenant_id, connection.id, err)
            if err.retry_after is None:
                raise
            later = reschedule(rt, OUTBOUND_QUEUE, message, err)
            tally.errors.append(f"{POSTPONED}{later.message_id}")
    return record_result(rt.store, message, tally, direction="outbound", task_id=None)


def _push(
    rt: Runtime,
    message: SyncMessage,
    adapter: IntegrationAdapter,
    entity: Entity,
    tally: Tally,
) -> None:
    tenant, connection = message.tenant_id, adapter.connection
    mapping = connection_mapping(rt.store, adapter, entity.entity_type)
    values = {f: entity.values[f] for f in mapping.written_fields if f in entity.values}
    unanswered = intent_of(rt.store, tenant, entity.id, connection.id)
    if unanswered is not None:
        if not (entity.deleted or entity.archived or entity.held_for_review):
            # A create may have made a record whose answer was lost: ask again with its key.
            take_budget(rt, adapter, tally=tally)
            _create(rt, message, adapter, mapping, entity, values, unanswered, tally)
            return
        clear_intent(rt.store, tenant, entity.id, connection.id)
    links = links_in(rt.store, tenant, entity.id, connection.id)
    current = [link for link in links if not link.withdrawn]
    if links and not current:
        # Only a copy being withdrawn: the system's own record is being linked, and that
        # link sends its own pushes. A create now would make a copy again.
        tally.unchanged += 1
        return
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
        return
    if link is None and awaits_duplicate_review(rt, entity, connection.id):
        # This system may already hold this very person (the record under review): creating
        # it now could make a duplicate there. The admin's decision pushes it.
        log.info("create of %s in %s waits for a duplicate review", entity.id, connection.id)
        tally.unchanged += 1
        return
    take_budget(rt, adapter, tally=tally)
    if link is None:
        generation = str(message.payload.get("generation", ""))
        _create(rt, message, adapter, mapping, entity, values, generation, tally)
    else:
        _update(rt, message, adapter, mapping, entity, link, values, tally)


def _update(
    rt: Runtime,
    message: SyncMessage,
    adapter: IntegrationAdapter,
    mapping: ObjectMapping,
    entity: Entity,
    link: Link,
    values: dict[str, Any],
    tally: Tally,
) -> None:
    """Send the entity's delete, or the fields that differ from what the target last had;
    either only if the target still holds what we last saw there.
    """
    changed = {
        f: values.get(f) for f in set(values) | set(link.base) if values.get(f) != link.base.get(f)
    }
    try:
        if entity.deleted:
            adapter.delete(
                entity.entity_type, link.external_id, expected_version=link.external_version
            )
            retire_link(rt.store, link)
            tally.pushed += 1
            tally.deleted += 1
            return
        written = adapter.write(
            entity.entity_type,
            link.external_id,
            # Every mapping that touches a changed field, from all current values: a joined
            # provider field (a full name) is rebuilt whole, never from one changed part.
            mapping.to_provider({**values, **changed}, only=changed, record_id=entity.id),
            expected_version=link.external_version,
        )
    except PreconditionFailedError as err:
        _wait_for_inbound(rt, message, err, tally, link)
        return
    except NotFoundError:
        retire_link(rt.store, link)
        if entity.deleted:
            return  # already gone there
        # Deleted there while the hub kept (or restored) it: create it again.
        _create(
            rt, message, adapter, mapping, entity, values, f"recreate:{link.external_id}", tally
        )
        return
    _record_write(rt, link, values, written, message)
    tally.updated += 1
    tally.pushed += 1


def _create(
    rt: Runtime,
    message: SyncMessage,
    adapter: IntegrationAdapter,
    mapping: ObjectMapping,
    entity: Entity,
    values: dict[str, Any],
    generation: str,
    tally: Tally,
) -> None:
    """Create the record; the idempotency key makes a retried create return the first one."""
    tenant, connection = message.tenant_id, adapter.connection
    key = deterministic_id("create", tenant, entity.id, connection.id, generation)
    record_intent(
        rt.store,
        tenant_id=tenant,
        connection_id=connection.id,
        entity_id=entity.id,
        entity_type=entity.entity_type,
        generation=generation,
        values=values,
    )
    written = adapter.write(
        entity.entity_type,
        None,
        mapping.to_provider(values, record_id=entity.id),
        idempotency_key=key,
    )
    gone = get_or_none(
        rt.store, Link.container, tenant, Link.make_id(connection.id, written.external_id)
    )
    if gone is not None and is_retired(Link.from_document(gone)):
        # The key was used before: the provider answered with that earlier record, which
        # is gone from the system since. Create it anew (under a key of its own).
        _create(
            rt, message, adapter, mapping, entity, values, f"recreate:{written.external_id}", tally
        )
        return
    link = Link(
        id=Link.make_id(connection.id, written.external_id),
        tenant_id=tenant,
        connection_id=connection.id,
        external_id=written.external_id,
        entity_id=entity.id,
        entity_type=entity.entity_type,
        external_version=written.version,
        last_message_id=message.message_id,
        created_by_push=True,
    )
    others = [
        other
        for other in links_in(rt.store, tenant, entity.id, connection.id)
        if other.external_id != written.external_id and not other.withdrawn
    ]
    if others:
        # The answer was lost, and meanwhile the system's own record of this entity was
        # linked: ours is one record too many there.
        withdrawn = link.model_copy(update={"withdrawn": True})
        rt.store.upsert(Link.container, withdrawn.to_document())
        withdraw(rt, withdrawn, correlation_id=message.correlation_id)
        tally.unchanged += 1
    elif not written.created:
        # An earlier attempt made the record and its answer was lost: the record holds what
        # that attempt sent, perhaps an older state. Link it with no known base, so that it
        # is written in full like any update (If-Match: an edit made there since is merged
        # first, and with no base it meets the hub's values as a first contact would).
        rt.store.upsert(Link.container, link.to_document())
        _update(rt, message, adapter, mapping, entity, link, values, tally)
    else:
        _record_write(rt, link, values, written, message)
        tally.created += 1
        tally.pushed += 1
    clear_intent(rt.store, tenant, entity.id, connection.id)


def _withdraw(
    rt: Runtime,
    message: SyncMessage,
    adapter: IntegrationAdapter,
    external_id: str,
    tally: Tally,
) -> None:
    """Delete a copy we made of a record the system holds of its own (see links.py)."""
    found = get_or_none(
        rt.store,
        Link.container,
        message.tenant_id,
        Link.make_id(adapter.connection.id, external_id),
    )
    link = Link.from_document(found) if found is not None else None
    if link is None or is_retired(link) or not link.withdrawn:
        tally.unchanged += 1
        return
    take_budget(rt, adapter, tally=tally)
    try:
        adapter.delete(link.entity_type, external_id, expected_version=link.external_version)
    except PreconditionFailedError as err:
        _wait_for_inbound(rt, message, err, tally, link)  # a user edited the copy meanwhile
        return
    except NotFoundError:
        pass  # gone already (an earlier attempt, or a user)
    retire_link(rt.store, link)
    tally.pushed += 1
    tally.deleted += 1


def _wait_for_inbound(
    rt: Runtime, message: SyncMessage, err: PreconditionFailedError, tally: Tally, link: Link
) -> None:
    """Never overwrite (or delete) an edit we have not seen: it arrives inbound and merges;
    this push tries again later against the merged state. (Not done yet: a re-push of the
    same state would carry this message's id and be dropped as a duplicate.)
    """
    later = reschedule(
        rt,
        OUTBOUND_QUEUE,
        message,
        RetryableError(str(err), retry_after=STALE_TARGET_RETRY_SECONDS),
        rate_limited=False,
    )
    tally.errors.append(
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
