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

from integration_core.errors import InvalidIdError
from integration_core.pipelines.webhook_lookups import LookupBudget
from integration_core.ratelimit import Limit
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.storage.ids import check_id

__all__ = ["WebhookReply", "WEBHOOKS", "receive_webhook"]

log = logging.getLogger(__name__)

WEBHOOKS = "webhooks"
_lookups = LookupBudget()


@dataclass(frozen=True)
class WebhookReply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def receive_webhook(
    rt: Runtime, registration_id: str, headers: Mapping[str, str], body: bytes
) -> WebhookReply:
    """Rate-limit the endpoint per registration first, so a flood costs no lookups; then
    distinct unknown ids are limited by the lookup budget (webhook_lookups.py).
    """
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
    wait = _lookups.retry_after(rt.limiter, registration_id, headers)
    if wait is not None:
        return WebhookReply(
            429, {"error": "too many unknown registrations"}, {"Retry-After": str(wait)}
        )
    found = _find(rt, registration_id)
    if not found:
        _lookups.missed(rt.limiter, registration_id, headers)
        log.info("webhook for an unknown registration refused")
        return WebhookReply(404, {"error": "unknown webhook registration"})
    _lookups.found(registration_id)
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


def _find(rt: Runtime, registration_id: str) -> list[dict[str, Any]]:
    try:
        check_id(registration_id)
    except InvalidIdError:
        return []  # could never name a registration: a miss, without a query
    return rt.store.query(WEBHOOKS, filters=[Filter("id", "=", registration_id)], limit=1)
