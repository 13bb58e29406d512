"""Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<timestamp>:<body>")>`.

The timestamp (`X-Slack-Request-Timestamp`, seconds) is signed, so stale and future
requests are refused. The url_verification handshake is signed too and verified first.
https://api.slack.com/authentication/verifying-requests-from-slack
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from integration_core.webhooks._hmac import HmacScheme, versioned
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
    header="X-Slack-Signature",
    prefix="v0=",
    timestamp_header="X-Slack-Request-Timestamp",
    message=versioned("v0"),
)


def handshake(delivery: Delivery, secrets: Sequence[str]) -> HandshakeReply | None:
    payload = json_object(delivery.body)
    if payload is None or payload.get("type") != "url_verification":
        return None
    matching_secret(SCHEME.prepare(delivery), secrets)
    challenge = payload.get("challenge")
    if not isinstance(challenge, str):
        raise WebhookVerificationError(
            Reason.MALFORMED_BODY, "url_verification without a challenge"
        )
    return HandshakeReply(200, "application/json", json.dumps({"challenge": challenge}).encode())


PROVIDER = Provider(
    name="slack", prepare=SCHEME.prepare, timestamp=SCHEME.timestamp, handshake=handshake
)
