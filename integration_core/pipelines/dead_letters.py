"""The `dead-letters` container: work that can never succeed, kept with its reason.

Two kinds of letter land here: one record a page could not map (inbound carries on with
the rest of the page), and one whole queue message that can never be handled (the worker
completes it instead of letting the host retry it into the poison queue). Each letter has
a deterministic id, so a redelivery records nothing twice. Letters carry ids, the reason
and the envelope, never a secret: an envelope holds ids and record values only.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from integration_core.clock import utcnow
from integration_core.errors import ConflictError
from integration_core.models import SyncMessage, deterministic_id
from integration_core.storage import DocumentStore

__all__ = ["DEAD_LETTERS", "UNPARSED_TENANT", "dead_letter_message", "dead_letter_body"]

log = logging.getLogger(__name__)

DEAD_LETTERS = "dead-letters"
# The partition of letters whose body did not even say which tenant it is for.
UNPARSED_TENANT = "_unparsed"


def dead_letter_message(
    store: DocumentStore,
    message: SyncMessage,
    reason: str,
    *,
    queue: str,
    delivery_id: str,
    dequeue_count: int,
) -> None:
    """Record a message that can never be handled, once."""
    _record(
        store,
        {
            "id": deterministic_id("dead-message", queue, message.message_id),
            "tenantId": message.tenant_id,
            "connectionId": message.connection_id,
            "messageId": message.message_id,
            "correlationId": message.correlation_id,
            "kind": message.kind.value,
            "message": message.model_dump(mode="json", by_alias=True),
        },
        reason,
        queue=queue,
        delivery_id=delivery_id,
        dequeue_count=dequeue_count,
    )


def dead_letter_body(
    store: DocumentStore,
    body: bytes,
    reason: str,
    *,
    queue: str,
    delivery_id: str,
    dequeue_count: int,
) -> None:
    """Record a body that is not a SyncMessage, once: its digest and size, not its bytes
    (it is nobody's envelope, and may hold anything).
    """
    digest = hashlib.sha256(body).hexdigest()
    _record(
        store,
        {
            "id": deterministic_id("dead-body", queue, digest),
            "tenantId": UNPARSED_TENANT,
            "messageId": None,
            "bodySha256": digest,
            "bodyBytes": len(body),
        },
        reason,
        queue=queue,
        delivery_id=delivery_id,
        dequeue_count=dequeue_count,
    )


def _record(
    store: DocumentStore,
    fields: dict[str, Any],
    reason: str,
    *,
    queue: str,
    delivery_id: str,
    dequeue_count: int,
) -> None:
    document = fields | {
        "queue": queue,
        "deliveryId": delivery_id,
        "dequeueCount": dequeue_count,
        "reason": reason,
        "createdAt": utcnow().isoformat(),
    }
    try:
        store.create(DEAD_LETTERS, document)
    except ConflictError:
        log.info("delivery %s on %s was dead-lettered before", delivery_id, queue)
        return
    log.warning(
        "dead-lettered delivery %s on %s: %s",
        delivery_id,
        queue,
        reason,
    )
