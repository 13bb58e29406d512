"""The public entry points: verify a delivery, answer a handshake, name a delivery.

Pure code: no I/O, the clock only through `now`. The receiver calls `answer_handshake`
first (a handshake is answered and never enqueued), then `verify_webhook`, then keys its
inbox on `delivery_id`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence

from integration_core.webhooks._private import matching_secret, secret_list
from integration_core.webhooks.providers import PROVIDERS
from integration_core.webhooks.types import (
    Delivery,
    HandshakeReply,
    Headers,
    Provider,
    Reason,
    WebhookVerificationError,
)

__all__ = ["answer_handshake", "delivery_id", "signed_timestamp", "verify_webhook"]

log = logging.getLogger(__name__)


def _provider(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise WebhookVerificationError(
            Reason.UNKNOWN_PROVIDER, f"no webhook verifier for provider {name!r}"
        ) from None


def _delivery(
    headers: Mapping[str, str],
    body: bytes,
    url: str | None,
    method: str,
    now: float | None,
    tolerance_seconds: float,
    allow_legacy: bool,
) -> Delivery:
    return Delivery(
        headers=Headers(headers),
        body=bytes(body),
        url=url,
        method=method,
        now=time.time() if now is None else now,
        tolerance_seconds=tolerance_seconds,
        allow_legacy=allow_legacy,
    )


def verify_webhook(
    provider: str,
    *,
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    url: str | None = None,
    method: str = "POST",
    now: float | None = None,
    tolerance_seconds: float = 300.0,
    allow_legacy: bool = False,
) -> None:
    """Return if the delivery is genuine; raise WebhookVerificationError otherwise.

    `secret` is one secret, or several (current first, then previous) while a rotation
    overlaps. `allow_legacy` admits GitHub's sha1 header when no sha256 one came.
    """
    verifier = _provider(provider)
    delivery = _delivery(headers, body, url, method, now, tolerance_seconds, allow_legacy)
    try:
        matching_secret(verifier.prepare(delivery), secret_list(secret))
    except WebhookVerificationError as err:
        log.info("webhook from %s refused: %s (%s)", provider, err.reason.value, err)
        raise


def answer_handshake(
    provider: str,
    *,
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    url: str | None = None,
    method: str = "POST",
    now: float | None = None,
    tolerance_seconds: float = 300.0,
) -> HandshakeReply | None:
    """The reply to a provider's endpoint check, or None when this is not one.

    Handshakes the provider signs (Slack, Zoom, Google's sync) are verified first and raise
    WebhookVerificationError when they do not hold. Notion's carries the secret itself, so
    it needs none yet.
    """
    verifier = _provider(provider)
    if verifier.handshake is None:
        return None
    delivery = _delivery(headers, body, url, method, now, tolerance_seconds, False)
    return verifier.handshake(delivery, secret_list(secret))


def delivery_id(provider: str, *, headers: Mapping[str, str], body: bytes) -> str:
    """The inbox key: the provider's delivery id header(s) when sent, else a body hash.

    A retried delivery carries the same id (or the same body), so its key repeats.
    """
    verifier = _provider(provider)
    view = Headers(headers)
    parts = [view.get(name, "").strip() for name in verifier.delivery_id_headers]
    if parts and all(parts):
        return f"{provider}:" + ":".join(parts)
    return f"{provider}:sha256:" + hashlib.sha256(body).hexdigest()


def signed_timestamp(provider: str, *, headers: Mapping[str, str]) -> float | None:
    """The epoch seconds the provider signed into the delivery, for ordering and audit."""
    verifier = _provider(provider)
    return None if verifier.timestamp is None else verifier.timestamp(Headers(headers))
