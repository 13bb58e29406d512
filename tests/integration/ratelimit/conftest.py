"""Limiter fixtures on Redis (`redis_server_url` and `own_redis` come from tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from integration_core.ratelimit import RateLimiter
from integration_core.ratelimit.limiter import LimiterOptions


@pytest.fixture
def prefix() -> str:
    return f"test-rl-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(redis_server_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_server_url)


LimiterFactory = Callable[..., RateLimiter]


@pytest.fixture
def make_limiter(redis_server_url: str, prefix: str) -> Iterator[LimiterFactory]:
    made: list[RateLimiter] = []

    def make(url: str | None = None, **options: object) -> RateLimiter:
        settings: LimiterOptions = {"key_prefix": prefix, "timeout_ms": 2000}
        settings.update(options)  # type: ignore[typeddict-item]
        limiter = RateLimiter.from_url(url or redis_server_url, **settings)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()
