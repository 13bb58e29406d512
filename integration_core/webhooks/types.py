"""What verification works on and answers with: the delivery, the error, the handshake reply.

Kept free of any provider so that the receiver, the inbox and every provider module share one
vocabulary. Nothing here ever holds a secret: a `Delivery` is the request as received.
"""

from __future__ import annotations

import time
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from integration_core.errors import LockstepError

__all__ = [
    "Check",
    "Delivery",
    "HandshakeReply",
    "Headers",
    "Provider",
    "Reason",
    "WebhookVerificationError",
]


class Reason(StrEnum):
    """Why a delivery was refused: a stable code for audit rows and metrics."""

    MISSING_HEADER = "missing_header"
    UNKNOWN_SCHEME = "unknown_scheme"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_TIMESTAMP = "bad_timestamp"
    MALFORMED_BODY = "malformed_body"
    MALFORMED_URL = "malformed_url"
    NO_SECRET = "no_secret"  # noqa: S105 - a reason code
    UNKNOWN_PROVIDER = "unknown_provider"


class WebhookVerificationError(LockstepError):
    """A delivery that must not get in. The message names what failed, never a secret.

    `status` is the HTTP answer the receiver gives: 400 for a body or URL that cannot be read,
    401 for everything that is about who sent it or when.
    """

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def status(self) -> int:
        return 400 if self.reason in (Reason.MALFORMED_BODY, Reason.MALFORMED_URL) else 401


class Headers(Mapping[str, str]):
    """Request headers looked up case-insensitively (HTTP header names are)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        if isinstance(headers, Headers):  # already folded: share, do not copy
            self._items: dict[str, str] = headers._items
        else:
            self._items = {str(name).lower(): str(value) for name, value in headers.items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> ItemsView[str, str]:
        return self._items.items()

    def require(self, name: str) -> str:
        """The header's value; a missing or empty header refuses the delivery."""
        value = self._items.get(name.lower(), "").strip()
        if not value:
            raise WebhookVerificationError(Reason.MISSING_HEADER, f"missing header {name}")
        return value


@dataclass(frozen=True)
class Delivery:
    """One request as the provider sent it: raw body bytes, never a re-serialized body."""

    headers: Headers
    body: bytes
    url: str | None = None
    method: str = "POST"
    now: float = field(default_factory=time.time)
    tolerance_seconds: float = 300.0
    allow_legacy: bool = False


@dataclass(frozen=True)
class HandshakeReply:
    """What to answer a provider's endpoint check with, instead of processing the request.

    `verification_token` carries Notion's one-time token so the registration can store it.
    """

    status: int
    content_type: str
    body: bytes
    verification_token: str | None = None


Check = Callable[[str], bool]
"""Does the prepared delivery's signature hold for this one secret?"""


@dataclass(frozen=True)
class Provider:
    """How one provider signs: `prepare` reads everything that does not depend on the secret
    (headers, scheme, timestamp window) and raises for it, then returns the per-secret check,
    so a rotated secret costs one more MAC and never a second parse.
    """

    name: str
    prepare: Callable[[Delivery], Check]
    delivery_id_headers: tuple[str, ...] = ()
    timestamp: Callable[[Headers], float | None] | None = None
    handshake: Callable[[Delivery, Sequence[str]], HandshakeReply | None] | None = None
