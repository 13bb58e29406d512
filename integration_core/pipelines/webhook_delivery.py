"""InboundWorker's side of a webhook: the WEBHOOK message the receiver enqueued.

The message carries the verified delivery (headers, and the body inline or by its
claim-check name), so the worker reads no inbox entry. Turning a delivery into changes is
the adapters' `parse_webhook` (ChangeNotice), with thin notices completed by a read of the
record and notices older than what was applied dropped; until a provider's parser exists,
the delivery is recorded as waiting in the inbox, from which it can be replayed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from integration_core.errors import PermanentError
from integration_core.models import SyncMessage, SyncResult
from integration_core.pipelines.results import Tally, record_result
from integration_core.runtime import Runtime
from integration_core.webhooks.inbox import raw_body

__all__ = ["WebhookDelivery", "is_delivery", "process_delivery", "read_delivery"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookDelivery:
    """A verified delivery as the provider sent it (secret-bearing headers left out)."""

    registration_id: str
    inbox_id: str
    provider: str
    headers: Mapping[str, str]
    body: bytes


def is_delivery(message: SyncMessage) -> bool:
    """Does this WEBHOOK message carry a delivery from the receiver (not ready changes)?"""
    return "inbox_id" in message.payload


def read_delivery(rt: Runtime, message: SyncMessage) -> WebhookDelivery:
    payload = message.payload
    try:
        return WebhookDelivery(
            registration_id=str(payload["registration_id"]),
            inbox_id=str(payload["inbox_id"]),
            provider=str(payload["provider"]),
            headers={str(k): str(v) for k, v in dict(payload.get("headers") or {}).items()},
            body=raw_body(rt.bodies, body=payload.get("body"), body_ref=payload.get("body_ref")),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise PermanentError(f"message {message.message_id} is not a webhook delivery") from err


def process_delivery(rt: Runtime, message: SyncMessage) -> SyncResult:
    """Record the delivery as waiting for its provider's parser; it stays replayable."""
    delivery = read_delivery(rt, message)
    tally = Tally()
    tally.errors.append(
        f"{delivery.provider} delivery {delivery.inbox_id} ({len(delivery.body)} bytes) is kept"
        " in the webhook inbox: no parser turns it into changes yet; replay it once one does"
    )
    log.info(
        "webhook delivery waits in the inbox for a parser",
        extra={"provider": delivery.provider, "inbox_id": delivery.inbox_id},
    )
    return record_result(rt.store, message, tally, direction="inbound", task_id=None)
