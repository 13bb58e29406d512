"""The circuit breaker shared by instances through a real redis-server, and its fallback."""

from __future__ import annotations

import uuid

import pytest
import redis

from integration_core.resilience import BreakerConfig, CircuitBreaker, CircuitOpen
from tests.harness.redis_server import RedisServer

pytestmark = pytest.mark.integration
CONFIG = BreakerConfig(failures=2, window_seconds=60, cooldown_seconds=60, probe_seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _pair(url: str, clock: Clock) -> tuple[CircuitBreaker, CircuitBreaker]:
    prefix = f"test-breaker-{uuid.uuid4().hex[:10]}"
    return (
        CircuitBreaker(
            config=CONFIG, client=redis.Redis.from_url(url), key_prefix=prefix, clock=clock
        ),
        CircuitBreaker(
            config=CONFIG, client=redis.Redis.from_url(url), key_prefix=prefix, clock=clock
        ),
    )


def test_failures_seen_by_one_instance_open_the_circuit_for_all(redis_server_url: str) -> None:
    clock = Clock()
    one, two = _pair(redis_server_url, clock)
    one.record_status("t1", "c1", 500)
    two.record_status("t1", "c1", 504)
    with pytest.raises(CircuitOpen) as raised:
        one.admit("t1", "c1")
    assert raised.value.retry_after == pytest.approx(60)
    assert two.state("t1", "c1") == one.state("t1", "c1")
    assert one.state("t1", "c1").shared
    two.admit("t1", "c2")  # another connection is not affected


def test_only_one_instance_probes_half_open_and_its_success_closes_for_all(
    redis_server_url: str,
) -> None:
    clock = Clock()
    one, two = _pair(redis_server_url, clock)
    for _ in range(2):
        one.record_status("t1", "c1", 503)
    clock.now += 61
    one.admit("t1", "c1")  # the probe
    with pytest.raises(CircuitOpen) as raised:
        two.admit("t1", "c1")  # waits for the probe's outcome
    assert raised.value.retry_after == pytest.approx(30)
    one.record_status("t1", "c1", 200)
    two.admit("t1", "c1")
    assert two.state("t1", "c1").state == "closed"


def test_without_redis_each_instance_keeps_its_own_breaker(own_redis: RedisServer) -> None:
    clock = Clock()
    breaker = CircuitBreaker(
        config=CONFIG,
        client=redis.Redis.from_url(own_redis.url, socket_timeout=0.2, socket_connect_timeout=0.2),
        clock=clock,
    )
    own_redis.stop()
    breaker.record_status("t1", "c1", 500)
    breaker.record_status("t1", "c1", 500)
    with pytest.raises(CircuitOpen):
        breaker.admit("t1", "c1")
    assert not breaker.state("t1", "c1").shared
