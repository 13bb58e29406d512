"""One audit row per webhook delivery (container `webhook-audit`, TTL 30 days).

A row says what happened and how long it took: outcome, reason, the provider's delivery id,
status and latency. It never holds the secret, the body or the headers. Ids begin with the
time, so the admin API lists a registration's deliveries in arrival order.
"""

from __future__ import annotations

import logging
import secrets
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from integration_core.clock import to_iso, utcnow
from integration_core.errors import LockstepError
from integration_core.models import Document, UtcDatetime
from integration_core.storage import DocumentStore

__all__ = ["AUDIT", "Outcome", "WebhookAudit", "write_audit"]

log = logging.getLogger(__name__)

AUDIT = "webhook-audit"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    HANDSHAKE = "handshake"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"


class WebhookAudit(Document):
    container: ClassVar[str] = AUDIT
    default_ttl_seconds: ClassVar[int] = 30 * 24 * 3600

    registration_id: str
    provider: str
    outcome: Outcome
    status: int
    reason: str | None = None
    delivery_id: str | None = None
    latency_ms: float
    at: UtcDatetime = Field(default_factory=utcnow)
    ttl: int = default_ttl_seconds


def write_audit(
    store: DocumentStore,
    *,
    tenant_id: str,
    registration_id: str,
    provider: str,
    outcome: Outcome,
    status: int,
    latency_ms: float,
    reason: str | None = None,
    delivery_id: str | None = None,
) -> None:
    """Best effort: a failed audit write is logged and never changes the answer.

    The row is written as the document `WebhookAudit` reads, built directly: one per
    delivery, so it skips the model's validation and serialisation (test_audit.py holds
    the two to the same shape)."""
    # Time first, so that id order (the order the admin API pages in) is arrival order.
    at = utcnow()
    row = {
        "id": f"{at.strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(4)}",
        "tenantId": tenant_id,
        "registrationId": registration_id,
        "provider": provider,
        "outcome": outcome.value,
        "status": status,
        "reason": reason,
        "deliveryId": delivery_id,
        "latencyMs": round(latency_ms, 3),
        "at": to_iso(at),
        "ttl": WebhookAudit.default_ttl_seconds,
    }
    try:
        store.create(AUDIT, row)
    except LockstepError as err:
        log.warning("could not write webhook audit (%s)", type(err).__name__)
