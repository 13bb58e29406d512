"""The durable webhook inbox: every verified delivery is written here before it is answered.

One entry per registration and provider delivery id (container `webhook-inbox`, partition
`tenantId`), so a retried delivery finds its entry: `received` (written, not yet on the
queue: enqueue it now) or `enqueued` (answered before: a duplicate, nothing to do). The
store's create is the dedup check itself, so deduplication costs no round trip of its own.

Bodies up to `INLINE_BODY_BYTES` are kept inline (base64); larger ones go to the claim-check
store and the entry and the message carry the name. Headers that carry a secret (an
Authorization header, Google's channel token) are not kept.

Replays re-enqueue an entry under a new message id per replay, so each replay is applied
exactly once and a redelivered replay message is recognised by the worker.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr

from integration_core.clock import to_iso, utcnow
from integration_core.errors import ConflictError, NotFoundError, PreconditionFailedError
from integration_core.messaging import INBOUND_QUEUE, MessageQueue
from integration_core.models import (
    Document,
    MessageKind,
    SyncMessage,
    Trigger,
    UtcDatetime,
    deterministic_id,
)
from integration_core.storage import ETAG, DocumentStore, Filter
from integration_core.storage.concurrency import update_document
from integration_core.webhooks.bodies import INLINE_BODY_BYTES, BodyStore

__all__ = ["INBOX", "Inbox", "InboxEntry", "InboxStatus", "raw_body"]

log = logging.getLogger(__name__)

INBOX = "webhook-inbox"
# Headers never stored: they authenticate the caller (Google's channel token is the secret).
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-functions-key", "x-goog-channel-token"}
)


class InboxStatus(StrEnum):
    RECEIVED = "received"
    ENQUEUED = "enqueued"


class InboxEntry(Document):
    """One verified delivery, as received: raw body (inline or by reference) and headers."""

    container: ClassVar[str] = INBOX

    registration_id: str
    connection_id: str
    provider: str
    delivery_id: str
    received_at: UtcDatetime = Field(default_factory=utcnow)
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    body_ref: str | None = None
    body_size: int = 0
    status: InboxStatus = InboxStatus.RECEIVED
    replays: int = 0
    # The document this entry was read or written as (its etag included).
    _stored: dict[str, Any] | None = PrivateAttr(default=None)

    @staticmethod
    def make_id(registration_id: str, delivery_id: str) -> str:
        return deterministic_id("webhook-inbox", registration_id, delivery_id)


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        str(name).lower(): str(value)
        for name, value in headers.items()
        if str(name).lower() not in _SECRET_HEADERS
    }


def raw_body(bodies: BodyStore, *, body: str | None, body_ref: str | None) -> bytes:
    """A delivery's raw bytes from an entry or a message: inline base64, or by claim-check."""
    if body_ref is not None:
        return bodies.get(body_ref)
    return base64.b64decode(body or "")


class Inbox:
    """Admits, enqueues and replays deliveries. `bodies` holds the large ones."""

    def __init__(self, store: DocumentStore, bodies: BodyStore) -> None:
        self._store = store
        self._bodies = bodies

    def admit(
        self,
        *,
        tenant_id: str,
        registration_id: str,
        connection_id: str,
        provider: str,
        delivery_id: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[InboxEntry, bool]:
        """Write the delivery; returns its entry and whether it is new. A repeat returns
        the entry stored first. Store failures raise (the caller answers 503)."""
        entry_id = InboxEntry.make_id(registration_id, delivery_id)
        entry = InboxEntry(
            id=entry_id,
            tenant_id=tenant_id,
            registration_id=registration_id,
            connection_id=connection_id,
            provider=provider,
            delivery_id=delivery_id,
            headers=_kept_headers(headers),
            body_size=len(body),
        )
        if len(body) <= INLINE_BODY_BYTES:
            entry.body = base64.b64encode(body).decode("ascii")
        else:
            entry.body_ref = f"{tenant_id}/{entry_id}"
            self._bodies.put(entry.body_ref, body)
        try:
            stored = self._store.create(INBOX, entry.to_document())
        except ConflictError:
            return self.get(tenant_id, entry_id), False
        entry._stored = stored
        return entry, True

    def get(self, tenant_id: str, entry_id: str) -> InboxEntry:
        document = self._store.get(INBOX, tenant_id, entry_id)
        entry = InboxEntry.from_document(document)
        entry._stored = document
        return entry

    def body(self, entry: InboxEntry) -> bytes:
        """The delivery's raw body, from the entry or the claim-check store."""
        return raw_body(self._bodies, body=entry.body, body_ref=entry.body_ref)

    def enqueue(self, queue: MessageQueue, entry: InboxEntry) -> SyncMessage:
        """Send the entry's first message (the same id every time) and mark it enqueued."""
        message = self.message(entry, replay=0)
        queue.send(INBOUND_QUEUE, message)
        if entry.status is not InboxStatus.ENQUEUED:
            self._mark_enqueued(entry)
        return message

    def message(self, entry: InboxEntry, *, replay: int) -> SyncMessage:
        """The WEBHOOK message for the entry: the delivery travels with it (a large body by
        its claim-check name), so the worker needs no read of the inbox."""
        parts = ("webhook", entry.id) if replay == 0 else ("webhook", entry.id, f"replay-{replay}")
        message_id = deterministic_id(*parts)
        return SyncMessage(
            message_id=message_id,
            tenant_id=entry.tenant_id,
            connection_id=entry.connection_id,
            kind=MessageKind.WEBHOOK,
            correlation_id=message_id,
            trigger=Trigger.WEBHOOK if replay == 0 else Trigger.REPLAY,
            payload={
                "registration_id": entry.registration_id,
                "inbox_id": entry.id,
                "provider": entry.provider,
                "delivery_id": entry.delivery_id,
                "headers": entry.headers,
                "body": entry.body,
                "body_ref": entry.body_ref,
            },
        )

    def replay(self, queue: MessageQueue, tenant_id: str, entry_id: str) -> SyncMessage:
        """Enqueue the delivery again, under the next replay number (one new message)."""

        def mutate(document: dict[str, Any]) -> dict[str, Any]:
            return document | {"replays": int(document.get("replays", 0)) + 1}

        stored = update_document(self._store, INBOX, tenant_id, entry_id, mutate)
        if stored is None:
            raise NotFoundError(f"{INBOX}/{entry_id} not found")
        entry = InboxEntry.from_document(stored)
        message = self.message(entry, replay=entry.replays)
        queue.send(INBOUND_QUEUE, message)
        log.info(
            "webhook delivery replayed",
            extra={"tenant_id": tenant_id, "inbox_id": entry_id, "replay": entry.replays},
        )
        return message

    def between(
        self,
        tenant_id: str,
        registration_id: str,
        since: datetime,
        until: datetime,
        *,
        limit: int | None = None,
    ) -> list[InboxEntry]:
        """A registration's deliveries received in [since, until), oldest first (the first
        `limit` of them)."""
        documents = self._store.query(
            INBOX,
            partition_key=tenant_id,
            filters=[
                Filter("registrationId", "=", registration_id),
                Filter("receivedAt", ">=", to_iso(since)),
                Filter("receivedAt", "<", to_iso(until)),
            ],
            order_by=[("receivedAt", False)],
            limit=limit,
        )
        return [InboxEntry.from_document(d) for d in documents]

    def replay_range(
        self,
        queue: MessageQueue,
        tenant_id: str,
        registration_id: str,
        since: datetime,
        until: datetime,
    ) -> Sequence[SyncMessage]:
        """Replay every delivery of the registration received in [since, until)."""
        return [
            self.replay(queue, tenant_id, entry.id)
            for entry in self.between(tenant_id, registration_id, since, until)
        ]

    def _mark_enqueued(self, entry: InboxEntry) -> None:
        """One conditional write on the version we hold; a lost race re-reads."""
        held = entry._stored or {}
        if held.get(ETAG) is not None:
            marked = held | {"status": InboxStatus.ENQUEUED.value}
            try:
                self._store.upsert(INBOX, marked, if_match=held[ETAG])
            except PreconditionFailedError:
                log.debug("inbox entry changed while enqueued; re-reading")
            else:
                entry.status = InboxStatus.ENQUEUED
                return

        def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
            if document.get("status") == InboxStatus.ENQUEUED.value:
                return None
            return document | {"status": InboxStatus.ENQUEUED.value}

        update_document(self._store, INBOX, entry.tenant_id, entry.id, mutate)
        entry.status = InboxStatus.ENQUEUED
