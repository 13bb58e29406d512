"""The adapter contract every SaaS system implements, and the HTTP helpers they share.

An adapter turns one system's API into: the entity types it offers (`discover`), pages of
changes since a cursor (`read_changes`), writes with optimistic concurrency (`write`,
`delete`), a health probe, webhook parsing, and rate-limit hints read off responses. It
never touches storage or queues; HTTP errors become the typed errors pipelines act on.
"""

from __future__ import annotations

import email.utils
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any, ClassVar, Self

import httpx

from integration_core.clock import utcnow
from integration_core.errors import (
    AuthError,
    ConfigurationError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.mapping import ObjectMapping, default_mapping
from integration_core.models import Change, Connection
from integration_core.net import body_excerpt
from integration_core.ratelimit import Limit
from integration_core.sync.watermark import Watermark

__all__ = [
    "BaseIntegrationAdapter",
    "ChangePage",
    "WriteResult",
    "RateLimitHint",
    "parse_retry_after",
    "raise_for_status",
]


@dataclass(frozen=True)
class ChangePage:
    """One page of changes in (modified_at, external_id) order."""

    changes: Sequence[Change]
    has_more: bool


@dataclass(frozen=True)
class WriteResult:
    external_id: str
    version: str
    # True only when this call made the record. A create repeated with an idempotency key
    # the provider has seen answers with the record the first call made (created False):
    # it holds what that call sent, which may be older than what this one did.
    created: bool


@dataclass(frozen=True)
class RateLimitHint:
    """What a response said about the provider's budget (all optional)."""

    limit: int | None = None
    remaining: int | None = None
    reset_seconds: float | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - utcnow()).total_seconds())


def raise_for_status(response: httpx.Response, *, what: str) -> None:
    """Map an HTTP error status to the error class the pipelines act on.

    The error text carries the status and a short, redacted excerpt of the body.
    """
    status = response.status_code
    if status < 400:
        return
    detail = f"{what}: HTTP {status}: {body_excerpt(response)}"
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RetryableError(detail, retry_after=retry_after)
    if status in (401, 403):
        raise AuthError(detail)
    if status == 404:
        raise NotFoundError(detail)
    if status == 412:
        raise PreconditionFailedError(detail)
    raise PermanentError(detail)


class BaseIntegrationAdapter(ABC):
    """One connection's view of one SaaS system."""

    system: ClassVar[str]
    # How far back a read cycle re-reads, for providers whose change listings can show a
    # record late (search indexes, replicas); re-read records are dropped downstream.
    read_overlap: ClassVar[timedelta] = timedelta(minutes=2)
    # The provider's published budgets: (bucket, max requests, window seconds). A
    # connection can override them with `rate_limits` in its config (e.g. a paid tier).
    default_rate_limits: ClassVar[tuple[tuple[str, int, float], ...]] = ()

    def __init__(self, connection: Connection, *, client: httpx.Client) -> None:
        self.connection = connection
        self.client = client

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def discover(self) -> list[str]:
        """The canonical entity types this connection can sync."""

    def rate_limits(self) -> list[Limit]:
        """This connection's provider budgets, keyed `conn:{connection id}:{bucket}`.

        The limiter's adaptive multiplier for `conn:{connection id}` governs all of them.
        """
        configured = self.connection.config.get("rate_limits")
        budgets: list[dict[str, Any]]
        if configured is None:
            budgets = [
                {"bucket": b, "max_requests": n, "window_seconds": w}
                for b, n, w in self.default_rate_limits
            ]
        elif isinstance(configured, list):
            budgets = configured
        else:
            raise ConfigurationError(f"connection {self.connection.id}: rate_limits must be a list")
        try:
            return [
                Limit(
                    f"conn:{self.connection.id}:{budget['bucket']}",
                    int(budget["max_requests"]),
                    float(budget["window_seconds"]),
                    algorithm=budget.get("algorithm", "exact"),
                )
                for budget in budgets
            ]
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigurationError(
                f"connection {self.connection.id}: bad rate_limits entry ({err})"
            ) from err

    @classmethod
    def field_map(cls, entity_type: str) -> ObjectMapping:
        """The default mapping of this system's `entity_type` records to canonical fields,
        as the adapter module registered it (`register_default_mappings`)."""
        return default_mapping(cls.system, entity_type)

    @abstractmethod
    def read_changes(
        self, entity_type: str, after: Watermark | None, *, page_size: int = 100
    ) -> ChangePage:
        """Changes strictly after `after` in (modified_at, id) order (None: from the start).

        The pipeline owns the watermark: it rewinds it by an overlap window at the start of
        a cycle and advances it past each page it has applied.
        """

    @abstractmethod
    def write(
        self,
        entity_type: str,
        external_id: str | None,
        values: Mapping[str, Any],
        *,
        expected_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        """Create (external_id None) or update a record, in the provider's field names."""

    @abstractmethod
    def delete(
        self, entity_type: str, external_id: str, *, expected_version: str | None = None
    ) -> None:
        """Delete or archive a record (only that version, when `expected_version` is set)."""

    def write_batch(
        self,
        entity_type: str,
        writes: Sequence[tuple[str | None, Mapping[str, Any]]],
    ) -> list[WriteResult]:
        """Write several records; providers with a batch endpoint override this."""
        return [self.write(entity_type, external_id, values) for external_id, values in writes]

    @abstractmethod
    def health(self) -> None:
        """Raise if the system cannot be reached with these credentials."""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Change]:
        """Changes carried by a webhook delivery (signature already verified)."""
        raise PermanentError(f"{self.system} does not accept webhooks")

    def rate_limit_hint(self, response: httpx.Response) -> RateLimitHint:
        """Read the common X-RateLimit-* and Retry-After headers; providers extend this."""
        headers = response.headers

        def number(name: str) -> int | None:
            raw = headers.get(name)
            return int(raw) if raw is not None and raw.isdigit() else None

        reset = headers.get("X-RateLimit-Reset")
        return RateLimitHint(
            limit=number("X-RateLimit-Limit"),
            remaining=number("X-RateLimit-Remaining"),
            reset_seconds=float(reset) if reset and reset.replace(".", "", 1).isdigit() else None,
            retry_after=parse_retry_after(headers.get("Retry-After")),
            headers={
                k: v
                for k, v in headers.items()
                if k.lower().startswith(("x-ratelimit", "retry-after"))
            },
        )

    def _request(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TimeoutException as err:
            raise RetryableError(f"{what}: timed out") from err
        except httpx.TransportError as err:
            raise RetryableError(f"{what}: {type(err).__name__}") from err
        raise_for_status(response, what=what)
        return response
