"""Stripe: `Stripe-Signature: t=<seconds>,v1=<hex>,…` over `"<t>.<body>"` with HMAC-SHA256.

Any one `v1` may match (Stripe sends one per active secret while one is rolled); other
schemes (`v0`, test-mode ones) are ignored, and a header with no `v1` at all is refused.
The secret is used as given, `whsec_` prefix included, as Stripe's libraries do.
https://docs.stripe.com/webhooks#verify-manually
"""

from __future__ import annotations

from integration_core.webhooks._hmac import (
    check_timestamp,
    decode_signature,
    header_timestamp,
    mac,
    matches,
)
from integration_core.webhooks.types import (
    Check,
    Delivery,
    Headers,
    Provider,
    Reason,
    WebhookVerificationError,
)

__all__ = ["PROVIDER"]

HEADER = "Stripe-Signature"


def _fields(header: str) -> list[tuple[str, str]]:
    pairs = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            pairs.append((name, value))
    return pairs


def prepare(delivery: Delivery) -> Check:
    fields = _fields(delivery.headers.require(HEADER))
    timestamps = [value for name, value in fields if name == "t"]
    if len(timestamps) != 1:
        raise WebhookVerificationError(Reason.BAD_TIMESTAMP, f"{HEADER} needs exactly one t=")
    signatures = [decode_signature(value, "hex") for name, value in fields if name == "v1"]
    if not signatures:
        raise WebhookVerificationError(Reason.UNKNOWN_SCHEME, f"{HEADER} carries no v1 signature")
    check_timestamp(delivery, timestamps[0])
    message = timestamps[0].encode("ascii") + b"." + delivery.body

    def check(secret: str) -> bool:
        computed = mac("sha256", secret, message)
        return any([matches(signature, computed) for signature in signatures])

    return check


def timestamp(headers: Headers) -> float | None:
    found = [value for name, value in _fields(headers.get(HEADER, "")) if name == "t"]
    return header_timestamp(found[0]) if len(found) == 1 else None


PROVIDER = Provider(name="stripe", prepare=prepare, timestamp=timestamp)
