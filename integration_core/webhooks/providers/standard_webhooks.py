"""Standard Webhooks: `webhook-id`, `webhook-timestamp` (seconds) and `webhook-signature`,
a space-separated list of `<version>,<base64>` over `"<id>.<timestamp>.<body>"`.

- `whsec_<base64 key>` (or the bare base64 key): `v1`, HMAC-SHA256 with the decoded key.
- `whpk_<base64 Ed25519 public key>`: `v1a`, an Ed25519 signature.
Any one signature of the key's version may match; other versions are ignored, and a header
with none of the key's version is refused.
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import binascii
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from integration_core.webhooks._hmac import (
    check_timestamp,
    decode_signature,
    header_timestamp,
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

SYMMETRIC_PREFIX = "whsec_"
PUBLIC_KEY_PREFIX = "whpk_"
SIGNATURE_HEADER = "webhook-signature"
TIMESTAMP_HEADER = "webhook-timestamp"


def _key(secret: str, prefix: str) -> bytes | None:
    encoded = secret.removeprefix(prefix)
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None


def _hmac_matches(secret: str, message: bytes, signatures: list[bytes | None]) -> bool:
    key = _key(secret, SYMMETRIC_PREFIX)
    if not key:
        return False
    computed = hmac.digest(key, message, "sha256")
    return any([matches(signature, computed) for signature in signatures])


def _ed25519_matches(secret: str, message: bytes, signatures: list[bytes | None]) -> bool:
    key = _key(secret, PUBLIC_KEY_PREFIX)
    if key is None or len(key) != 32:
        return False
    public = Ed25519PublicKey.from_public_bytes(key)
    for signature in signatures:
        if signature is None:
            continue
        try:
            public.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def prepare(delivery: Delivery) -> Check:
    msg_id = delivery.headers.require("webhook-id")
    raw_timestamp = delivery.headers.require(TIMESTAMP_HEADER)
    by_version: dict[str, list[bytes | None]] = {}
    for entry in delivery.headers.require(SIGNATURE_HEADER).split():
        version, _, encoded = entry.partition(",")
        by_version.setdefault(version, []).append(decode_signature(encoded, "base64"))
    if not by_version.keys() & {"v1", "v1a"}:
        raise WebhookVerificationError(Reason.UNKNOWN_SCHEME, "no v1 or v1a signature")
    check_timestamp(delivery, raw_timestamp)
    message = f"{msg_id}.{raw_timestamp}.".encode() + delivery.body

    def check(secret: str) -> bool:
        if secret.startswith(PUBLIC_KEY_PREFIX):
            return _ed25519_matches(secret, message, by_version.get("v1a", []))
        return _hmac_matches(secret, message, by_version.get("v1", []))

    return check


def timestamp(headers: Headers) -> float | None:
    return header_timestamp(headers.get(TIMESTAMP_HEADER))


PROVIDER = Provider(
    name="standard_webhooks",
    prepare=prepare,
    delivery_id_headers=("webhook-id",),
    timestamp=timestamp,
)
