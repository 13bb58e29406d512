"""Per-provider error maps: (status, body) -> the error class the pipelines act on.

Rules are tried in order, the provider's before the defaults; the first that matches
decides. A rule can match a status (or a range), a body predicate, or both — so a 200 whose
body says "error", or a 403 that is really a rate limit, is classified like what it is.
The default table follows the HTTP semantics (RFC 9110) the way Airbyte's
`default_error_mapping.py` does: 429 and 5xx retry, 401/403 are auth, 404 not found, 409
conflict, 412 precondition failed, other 4xx permanent.

A 401 has its token refreshed once by the client's auth. A provider that refuses a token
in some other answer says so with `refresh=True` on that rule: the answer is a
`TokenRefusedError`, and the adapter has the token refreshed once and the call sent again,
as for a 401.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import httpx

from integration_core.errors import (
    AuthError,
    ConflictError,
    LockstepError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.net import body_excerpt
from integration_core.ratelimit.headers import parse_response

__all__ = [
    "CursorExpiredError",
    "DEFAULT_RULES",
    "ErrorMap",
    "ErrorRule",
    "Outcome",
    "RefreshingAuth",
    "TokenRefusedError",
]


class Outcome(StrEnum):
    RETRYABLE = "retryable"
    AUTH = "auth"
    PERMANENT = "permanent"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    PRECONDITION_FAILED = "precondition_failed"
    CURSOR_EXPIRED = "cursor_expired"
    OK = "ok"


class CursorExpiredError(PermanentError):
    """The provider no longer keeps changes that far back; the listing must start over."""


class TokenRefusedError(AuthError):
    """The provider refused the token itself (expired, invalid), in an answer other than a
    401: a refreshed token may succeed."""


@runtime_checkable
class RefreshingAuth(Protocol):
    """An `httpx.Auth` that can be told its token was refused (`CredentialAuth`)."""

    def refused(self) -> bool:
        """Refresh the token last applied, once; True when the call may be sent again."""
        ...


BodyPredicate = Callable[[Any], bool]
HeaderPredicate = Callable[[httpx.Headers], bool]


@dataclass(frozen=True)
class ErrorRule:
    """`status`: one code, a (low, high) inclusive range, or None for any status.

    `when` looks at the parsed JSON body (None when the body is not JSON), `when_headers`
    at the headers (GitHub's rate-limited 403 says so in `X-RateLimit-Remaining: 0`).
    `retry_after` is a fixed delay for retryable outcomes whose answer names none.
    `refresh`: an auth outcome that refuses the token itself, not a 401: refresh it once.
    """

    outcome: Outcome
    status: int | tuple[int, int] | None = None
    when: BodyPredicate | None = None
    when_headers: HeaderPredicate | None = None
    retry_after: float | None = None
    refresh: bool = False

    def matches(self, status: int, body: Any, headers: httpx.Headers) -> bool:
        if isinstance(self.status, int) and status != self.status:
            return False
        if isinstance(self.status, tuple) and not self.status[0] <= status <= self.status[1]:
            return False
        if self.when_headers is not None and not self.when_headers(headers):
            return False
        return self.when is None or bool(self.when(body))


DEFAULT_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(Outcome.OK, status=(100, 399)),
    ErrorRule(Outcome.RETRYABLE, status=429),
    ErrorRule(Outcome.RETRYABLE, status=408),
    ErrorRule(Outcome.RETRYABLE, status=(500, 599)),
    ErrorRule(Outcome.AUTH, status=401),
    ErrorRule(Outcome.AUTH, status=403),
    ErrorRule(Outcome.NOT_FOUND, status=404),
    ErrorRule(Outcome.NOT_FOUND, status=410),
    ErrorRule(Outcome.CONFLICT, status=409),
    ErrorRule(Outcome.PRECONDITION_FAILED, status=412),
    ErrorRule(Outcome.PERMANENT, status=(400, 499)),
)

_ERRORS: dict[Outcome, type[LockstepError]] = {
    Outcome.AUTH: AuthError,
    Outcome.PERMANENT: PermanentError,
    Outcome.NOT_FOUND: NotFoundError,
    Outcome.CONFLICT: ConflictError,
    Outcome.PRECONDITION_FAILED: PreconditionFailedError,
    Outcome.CURSOR_EXPIRED: CursorExpiredError,
}


@dataclass(frozen=True)
class ErrorMap:
    """A provider's rules, tried before `DEFAULT_RULES`."""

    rules: Sequence[ErrorRule] = ()

    def outcome(self, status: int, body: Any, headers: httpx.Headers) -> ErrorRule:
        for rule in (*self.rules, *DEFAULT_RULES):
            if rule.matches(status, body, headers):
                return rule
        return ErrorRule(Outcome.PERMANENT)

    def error_for(self, response: httpx.Response, body: Any, *, what: str) -> LockstepError | None:
        """The error this answer means (None: it is a success). Never includes secrets:
        the detail is the status and a short, redacted excerpt of the body.
        """
        rule = self.outcome(response.status_code, body, response.headers)
        if rule.outcome is Outcome.OK:
            return None
        detail = f"{what}: HTTP {response.status_code} ({rule.outcome}): {body_excerpt(response)}"
        if rule.outcome is Outcome.RETRYABLE:
            # The limiter's own reading of the headers: Retry-After, or a spent quota's reset
            # (X-RateLimit-*, HubSpot's, Salesforce's), so both agree on how long to wait.
            wait = parse_response(response.status_code, response.headers).block_seconds
            return RetryableError(detail, retry_after=wait or rule.retry_after)
        if rule.refresh:
            return TokenRefusedError(detail)
        return _ERRORS[rule.outcome](detail)
