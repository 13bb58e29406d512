"""Redis killed, restarted, or hanging: degrade to the local share, log once, come back."""

from __future__ import annotations

import logging
import time

import pytest

from integration_core.errors import RetryableError
from integration_core.ratelimit import AlertEvent, Limit
from tests.harness.redis_server import RedisServer
from tests.integration.ratelimit.conftest import LimiterFactory

pytestmark = pytest.mark.integration

LOGGER = "integration_core.ratelimit.limiter"


def test_killed_then_restarted(
    own_redis: RedisServer, make_limiter: LimiterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[AlertEvent] = []
    limiter = make_limiter(
        own_redis.url, timeout_ms=200, probe_interval=0.2, instances=4, alert_sink=events.append
    )
    limit = Limit("conn:c1", 40, 60.0)
    before = limiter.acquire(limit)
    assert before.allowed
    assert not before.degraded

    own_redis.kill()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        during = [limiter.acquire(limit) for _ in range(15)]
        assert all(d.degraded for d in during)
        assert sum(d.allowed for d in during) == 10  # this instance's share: 40 / 4
        assert limiter.degraded
        assert limiter.status(limit).degraded
        with pytest.raises(RetryableError):
            limiter.reset("conn:c1")

        own_redis.restart()
        time.sleep(0.25)  # past the probe interval
        after = limiter.acquire(limit)
    assert not after.degraded
    assert after.allowed
    assert not limiter.degraded
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert sum("unreachable" in m for m in warnings) == 1  # once per outage, not per call
    assert sum("reachable again" in m for m in warnings) == 1
    assert [e.kind for e in events] == ["degraded"]


def test_hanging_redis_times_out_in_milliseconds(
    own_redis: RedisServer, make_limiter: LimiterFactory
) -> None:
    limiter = make_limiter(own_redis.url, timeout_ms=50, probe_interval=0.1)
    limit = Limit("k", 5, 60.0)
    assert not limiter.acquire(limit).degraded
    own_redis.pause()
    try:
        decision = limiter.acquire(limit)
        assert decision.degraded
        assert decision.allowed
        assert limiter.record_response("k", 429, {}) == pytest.approx(0.7)  # local mirror
    finally:
        own_redis.resume()
    time.sleep(0.15)
    back = limiter.acquire(limit)
    assert not back.degraded
    # Redis kept its count, and ran the call that timed out once it woke up (it had been
    # sent): a timed-out call errs on the side of charging.
    assert back.remaining == 2


def test_redis_down_from_the_start(make_limiter: LimiterFactory) -> None:
    port = RedisServer().port  # a free port with nothing on it
    limiter = make_limiter(f"redis://127.0.0.1:{port}/0", timeout_ms=100, instances=2)
    decisions = [limiter.acquire(Limit("k", 4, 60.0)) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert all(d.degraded for d in decisions)
