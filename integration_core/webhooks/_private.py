"""Helpers of the webhooks package that are not API: secrets in rotation, JSON bodies."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit

from integration_core.webhooks.types import (
    Check,
    Delivery,
    HandshakeReply,
    Reason,
    WebhookVerificationError,
)

__all__ = [
    "json_object",
    "json_reply",
    "matching_secret",
    "secret_list",
    "signed_json_handshake",
    "split_url",
]


def secret_list(secret: str | Sequence[str]) -> tuple[str, ...]:
    """One secret, or the current and previous ones while a rotation overlaps; empty ones
    dropped, since a MAC keyed with nothing is one anybody can make."""
    secrets = (secret,) if isinstance(secret, str) else tuple(secret)
    return tuple(s for s in secrets if isinstance(s, str) and s)


def matching_secret(check: Check, secrets: Sequence[str]) -> str:
    """The first secret the signature holds for; every secret is tried, so timing says nothing
    about which one matched. `secrets` come from `secret_list`."""
    if not secrets:
        raise WebhookVerificationError(Reason.NO_SECRET, "no webhook secret is configured")
    results = [check(secret) for secret in secrets]
    for secret, ok in zip(secrets, results, strict=True):
        if ok:
            return secret
    raise WebhookVerificationError(Reason.BAD_SIGNATURE, "signature does not match")


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None if it is not one."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def split_url(url: str) -> SplitResult:
    """The URL's parts; a URL that cannot be parsed (a crafted Host, say) is a 400."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what raises for a bad one
    except ValueError as err:
        raise WebhookVerificationError(
            Reason.MALFORMED_URL, "request URL cannot be parsed"
        ) from err
    return parts


def signed_json_handshake(
    delivery: Delivery,
    secrets: Sequence[str],
    prepare: Callable[[Delivery], Check],
    *,
    field: str,
    value: str,
) -> tuple[dict[str, Any], str] | None:
    """A JSON body whose `field` is `value`, verified like any delivery: the payload and the
    secret that verified it. None when the body is no such handshake."""
    payload = json_object(delivery.body)
    if payload is None or payload.get(field) != value:
        return None
    return payload, matching_secret(prepare(delivery), secrets)


def json_reply(answer: dict[str, str]) -> HandshakeReply:
    return HandshakeReply(200, "application/json", json.dumps(answer).encode())
