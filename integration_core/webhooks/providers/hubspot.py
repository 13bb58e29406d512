"""HubSpot, by the headers present: v3 when X-HubSpot-Signature-v3 came, else v1 or v2 as
X-HubSpot-Signature-Version says.

- v3: base64 HMAC-SHA256(client secret, method + URI + body + X-HubSpot-Request-Timestamp),
  the timestamp in milliseconds and refused outside the window; the URI with the
  percent-escapes HubSpot lists decoded (`%3A` → `:` and so on; nothing else).
- v2: hex SHA-256(client secret + method + URI + body). v1: hex SHA-256(client secret + body).
  Both are plain hashes, not HMACs, and sign no time: replays are the inbox's job.
https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests
"""

from __future__ import annotations

import hashlib
import re

from integration_core.webhooks._hmac import HmacScheme, decode_signature, matches
from integration_core.webhooks.types import (
    Check,
    Delivery,
    Provider,
    Reason,
    WebhookVerificationError,
)

__all__ = ["PROVIDER"]

V3_HEADER = "X-HubSpot-Signature-v3"
LEGACY_HEADER = "X-HubSpot-Signature"
VERSION_HEADER = "X-HubSpot-Signature-Version"

# The escapes HubSpot's v3 instructions decode in the request URI before signing.
_DECODED = {"3A": ":", "2F": "/", "3F": "?", "40": "@", "21": "!", "24": "$"}
_DECODED |= {"27": "'", "28": "(", "29": ")", "2A": "*", "2C": ",", "3B": ";"}
_ESCAPE = re.compile("%(" + "|".join(_DECODED) + ")", re.IGNORECASE)


def decoded_uri(url: str) -> str:
    return _ESCAPE.sub(lambda found: _DECODED[found.group(1).upper()], url)


def _url(delivery: Delivery) -> str:
    if delivery.url is None:
        raise ValueError("hubspot v2 and v3 signatures cover the request URL: pass url=")
    return delivery.url


def _v3_message(delivery: Delivery, timestamp: str) -> bytes:
    head = delivery.method.upper() + decoded_uri(_url(delivery))
    return head.encode("utf-8") + delivery.body + timestamp.encode("ascii")


V3 = HmacScheme(
    header=V3_HEADER,
    encoding="base64",
    timestamp_header="X-HubSpot-Request-Timestamp",
    per_second=1000.0,
    message=_v3_message,
)


def _legacy(delivery: Delivery) -> Check:
    expected = decode_signature(delivery.headers.require(LEGACY_HEADER), "hex")
    version = delivery.headers.require(VERSION_HEADER).lower()
    if version == "v1":
        signed = delivery.body
    elif version == "v2":
        signed = (delivery.method.upper() + _url(delivery)).encode("utf-8") + delivery.body
    else:
        raise WebhookVerificationError(Reason.UNKNOWN_SCHEME, f"unknown {VERSION_HEADER}")

    def check(secret: str) -> bool:
        computed = hashlib.sha256(secret.encode("utf-8") + signed).digest()
        return matches(expected, computed)

    return check


def prepare(delivery: Delivery) -> Check:
    if V3_HEADER in delivery.headers:
        return V3.prepare(delivery)
    if LEGACY_HEADER in delivery.headers:
        return _legacy(delivery)
    raise WebhookVerificationError(Reason.MISSING_HEADER, f"missing header {V3_HEADER}")


PROVIDER = Provider(name="hubspot", prepare=prepare, timestamp=V3.timestamp)
