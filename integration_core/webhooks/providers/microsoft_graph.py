"""Microsoft Graph change notifications: every notification in `value` carries the
`clientState` given when the subscription was created, compared in constant time.

Subscribing, Graph POSTs `?validationToken=…` and wants it echoed as text/plain within 10
seconds: the handshake answers at once, with nothing to look up. Graph signs no timestamp
(rich notifications' validationTokens are JWTs, out of scope here).
https://learn.microsoft.com/graph/change-notifications-delivery-webhooks
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from urllib.parse import parse_qs

from integration_core.webhooks._private import json_object, split_url
from integration_core.webhooks.types import (
    Check,
    Delivery,
    HandshakeReply,
    Provider,
    Reason,
    WebhookVerificationError,
)

__all__ = ["PROVIDER"]

# Graph's tokens are a few hundred characters; anything far longer is not Graph's.
MAX_TOKEN_LENGTH = 4096


def prepare(delivery: Delivery) -> Check:
    payload = json_object(delivery.body)
    notifications = payload.get("value") if payload is not None else None
    if not isinstance(notifications, list) or not notifications:
        raise WebhookVerificationError(Reason.MALFORMED_BODY, "no notifications in value")
    states = []
    for item in notifications:
        state = item.get("clientState") if isinstance(item, dict) else None
        if not isinstance(state, str) or not state:
            raise WebhookVerificationError(
                Reason.BAD_SIGNATURE, "a notification has no clientState"
            )
        states.append(state.encode("utf-8"))

    def check(secret: str) -> bool:
        key = secret.encode("utf-8")
        return all([hmac.compare_digest(state, key) for state in states])

    return check


def handshake(delivery: Delivery, secrets: Sequence[str]) -> HandshakeReply | None:
    if delivery.url is None:
        return None
    tokens = parse_qs(split_url(delivery.url).query, keep_blank_values=True).get("validationToken")
    if tokens is None:
        return None
    token = tokens[0]
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise WebhookVerificationError(
            Reason.MALFORMED_BODY, "validationToken is empty or too long"
        )
    return HandshakeReply(200, "text/plain", token.encode("utf-8"))


PROVIDER = Provider(name="microsoft_graph", prepare=prepare, handshake=handshake)
