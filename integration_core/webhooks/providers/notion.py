"""Notion: `X-Notion-Signature: sha256=<hex HMAC-SHA256(verification_token, body)>`.

The secret is the verification_token Notion POSTs once, unsigned, when the subscription is
created: the handshake surfaces it (`HandshakeReply.verification_token`) for the
registration to store; it never verifies anything by itself. Notion signs no timestamp.
https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads-recommended
"""

from __future__ import annotations

from collections.abc import Sequence

from integration_core.webhooks._hmac import HmacScheme
from integration_core.webhooks._private import json_object
from integration_core.webhooks.types import Delivery, HandshakeReply, Provider

__all__ = ["PROVIDER"]

SCHEME = HmacScheme(header="X-Notion-Signature", prefix="sha256=")


def handshake(delivery: Delivery, secrets: Sequence[str]) -> HandshakeReply | None:
    if SCHEME.header in delivery.headers:
        return None
    payload = json_object(delivery.body)
    token = payload.get("verification_token") if payload is not None else None
    if not isinstance(token, str) or not token or set(payload or ()) != {"verification_token"}:
        return None
    return HandshakeReply(200, "application/json", b"{}", verification_token=token)


PROVIDER = Provider(name="notion", prepare=SCHEME.prepare, handshake=handshake)
