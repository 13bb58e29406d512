"""Link lifecycle: a system's record <-> a hub entity, from its first link to retirement.

A link is written when the hub first learns of a record (inbound: a new entity, or a twin
of an existing one) or when a push creates the record (outbound). It moves forward with
every change applied (`relink`) and is retired, never deleted, when the record is gone.

One record per person per system, in every interleaving (issue 11). A push may create a
person in a system before that system's own record of the same person has been read (its
pull runs later, failed once, was throttled, or crashed half-way; or a user entered the
person there meanwhile). No ordering rule can close that window for good, so the hub
repairs it when it happens, in one place: the record a push created is marked
`created_by_push`; when the system's own record of the person arrives, it is linked to the
entity like any twin (the twin search does not count a copy we made as "already linked"),
and each copy of that entity we made in the same system is `withdrawn`: marked first (so
that pushes address the system's own record), then deleted there by the outbound worker
with If-Match (an edit a user made to the copy is merged inbound first, never lost), then
retired. Each step is idempotent and comes before the link it protects, so a crash or a
redelivery at any point repeats it rather than skipping it.

A crash between a push's create and its link leaves a copy nobody knows is ours. So a
create first records an intent (a link-shaped document, `CREATING` + entity id, naming
the create's generation, hence its idempotency key, with the values it sends as its
base). While an intent stands, the twin search keeps the entity as a candidate even if
the system's own record is linked, and the push replays the create with the same key: the
provider answers with the record it made, which is then known to be a copy, withdrawn if
the entity has another record there. A pull may read that record first: holding exactly
what the create sent, it has those values as its base with the hub (no news, whatever its
modification time), not a first contact that the policy would decide by that time.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from integration_core.errors import NotFoundError
from integration_core.messaging import OUTBOUND_QUEUE
from integration_core.models import Change, Link, MessageKind, SyncMessage, deterministic_id
from integration_core.runtime import Runtime
from integration_core.storage import DocumentStore, Filter
from integration_core.storage.concurrency import get_or_none, update_document
from integration_core.sync.echo import is_echo, is_replay

__all__ = [
    "nothing_new",
    "RETIRED",
    "WITHDRAW",
    "CREATING",
    "is_retired",
    "record_intent",
    "intent_of",
    "intent_values",
    "clear_intent",
    "being_created",
    "new_link",
    "retire_link",
    "relink",
    "links_in",
    "withdraw_copies",
    "withdraw",
]

# A retired link's entity id starts with this: its record is gone from that system. The
# link is kept (not deleted) so that a late delivery of the record's older state is
# recognised and dropped, instead of looking like a new record (a duplicate, or a deleted
# one back). Queries by entity id no longer find it.
RETIRED = "retired:"
# The push payload key naming a copy to delete from its system.
WITHDRAW = "withdraw"
# An intent's entity id starts with this: a push is creating the entity in that system.
CREATING = "creating:"


def is_retired(link: Link) -> bool:
    return link.entity_id.startswith(RETIRED)


def new_link(
    *,
    tenant_id: str,
    connection_id: str,
    entity_type: str,
    change: Change,
    canonical: dict[str, Any],
    entity_id: str,
    message_id: str,
) -> Link:
    """The link of a record read from its system, with what it holds as the base."""
    return Link(
        id=Link.make_id(connection_id, change.external_id),
        tenant_id=tenant_id,
        connection_id=connection_id,
        external_id=change.external_id,
        entity_id=entity_id,
        entity_type=entity_type,
        base=canonical,
        external_version=change.version,
        applied_modified_at=change.modified_at,
        last_message_id=message_id,
    )


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


def relink(
    store: DocumentStore,
    link: Link,
    change: Change,
    *,
    base: dict[str, Any] | None,
    message_id: str,
) -> None:
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
                "last_message_id": message_id,
            }
        )
        document.update(updated.to_document())
        return document

    update_document(store, Link.container, link.tenant_id, link.id, mutate)


def links_in(
    store: DocumentStore, tenant_id: str, entity_id: str, connection_id: str
) -> list[Link]:
    """The live links of one entity in one system (one, once any withdrawal is done)."""
    found = store.query(
        Link.container,
        partition_key=tenant_id,
        filters=[Filter("entityId", "=", entity_id), Filter("connectionId", "=", connection_id)],
    )
    return [Link.from_document(document) for document in found]


def withdraw_copies(rt: Runtime, link: Link, *, correlation_id: str) -> None:
    """`link`'s record is the system's own: withdraw every copy of its entity we made there.

    Call before writing `link`: a crash in between re-runs this on redelivery.
    """
    for other in links_in(rt.store, link.tenant_id, link.entity_id, link.connection_id):
        if other.external_id != link.external_id and other.created_by_push:
            withdraw(rt, other, correlation_id=correlation_id)


def withdraw(rt: Runtime, copy: Link, *, correlation_id: str) -> None:
    """Mark a copy we made as withdrawn (pushes skip it) and ask outbound to delete it."""
    if not copy.withdrawn:
        update_document(rt.store, Link.container, copy.tenant_id, copy.id, _mark_withdrawn)
    rt.queue.send(
        OUTBOUND_QUEUE,
        SyncMessage(
            message_id=deterministic_id(
                WITHDRAW, copy.tenant_id, copy.connection_id, copy.external_id
            ),
            tenant_id=copy.tenant_id,
            connection_id=copy.connection_id,
            kind=MessageKind.PUSH,
            correlation_id=correlation_id,
            payload={"entity_id": copy.entity_id, WITHDRAW: copy.external_id},
        ),
    )


def _mark_withdrawn(document: dict[str, Any]) -> dict[str, Any]:
    document["withdrawn"] = True
    return document


def _intent_id(connection_id: str, entity_id: str) -> str:
    return Link.make_id(connection_id, CREATING + entity_id)


def record_intent(
    store: DocumentStore,
    *,
    tenant_id: str,
    connection_id: str,
    entity_id: str,
    entity_type: str,
    generation: str,
    values: dict[str, Any],
) -> None:
    """Before a create: the push of `entity_id` to `connection_id` may make a record.

    A replay under the same key keeps the values the intent holds: a provider that made
    the record answers a replay with it as the first request made it.
    """
    intent = Link(
        id=_intent_id(connection_id, entity_id),
        tenant_id=tenant_id,
        connection_id=connection_id,
        external_id=CREATING + generation,
        entity_id=CREATING + entity_id,
        entity_type=entity_type,
        base=values,
        created_by_push=True,
    )
    standing = get_or_none(store, Link.container, tenant_id, intent.id)
    if standing is not None and Link.from_document(standing).external_id == intent.external_id:
        return
    store.upsert(Link.container, intent.to_document())


def intent_of(
    store: DocumentStore, tenant_id: str, entity_id: str, connection_id: str
) -> str | None:
    """The generation of a create that may have made a record we have no link for."""
    found = get_or_none(store, Link.container, tenant_id, _intent_id(connection_id, entity_id))
    return Link.from_document(found).external_id.removeprefix(CREATING) if found else None


def intent_values(
    store: DocumentStore, tenant_id: str, entity_id: str, connection_id: str
) -> dict[str, Any] | None:
    """The values a standing create of `entity_id` in `connection_id` sent (None: none stands)."""
    found = get_or_none(store, Link.container, tenant_id, _intent_id(connection_id, entity_id))
    return Link.from_document(found).base if found else None


def clear_intent(store: DocumentStore, tenant_id: str, entity_id: str, connection_id: str) -> None:
    with contextlib.suppress(NotFoundError):
        store.delete(Link.container, tenant_id, _intent_id(connection_id, entity_id))


def being_created(
    store: DocumentStore, tenant_id: str, connection_id: str, entity_ids: list[str]
) -> set[str]:
    """Which of `entity_ids` a push may have created in `connection_id` without a link."""
    if not entity_ids:
        return set()
    intents = store.query(
        Link.container,
        partition_key=tenant_id,
        filters=[
            Filter("connectionId", "=", connection_id),
            Filter("entityId", "in", [CREATING + entity_id for entity_id in entity_ids]),
        ],
    )
    return {document["entityId"].removeprefix(CREATING) for document in intents}


def nothing_new(link: Link, change: Change, canonical: dict[str, Any]) -> bool:
    """Whether the linked record's change is already applied (a redelivery, an overlap
    re-read, an older reordered delivery) or our own write coming back (echo)."""
    return is_replay(
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
    )
