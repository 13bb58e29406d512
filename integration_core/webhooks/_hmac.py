"""The one parameterised HMAC verifier, and the helpers every provider module shares.

A provider is described by data — which header, which prefix, which digest and encoding,
what is signed, which timestamp header and unit — and `HmacScheme.prepare` does the rest:
raw body bytes only, constant-time comparison, stale and future timestamps both refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from integration_core.webhooks.types import (
    Check,
    Delivery,
    Headers,
    Reason,
    WebhookVerificationError,
)

__all__ = [
    "HmacScheme",
    "body_only",
    "check_timestamp",
    "decode_signature",
    "header_timestamp",
    "mac",
    "matches",
    "parse_timestamp",
    "v0_scheme",
]

Encoding = Literal["hex", "base64"]


def mac(algorithm: str, secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, getattr(hashlib, algorithm)).digest()


def decode_signature(value: str, encoding: Encoding) -> bytes | None:
    """The signature's bytes, or None when it is not even well-formed (so it matches nothing)."""
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def matches(expected: bytes | None, computed: bytes) -> bool:
    return expected is not None and hmac.compare_digest(expected, computed)


def parse_timestamp(raw: str, *, per_second: float = 1.0) -> float:
    """Epoch seconds from an integer header (`per_second` 1000 for milliseconds)."""
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 16:
        raise WebhookVerificationError(Reason.BAD_TIMESTAMP, "timestamp is not an epoch integer")
    return int(text) / per_second


def header_timestamp(raw: str | None, *, per_second: float = 1.0) -> float | None:
    """Epoch seconds from a header value for audit and ordering; None when absent or not one."""
    if raw is None:
        return None
    try:
        return parse_timestamp(raw, per_second=per_second)
    except WebhookVerificationError:
        return None


def check_timestamp(delivery: Delivery, raw: str, *, per_second: float = 1.0) -> float:
    """Refuse a signed timestamp outside `now ± tolerance`: old is a replay, new is forged."""
    seconds = parse_timestamp(raw, per_second=per_second)
    age = delivery.now - seconds
    if age > delivery.tolerance_seconds:
        raise WebhookVerificationError(
            Reason.STALE_TIMESTAMP, f"timestamp is {age:.0f}s old, beyond the tolerance"
        )
    if -age > delivery.tolerance_seconds:
        raise WebhookVerificationError(
            Reason.FUTURE_TIMESTAMP, f"timestamp is {-age:.0f}s in the future, beyond the tolerance"
        )
    return seconds


def body_only(delivery: Delivery, timestamp: str) -> bytes:
    return delivery.body


@dataclass(frozen=True)
class HmacScheme:
    """One HMAC signature header: `<prefix><encoded HMAC(secret, message)>`.

    `message(delivery, timestamp_text)` builds the signed bytes; `per_second` is the
    timestamp header's unit (1 for seconds, 1000 for milliseconds).
    """

    header: str
    prefix: str = ""
    algorithm: str = "sha256"
    encoding: Encoding = "hex"
    timestamp_header: str | None = None
    per_second: float = 1.0
    message: Callable[[Delivery, str], bytes] = body_only

    def prepare(self, delivery: Delivery) -> Check:
        value = delivery.headers.require(self.header)
        if not value.startswith(self.prefix):
            raise WebhookVerificationError(
                Reason.UNKNOWN_SCHEME, f"{self.header} does not use the {self.prefix!r} scheme"
            )
        expected = decode_signature(value[len(self.prefix) :].strip(), self.encoding)
        timestamp = ""
        if self.timestamp_header is not None:
            timestamp = delivery.headers.require(self.timestamp_header)
            check_timestamp(delivery, timestamp, per_second=self.per_second)
        message = self.message(delivery, timestamp)
        return lambda secret: matches(expected, mac(self.algorithm, secret, message))

    def timestamp(self, headers: Headers) -> float | None:
        if self.timestamp_header is None:
            return None
        return header_timestamp(headers.get(self.timestamp_header), per_second=self.per_second)


def _v0_message(delivery: Delivery, timestamp: str) -> bytes:
    return b"v0:" + timestamp.encode("ascii") + b":" + delivery.body


def v0_scheme(*, header: str, timestamp_header: str) -> HmacScheme:
    """`v0=<hex HMAC-SHA256(secret, "v0:<timestamp>:<body>")>`, as Slack and Zoom sign."""
    return HmacScheme(
        header=header, prefix="v0=", timestamp_header=timestamp_header, message=_v0_message
    )
