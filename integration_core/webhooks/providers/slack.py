"""Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<timestamp>:<body>")>`.

The timestamp (`X-Slack-Request-Timestamp`, seconds) is signed, so stale and future
requests are refused. The url_verification handshake is signed too and verified first.
https://api.slack.com/authentication/verifying-requests-from-slack
"""

from __future__ import annotations

from collections.abc import Sequence

from integration_core.webhooks._hmac import v0_scheme
from integration_core.webhooks._private import json_reply, signed_json_handshake
from integration_core.webhooks.types import (
    Delivery,
    HandshakeReply,
    Provider,
    Reason,
    WebhookVerificationError,
)

__all__ = ["PROVIDER"]

SCHEME = v0_scheme(header="X-Slack-Signature", timestamp_header="X-Slack-Request-Timestamp")


def handshake(delivery: Delivery, secrets: Sequence[str]) -> HandshakeReply | None:
    found = signed_json_handshake(
        delivery, secrets, SCHEME.prepare, field="type", value="url_verification"
    )
    if found is None:
        return None
    challenge = found[0].get("challenge")
    if not isinstance(challenge, str):
        raise WebhookVerificationError(Reason.MALFORMED_BODY, "url_verification without challenge")
    return json_reply({"challenge": challenge})


PROVIDER = Provider(
    name="slack", prepare=SCHEME.prepare, timestamp=SCHEME.timestamp, handshake=handshake
)
