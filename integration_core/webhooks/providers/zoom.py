"""Zoom: `x-zm-signature: v0=<hex HMAC-SHA256(secret token, "v0:<timestamp>:<body>")>`.

The endpoint.url_validation handshake is signed like any event and verified first; the
answer is `{"plainToken", "encryptedToken": hex HMAC-SHA256(secret token, plainToken)}`
made with the secret that verified (during a rotation, the one Zoom holds).
https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from integration_core.webhooks._hmac import HmacScheme, mac, versioned
from integration_core.webhooks._private import json_object, matching_secret
from integration_core.webhooks.types import (
    Delivery,
    HandshakeReply,
    Provider,
    Reason,
    WebhookVerificationError,
)

__all__ = ["PROVIDER"]

SCHEME = HmacScheme(
    header="x-zm-signature",
    prefix="v0=",
    timestamp_header="x-zm-request-timestamp",
    message=versioned("v0"),
)


def handshake(delivery: Delivery, secrets: Sequence[str]) -> HandshakeReply | None:
    payload = json_object(delivery.body)
    if payload is None or payload.get("event") != "endpoint.url_validation":
        return None
    secret = matching_secret(SCHEME.prepare(delivery), secrets)
    inner = payload.get("payload")
    plain = inner.get("plainToken") if isinstance(inner, dict) else None
    if not isinstance(plain, str) or not plain:
        raise WebhookVerificationError(Reason.MALFORMED_BODY, "url_validation without plainToken")
    encrypted = mac("sha256", secret, plain.encode("utf-8")).hex()
    answer = {"plainToken": plain, "encryptedToken": encrypted}
    return HandshakeReply(200, "application/json", json.dumps(answer).encode())


PROVIDER = Provider(
    name="zoom",
    prepare=SCHEME.prepare,
    delivery_id_headers=("x-zm-trackingid",),
    timestamp=SCHEME.timestamp,
    handshake=handshake,
)
