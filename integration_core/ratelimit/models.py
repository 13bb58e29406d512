"""The limiter's value types: what a limit is, what a decision says, what an alert carries."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Literal

from integration_core.clock import utcnow

__all__ = [
    "connection_key",
    "Algorithm",
    "Limit",
    "Decision",
    "LimitStatus",
    "AdaptivePolicy",
    "AlertKind",
    "AlertEvent",
    "AlertSink",
    "MAX_EXACT_REQUESTS",
]

Algorithm = Literal["exact", "bucketed"]
AlertKind = Literal["exhausted", "low_multiplier", "degraded"]

# The exact log keeps one 8-byte timestamp per unit; past this use algorithm="bucketed".
MAX_EXACT_REQUESTS = 1_000_000
_MAX_BUCKETS = 1_000


@dataclass(frozen=True, slots=True)
class Limit:
    """In any interval of `window_seconds`, at most `max_requests` units are admitted.

    `algorithm="exact"` (default) keeps a log of the last `max_requests` admissions: exact,
    memory proportional to `max_requests`. `algorithm="bucketed"` keeps `buckets + 1`
    counters of width `window_seconds / buckets`: constant memory, never admits more than
    `max_requests` in any window, and under sustained demand admits at least
    `buckets / (buckets + 1)` of what the exact log would (it may count one extra sub-bucket
    of already-expired units, so it refuses at most `max_requests / (buckets + 1)` too many).

    `integration` names the adaptive state (multiplier, Retry-After block) that scales this
    limit. None (default) means every colon prefix of the key: `conn:c1:read` is governed by
    `conn`, `conn:c1` and `conn:c1:read`, so `record_response("conn:c1", ...)` throttles it.
    An explicit name means exactly that integration; "" opts out of adaptive throttling.
    """

    key: str
    max_requests: int
    window_seconds: float
    _: KW_ONLY
    algorithm: Algorithm = "exact"
    buckets: int = 60
    integration: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"limit key must be a non-empty string, got {self.key!r}")
        if not _is_int(self.max_requests) or self.max_requests < 1:
            raise ValueError(
                f"limit {self.key!r}: max_requests must be a positive integer, "
                f"got {self.max_requests!r}"
            )
        if (
            not isinstance(self.window_seconds, int | float)
            or isinstance(self.window_seconds, bool)
            or not math.isfinite(self.window_seconds)
            or self.window_seconds <= 0
        ):
            raise ValueError(
                f"limit {self.key!r}: window_seconds must be a positive finite number, "
                f"got {self.window_seconds!r}"
            )
        if self.window_seconds < 1e-6:
            raise ValueError(f"limit {self.key!r}: window_seconds below one microsecond")
        if self.algorithm not in ("exact", "bucketed"):
            raise ValueError(
                f"limit {self.key!r}: algorithm must be 'exact' or 'bucketed', "
                f"got {self.algorithm!r}"
            )
        if self.algorithm == "exact" and self.max_requests > MAX_EXACT_REQUESTS:
            raise ValueError(
                f"limit {self.key!r}: max_requests above {MAX_EXACT_REQUESTS} needs "
                "algorithm='bucketed' (constant memory)"
            )
        if not _is_int(self.buckets) or not 1 <= self.buckets <= _MAX_BUCKETS:
            raise ValueError(
                f"limit {self.key!r}: buckets must be an integer in 1..{_MAX_BUCKETS}, "
                f"got {self.buckets!r}"
            )
        if self.integration is not None and not isinstance(self.integration, str):
            raise ValueError(f"limit {self.key!r}: integration must be a string or None")

    @property
    def window_us(self) -> int:
        return max(1, round(self.window_seconds * 1_000_000))

    @property
    def bucket_us(self) -> int:
        """Width of one sub-bucket (bucketed algorithm), rounded up to whole microseconds."""
        return -(-self.window_us // self.buckets)

    @property
    def integrations(self) -> tuple[str, ...]:
        """The adaptive-state names that govern this limit (see the class docstring)."""
        if self.integration is not None:
            return (self.integration,) if self.integration else ()
        parts = self.key.split(":")
        return tuple(":".join(parts[: i + 1]) for i in range(len(parts)))


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one `acquire`.

    `retry_after` is the earliest time in seconds at which the same call could succeed
    (0.0 when allowed); `remaining` the smallest allowance left across the limits after
    this call; `degraded` is True when Redis could not answer and the in-process limiter
    did, with this instance's share of each limit.
    """

    allowed: bool
    retry_after: float
    remaining: int
    degraded: bool = False


@dataclass(frozen=True, slots=True)
class LimitStatus:
    """A read-only look at one limit (nothing is charged)."""

    key: str
    max_requests: int
    window_seconds: float
    effective_limit: int
    used: int
    remaining: int
    multiplier: float
    blocked_for: float
    reset_after: float
    degraded: bool


@dataclass(frozen=True, slots=True)
class AdaptivePolicy:
    """How responses move an integration's multiplier.

    A 429 (or any error response carrying Retry-After) multiplies it by `decrease`.
    Provider quota headers that show less than `headroom` of the quota left cap it at
    `remaining_fraction / headroom`. Each good response (below 400, quota headroom fine)
    adds `recover_step`, up to 1.0. It never goes below `floor`. A multiplier that has
    not been lowered for `ttl_seconds` is forgotten (back to 1.0). Retry-After (and a
    quota reset time once the quota is exhausted) blocks the integration fleet-wide, for
    at most `max_block_seconds`.
    """

    floor: float = 0.5
    decrease: float = 0.7
    recover_step: float = 0.02
    headroom: float = 0.2
    ttl_seconds: float = 3600.0
    max_block_seconds: float = 86_400.0

    def __post_init__(self) -> None:
        if not 0 < self.floor <= 1:
            raise ValueError("AdaptivePolicy.floor must be in (0, 1]")
        if not 0 < self.decrease <= 1:
            raise ValueError("AdaptivePolicy.decrease must be in (0, 1]")
        if not 0 <= self.recover_step <= 1:
            raise ValueError("AdaptivePolicy.recover_step must be in [0, 1]")
        if not 0 < self.headroom <= 1:
            raise ValueError("AdaptivePolicy.headroom must be in (0, 1]")
        if not self.ttl_seconds >= 1:
            raise ValueError("AdaptivePolicy.ttl_seconds must be at least 1")
        if not self.max_block_seconds > 0:
            raise ValueError("AdaptivePolicy.max_block_seconds must be positive")


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something an operator should hear about; the notifications work delivers it.

    kinds: `exhausted` (a limit has refused every call for a sustained time), `low_multiplier`
    (a provider keeps throttling us), `degraded` (Redis unreachable, local fallback in use).
    """

    kind: AlertKind
    key: str
    message: str
    value: float
    at: datetime = field(default_factory=utcnow)


AlertSink = Callable[[AlertEvent], None]


def connection_key(tenant_id: str, connection_id: str) -> str:
    """The key prefix of one connection's budgets and adaptive multiplier.

    Connection ids are unique within a tenant only: without the tenant two tenants naming
    a connection alike would share its budget. Ids hold no "/" (storage/ids.py), so the
    pair is one segment of the `conn:…:bucket` hierarchy.
    """
    return f"conn:{tenant_id}/{connection_id}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
