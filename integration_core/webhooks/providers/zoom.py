"""Zoom: `x-zm-signature: v0=<hex HMAC-SHA256(secret token, "v0:<timestamp>:<body>")>`.

The endpoint.url_validation handshake is signed like any event and verified first; the
answer is `{"plainToken", "encryptedToken": hex HMAC-SHA256(secret token, plainToken)}`
made with the secret that verified (during a rotation, the one Zoom holds).
https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events
"""

from __future__ import annotations

from collections.abc import Sequence

from integration_core.webhooks._hmac import mac, v0_scheme
from integration_core.webhooks._private import json_reply, signed_json_handshake
from integration_core.webhooks.types import (
    Delivery,
    HandshakeReply,
    Provider,
    Reason,
    WebhookVerificationError,
)

__all__ = ["PROVIDER"]

SCHEME = v0_scheme(header="x-zm-signature", timestamp_header="x-zm-request-timestamp")


def handshake(delivery: Delivery, secrets: Sequence[str]) -> HandshakeReply | None:
    found = signed_json_handshake(
        delivery, secrets, SCHEME.prepare, field="event", value="endpoint.url_validation"
    )
    if found is None:
        return None
    payload, secret = found
    inner = payload.get("payload")
    plain = inner.get("plainToken") if isinstance(inner, dict) else None
    if not isinstance(plain, str) or not plain:
        raise WebhookVerificationError(Reason.MALFORMED_BODY, "url_validation without plainToken")
    encrypted = mac("sha256", secret, plain.encode("utf-8")).hex()
    return json_reply({"plainToken": plain, "encryptedToken": encrypted})


PROVIDER = Provider(
    name="zoom",
    prepare=SCHEME.prepare,
    delivery_id_headers=("x-zm-trackingid",),
    timestamp=SCHEME.timestamp,
    handshake=handshake,
)
