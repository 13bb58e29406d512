"""The one error hierarchy. Pipelines decide what to do by class, never by message."""

from __future__ import annotations

from typing import Any

__all__ = [
    "LockstepError",
    "ConfigurationError",
    "ConnectionConfigurationError",
    "RetryableError",
    "AuthError",
    "PermanentError",
    "InvalidIdError",
    "ConflictError",
    "PreconditionFailedError",
    "AlreadyDecidedError",
    "NotFoundError",
]


class LockstepError(Exception):
    """Base of every error Lockstep raises on purpose."""


class ConfigurationError(LockstepError):
    """A setting is missing or invalid; raised at start-up, never retried."""


class ConnectionConfigurationError(ConfigurationError):
    """A connection's own settings or credential material cannot work (a refused URL, an
    unusable client certificate): the pipelines mark the connection instead of retrying.
    """


class RetryableError(LockstepError):
    """A transient failure (throttling, 5xx, timeout): the same call may succeed later.

    `retry_after` is the earliest sensible retry in seconds, when the cause says so.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(LockstepError):
    """Credentials were rejected or cannot be refreshed; the connection needs attention."""


class PermanentError(LockstepError):
    """The input can never succeed as it is (malformed record, rejected by the provider)."""


class InvalidIdError(PermanentError, ValueError):
    """A document id or partition key a store must not accept (bad input, never retried).

    Also a ValueError: it is an invalid argument to the store, wherever it came from.
    """


class ConflictError(LockstepError):
    """A document with this id already exists."""


class PreconditionFailedError(ConflictError):
    """An etag-conditional write lost a race: re-read and try again."""


class AlreadyDecidedError(ConflictError):
    """Someone decided first; `decision` is the stored document that won."""

    def __init__(self, message: str, *, decision: dict[str, Any]) -> None:
        super().__init__(message)
        self.decision = decision


class NotFoundError(LockstepError):
    """The document, record or resource does not exist."""
