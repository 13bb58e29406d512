"""Google push channels (Calendar, Drive, …): `X-Goog-Channel-Token` must equal the token
given when the channel was opened, compared in constant time.

Google signs nothing else and sends no timestamp; the first message on a channel is
`X-Goog-Resource-State: sync`, which is answered 200 and carries no change. The inbox keys
on the channel id and the message number.
https://developers.google.com/calendar/api/guides/push#receiving-notifications
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from integration_core.webhooks._private import matching_secret
from integration_core.webhooks.types import Check, Delivery, HandshakeReply, Provider

__all__ = ["PROVIDER"]

TOKEN_HEADER = "X-Goog-Channel-Token"  # noqa: S105 - a header name


def prepare(delivery: Delivery) -> Check:
    token = delivery.headers.require(TOKEN_HEADER).encode("utf-8")
    delivery.headers.require("X-Goog-Channel-ID")
    return lambda secret: hmac.compare_digest(token, secret.encode("utf-8"))


def handshake(delivery: Delivery, secrets: Sequence[str]) -> HandshakeReply | None:
    if delivery.headers.get("X-Goog-Resource-State", "").lower() != "sync":
        return None
    matching_secret(prepare(delivery), secrets)
    return HandshakeReply(200, "text/plain", b"")


PROVIDER = Provider(
    name="google_channel",
    prepare=prepare,
    delivery_id_headers=("X-Goog-Channel-ID", "X-Goog-Message-Number"),
    handshake=handshake,
)
