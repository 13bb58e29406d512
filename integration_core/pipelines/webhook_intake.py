"""WebhookReceiver's pipeline: find the registration a delivery is addressed to.

Signature verification, replay protection and enqueueing are per provider and arrive with
the webhooks work; until a provider's verifier exists its deliveries are refused (501) and
nothing is enqueued, because accepting an unverified delivery would let anyone write into
the hub.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from integration_core.ratelimit import Limit
from integration_core.runtime import Runtime
from integration_core.storage import Filter

__all__ = ["WebhookReply", "WEBHOOKS", "receive_webhook"]

log = logging.getLogger(__name__)

WEBHOOKS = "webhooks"


@dataclass(frozen=True)
class WebhookReply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def receive_webhook(
    rt: Runtime, registration_id: str, headers: Mapping[str, str], body: bytes
) -> WebhookReply:
    """Rate-limit the endpoint per registration first, so a flood costs no lookups."""
    limit = Limit(
        f"webhook:{registration_id}",
        rt.settings.webhook_requests_per_minute,
        60.0,
        integration="",
    )
    decision = rt.limiter.acquire([limit])
    if not decision.allowed:
        retry_after = max(1, math.ceil(decision.retry_after))
        return WebhookReply(
            429, {"error": "too many deliveries"}, {"Retry-After": str(retry_after)}
        )
    found = rt.store.query(WEBHOOKS, filters=[Filter("id", "=", registration_id)], limit=1)
    if not found:
        log.info("webhook for unknown registration %s refused", registration_id)
        return WebhookReply(404, {"error": "unknown webhook registration"})
    provider = found[0].get("provider", "unknown")
    log.warning(
        "webhook for %s refused: no signature verifier for provider %s yet (%d bytes dropped)",
        registration_id,
        provider,
        len(body),
    )
    return WebhookReply(
        501, {"error": f"webhook deliveries from {provider} are not verified yet; nothing enqueued"}
    )
