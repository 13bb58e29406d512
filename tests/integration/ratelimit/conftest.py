"""Redis for the limiter tests: a throwaway redis-server when the binary exists, else REDIS_URL."""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from integration_core.ratelimit import RateLimiter
from integration_core.ratelimit.limiter import LimiterOptions
from tests.harness.redis_server import RedisServer, redis_url


def _skip_services() -> None:
    if os.environ.get("LOCKSTEP_SKIP_SERVICES") == "1":
        pytest.skip("LOCKSTEP_SKIP_SERVICES=1: Redis-backed limiter tests skipped on request")


@pytest.fixture(scope="module")
def redis_server_url() -> Iterator[str]:
    _skip_services()
    if RedisServer.available():
        with RedisServer() as server:
            yield server.url
        return
    url = redis_url()
    redis.Redis.from_url(url, socket_connect_timeout=2).ping()  # a missing Redis is an error
    yield url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server this test may kill, pause and restart."""
    _skip_services()
    if not RedisServer.available():
        pytest.skip("redis-server binary not found: cannot kill and restart a shared Redis")
    with RedisServer() as server:
        yield server


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


def admission_times(client: redis.Redis, key: str) -> list[float]:
    """Server times (s) of the units an exact window holds (layout in ratelimit._lua)."""
    raw = client.get(key)
    if not raw:
        return []
    total, cap = (int(x) for x in struct.unpack_from("<dd", raw))
    units = range(max(0, total - cap), total)
    return [struct.unpack_from("<d", raw, 32 + (u % cap) * 8)[0] / 1e6 for u in units]


def max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
