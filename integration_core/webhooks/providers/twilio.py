"""Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1(auth token, URL + sorted form params)>`.

Form posts sign the full URL followed by every POST parameter as name+value, sorted by name
then value. JSON posts carry `bodySHA256=<hex SHA-256(body)>` in the URL instead and sign
the URL alone. Twilio may or may not include the default port (443/80) in what it signed,
so both forms of the URL are tried. Twilio signs no timestamp; the inbox keys on
I-Twilio-Idempotency-Token.
https://www.twilio.com/docs/usage/security#validating-requests
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import SplitResult, parse_qs, parse_qsl

from integration_core.webhooks._hmac import decode_signature, mac, matches
from integration_core.webhooks._private import split_url
from integration_core.webhooks.types import (
    Check,
    Delivery,
    Provider,
    Reason,
    WebhookVerificationError,
)

__all__ = ["PROVIDER", "url_variants"]

HEADER = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
DEFAULT_PORTS = {"https": 443, "http": 80}


def url_variants(url: str) -> tuple[str, ...]:
    """The URL without its port, and with its port (the default one when it had none)."""
    parts = split_url(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    prefix = userinfo + at
    if parts.port is not None:
        host = host[: host.rfind(":")]
    port = parts.port or DEFAULT_PORTS.get(parts.scheme)

    def with_netloc(netloc: str) -> str:
        return SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment).geturl()

    without = with_netloc(prefix + host)
    if port is None:
        return (without,)
    return (without, with_netloc(f"{prefix}{host}:{port}"))


def _signed_params(delivery: Delivery, url: str) -> bytes:
    body_hash = parse_qs(split_url(url).query).get("bodySHA256")
    if body_hash is not None:
        computed = hashlib.sha256(delivery.body).hexdigest()
        if not hmac.compare_digest(body_hash[-1].lower().encode(), computed.encode()):
            raise WebhookVerificationError(
                Reason.BAD_SIGNATURE, "bodySHA256 does not match the body"
            )
        return b""
    if not delivery.body:
        return b""
    content_type = delivery.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise WebhookVerificationError(
            Reason.MALFORMED_BODY, "a body Twilio signs is form-encoded or named by bodySHA256"
        )
    try:
        text = delivery.body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WebhookVerificationError(Reason.MALFORMED_BODY, "form body is not UTF-8") from err
    pairs = sorted(parse_qsl(text, keep_blank_values=True))
    return "".join(name + value for name, value in pairs).encode("utf-8")


def prepare(delivery: Delivery) -> Check:
    expected = decode_signature(delivery.headers.require(HEADER), "base64")
    if delivery.url is None:
        raise ValueError("twilio signatures cover the request URL: pass url=")
    params = _signed_params(delivery, delivery.url)
    messages = [variant.encode("utf-8") + params for variant in url_variants(delivery.url)]

    def check(secret: str) -> bool:
        return any([matches(expected, mac("sha1", secret, message)) for message in messages])

    return check


PROVIDER = Provider(
    name="twilio", prepare=prepare, delivery_id_headers=("I-Twilio-Idempotency-Token",)
)
