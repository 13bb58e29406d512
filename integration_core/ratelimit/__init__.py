"""Fleet-wide sliding-window rate limits: Redis + Lua, local fallback, adaptive throttling.

from integration_core.ratelimit import RateLimiter, Limit, Decision

limiter = RateLimiter.from_url("redis://127.0.0.1:6379/0")   # shared by every instance
d = limiter.acquire([Limit("tenant:t1", 100, 60.0), Limit("conn:c1:read", 10, 1.0)])
limiter.record_response("conn:c1", response.status_code, response.headers)
"""

from __future__ import annotations

from integration_core.ratelimit.headers import ResponseSignal, parse_response
from integration_core.ratelimit.limiter import LimiterOptions, RateLimiter
from integration_core.ratelimit.models import (
    AdaptivePolicy,
    AlertEvent,
    AlertKind,
    AlertSink,
    Algorithm,
    Decision,
    Limit,
    LimitStatus,
    connection_key,
)

__all__ = [
    "RateLimiter",
    "connection_key",
    "Limit",
    "Decision",
    "LimitStatus",
    "AdaptivePolicy",
    "AlertEvent",
    "AlertKind",
    "AlertSink",
    "Algorithm",
    "LimiterOptions",
    "ResponseSignal",
    "parse_response",
]
