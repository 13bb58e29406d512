"""The Redis limiter against a real redis-server: exact, atomic, expiring, adaptive, shared."""

from __future__ import annotations

import random
import threading
import time

import pytest
import redis

from integration_core.ratelimit import Limit, RateLimiter
from tests.harness.sliding_window import (
    admission_times,
    exact_replay,
    hammer_from_processes,
    max_in_window,
)
from tests.integration.ratelimit.conftest import LimiterFactory

pytestmark = pytest.mark.integration

AUDIT = Limit("audit", 5000, 600.0, integration="")  # records every admission's server time


def audit_key(prefix: str) -> str:
    return f"{prefix}:audit:600000000:x"


def test_threads_admit_at_most_max_in_any_window(
    make_limiter: LimiterFactory, client: redis.Redis, prefix: str
) -> None:
    limiter = make_limiter()
    limit = Limit("k", 30, 0.5)
    attempts: list[float] = []
    lock = threading.Lock()

    def hammer() -> None:
        end = time.time() + 1.3
        while (now := time.time()) < end:
            limiter.acquire([limit, AUDIT])
            with lock:
                attempts.append(now)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = admission_times(client, audit_key(prefix))
    assert max_in_window(times, 0.5) <= 30
    assert len(times) >= 0.9 * exact_replay(attempts, 30, 0.5)


@pytest.mark.slow
def test_processes_admit_at_most_max_in_any_second(
    redis_server_url: str, client: redis.Redis, prefix: str
) -> None:
    limits = [Limit("k", 50, 1.0), AUDIT]
    attempts = hammer_from_processes(redis_server_url, prefix, limits, seconds=2.0)
    times = admission_times(client, audit_key(prefix))
    assert max_in_window(times, 1.0) <= 50
    assert len(times) >= 0.9 * exact_replay(attempts, 50, 1.0)


def test_burst_at_window_edges(
    make_limiter: LimiterFactory, client: redis.Redis, prefix: str
) -> None:
    limiter = make_limiter()
    start = time.monotonic()
    admitted = 0
    for at, count in ((0.0, 1), (0.9, 60), (1.5, 60)):
        time.sleep(max(0.0, start + at - time.monotonic()))
        admitted += sum(limiter.acquire([Limit("k", 50, 1.0), AUDIT]).allowed for _ in range(count))
    times = admission_times(client, audit_key(prefix))
    assert len(times) == admitted
    assert max_in_window(times, 1.0) <= 50
    assert admitted >= 50


def test_multi_limit_charging_is_atomic(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    wide, narrow = Limit("tenant:t1", 10, 60.0), Limit("conn:c1:read", 2, 60.0)
    assert [limiter.acquire([wide, narrow]).allowed for _ in range(3)] == [True, True, False]
    assert limiter.status(wide).used == 2
    assert limiter.status(narrow).used == 2
    assert not limiter.acquire([wide, narrow], cost=1).allowed
    big = limiter.acquire([wide], cost=9)
    assert not big.allowed  # 2 + 9 > 10
    assert big.remaining == 8
    assert limiter.acquire([wide], cost=8).allowed
    assert limiter.status(wide).remaining == 0


def test_refusal_says_when_to_retry_and_remaining(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    limit = Limit("k", 3, 0.4)
    first = limiter.acquire(limit)
    assert (first.allowed, first.remaining, first.retry_after, first.degraded) == (
        True,
        2,
        0.0,
        False,
    )
    limiter.acquire(limit, cost=2)
    refused = limiter.acquire(limit)
    assert not refused.allowed
    assert 0.3 < refused.retry_after <= 0.4
    time.sleep(refused.retry_after + 0.01)
    assert limiter.acquire(limit).allowed


def test_keys_expire_on_their_own(
    make_limiter: LimiterFactory, client: redis.Redis, prefix: str
) -> None:
    limiter = make_limiter()
    limiter.acquire([Limit("k", 5, 0.3), Limit("d", 5, 0.3, algorithm="bucketed", buckets=3)])
    limiter.record_response("conn:c9", 429, {"Retry-After": "0.2"})
    keys = [f"{prefix}:k:300000:x", f"{prefix}:d:300000:b3"]
    keys += [f"{prefix}_adaptive:conn:c9", f"{prefix}_block:conn:c9"]
    for key in keys:
        assert 0 < client.pttl(key) <= 3_600_000, key
    assert client.pttl(keys[0]) <= 601  # exact: at most two windows past the newest unit
    assert client.pttl(keys[1]) <= 401  # bucketed: a window and a bucket
    time.sleep(0.65)
    assert client.exists(*keys[:2], keys[3]) == 0
    assert client.exists(keys[2]) == 1  # the multiplier lives for the policy's ttl


def test_exact_keys_outlive_their_newest_unit(
    make_limiter: LimiterFactory, client: redis.Redis, prefix: str
) -> None:
    """The TTL is refreshed lazily (about once a window), never before a unit has left."""
    limiter = make_limiter()
    limit, key = Limit("k", 5, 0.8), f"{prefix}:k:800000:x"
    start = time.monotonic()
    assert limiter.acquire(limit).allowed  # the key's first TTL: two windows, 1.6 s
    time.sleep(max(0.0, start + 0.96 - time.monotonic()))
    assert limiter.acquire(limit).allowed  # past one window: the TTL must be extended
    time.sleep(max(0.0, start + 1.64 - time.monotonic()))
    assert client.pttl(key) > 0
    assert limiter.status(limit).used == 1  # the unit admitted at 0.96 s is still counted


def test_noscript_reload_after_script_flush(
    make_limiter: LimiterFactory, client: redis.Redis
) -> None:
    limiter = make_limiter()
    limit = Limit("k", 3, 60.0)
    assert limiter.acquire(limit).allowed
    client.script_flush()
    assert limiter.acquire(limit).allowed
    client.script_flush()
    assert limiter.record_response("conn:c1", 200) == 1.0
    client.script_flush()
    assert limiter.status(limit).used == 2


def test_retry_after_and_multiplier_are_shared_by_instances(
    make_limiter: LimiterFactory, client: redis.Redis, prefix: str
) -> None:
    a, b = make_limiter(), make_limiter()
    read = Limit("conn:c1:read", 10, 60.0)
    assert a.record_response("conn:c1", 429, {"Retry-After": "0.4"}) == pytest.approx(0.7)
    assert client.get(f"{prefix}_adaptive:conn:c1") == b"0.700000"
    refused = b.acquire([Limit("tenant:t1", 100, 60.0), read])
    assert not refused.allowed
    assert 0.2 < refused.retry_after <= 0.4
    assert b.status(Limit("tenant:t1", 100, 60.0)).used == 0  # nothing charged
    assert b.acquire([Limit("conn:c2:read", 10, 60.0)]).allowed  # other connection unaffected
    time.sleep(refused.retry_after + 0.01)
    assert sum(b.acquire(read).allowed for _ in range(10)) == 7
    assert a.status(read).effective_limit == 7
    # Quota headers cap the multiplier; good responses from either instance recover it.
    b.record_response("conn:c1", 200, {"Sforce-Limit-Info": "api-usage=4990/5000"})
    assert a.status(read).multiplier == 0.5
    values = [b.record_response("conn:c1", 200, {}) for _ in range(3)]
    assert values == pytest.approx([0.52, 0.54, 0.56])
    assert a.status(read).multiplier == pytest.approx(0.56)


def test_default_key_names(redis_server_url: str, client: redis.Redis) -> None:
    limiter = RateLimiter.from_url(redis_server_url, timeout_ms=2000)
    try:
        limiter.record_response("zz-test:conn", 429, {})
        assert client.get("ratelimit_adaptive:zz-test:conn") == b"0.700000"
        limiter.acquire(Limit("zz-test:conn:read", 5, 1.0))
        assert client.exists("ratelimit:zz-test:conn:read:1000000:x") == 1
    finally:
        limiter.reset("zz-test:conn")
        limiter.reset("zz-test:conn:read")
        limiter.close()
    assert client.exists("ratelimit_adaptive:zz-test:conn") == 0


def test_reset_clears_one_key_and_its_adaptive_state(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    mine, longer = Limit("conn:c1", 2, 60.0), Limit("conn:c1:read", 2, 60.0)
    limiter.acquire([mine, longer, Limit("conn:c1", 9, 3600.0)])
    limiter.record_response("conn:c1", 429, {"Retry-After": "60"})
    limiter.reset("conn:c1")
    assert limiter.status(mine).used == 0
    assert limiter.status(Limit("conn:c1", 9, 3600.0)).used == 0
    assert limiter.status(longer).used == 1
    assert limiter.status(longer).blocked_for == 0.0
    assert limiter.status(longer).multiplier == 1.0


def test_large_exact_limits_stay_exact(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    big = Limit("big", 2000, 0.5)  # read piecewise from Redis
    assert [limiter.acquire(big, cost=700).allowed for _ in range(3)] == [True, True, False]
    assert limiter.status(big).used == 1400
    assert limiter.acquire(big, cost=600).allowed
    refused = limiter.acquire(big)
    assert not refused.allowed
    assert refused.remaining == 0
    time.sleep(refused.retry_after + 0.01)
    after = limiter.acquire(big, cost=700)
    assert after.allowed
    # Wrapped around the ring more than once: still 2000 in any 0.5 s.
    for _ in range(6):
        time.sleep(0.05)
        limiter.acquire(big, cost=300)
    assert limiter.status(big).used <= 2000


def test_changing_max_requests_keeps_the_newest_units(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    for _ in range(6):
        assert limiter.acquire(Limit("m", 10, 60.0)).allowed
    assert limiter.status(Limit("m", 5, 60.0)).used == 5
    assert not limiter.acquire(Limit("m", 5, 60.0)).allowed
    assert limiter.acquire(Limit("m", 20, 60.0)).allowed
    assert limiter.status(Limit("m", 20, 60.0)).used == 7  # nothing was dropped: 6 + 1


def test_bucketed_error_bound(
    make_limiter: LimiterFactory, client: redis.Redis, prefix: str
) -> None:
    limiter = make_limiter()
    limit = Limit("b", 20, 0.2, algorithm="bucketed", buckets=4)
    attempts: list[float] = []
    end = time.time() + 1.0
    while (now := time.time()) < end:
        attempts.append(now)
        limiter.acquire([limit, AUDIT])
        time.sleep(0.0005)
    times = admission_times(client, audit_key(prefix))
    assert max_in_window(times, 0.2) <= 20  # never over the limit
    # Never below buckets/(buckets+1) of an exact limiter, give or take one window.
    assert len(times) >= exact_replay(attempts, 20, 0.2) * 4 / 5 - 20
    status = limiter.status(limit)
    assert 0 <= status.used <= 20
    assert client.strlen(f"{prefix}:b:200000:b4") == 5 * 16  # constant memory


def test_window_start_past_the_cached_units(make_limiter: LimiterFactory) -> None:
    """The first 40 units expire together: the window's start is found deep in the ring.

    Times are in steps of half a second, wide enough that a loaded machine's scheduling
    delays (tens of milliseconds) cannot move an admission across a step.
    """
    step = 0.5
    limiter = make_limiter()
    limit = Limit("k", 100, 4 * step)
    start = time.monotonic()
    for at, count in ((0.0, 40), (1.5 * step, 40), (3 * step, 20)):
        time.sleep(max(0.0, start + at - time.monotonic()))
        assert all(limiter.acquire(limit).allowed for _ in range(count))
    assert not limiter.acquire(limit).allowed
    time.sleep(max(0.0, start + 4.5 * step - time.monotonic()))
    one = limiter.acquire(limit)
    assert (one.allowed, one.remaining) == (True, 39)
    assert limiter.status(limit).used == 61
    refused = limiter.acquire(limit, cost=40)  # needs the units admitted at 1.5 steps to leave
    assert not refused.allowed
    assert 0.0 < refused.retry_after <= 1.5 * step
    time.sleep(refused.retry_after + 0.05)
    assert limiter.acquire(limit, cost=40).allowed


@pytest.mark.parametrize("seed", [1, 2])
def test_random_costs_stay_exact(
    make_limiter: LimiterFactory, client: redis.Redis, prefix: str, seed: int
) -> None:
    """Mixed costs across ring wrap-arounds and tail flushes: never more than the limit
    in any window, and no refusal while the window had room at the previous admission."""
    rng = random.Random(seed)
    limiter = make_limiter()
    for cap in (3, 17, 40):
        window = 0.03
        limit = Limit(f"r{cap}", cap, window)
        audit = Limit(f"audit{cap}", 100_000, 600.0, integration="")
        calls: list[tuple[int, bool]] = []
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            cost = min(cap, rng.choice([1, 1, 1, 2, 3, cap]))
            calls.append((cost, limiter.acquire([limit, audit], cost).allowed))
            if rng.random() < 0.3:
                time.sleep(rng.random() * window / 4)
        times = admission_times(client, f"{prefix}:audit{cap}:600000000:x")
        assert len(times) == sum(cost for cost, allowed in calls if allowed)
        assert max_in_window(times, window) <= cap
        done, last = 0, None
        for cost, allowed in calls:
            if allowed:
                done += cost
                last = times[done - 1]
            else:
                held = 0 if last is None else sum(t > last - window for t in times[:done])
                assert held + cost > cap
        assert sum(not allowed for _, allowed in calls) > 0  # the limit was reached
