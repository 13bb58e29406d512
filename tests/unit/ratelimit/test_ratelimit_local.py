"""The in-process limiter (embedded mode and the Redis fallback) keeps the same rules."""

from __future__ import annotations

import threading
import time

import pytest

from integration_core.ratelimit import AlertEvent, Limit, RateLimiter

pytestmark = pytest.mark.unit


def test_admits_exactly_max_then_refuses_with_retry_after() -> None:
    limiter = RateLimiter.local()
    limit = Limit("k", 5, 0.3)
    decisions = [limiter.acquire([limit]) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert 0 < decisions[5].retry_after <= 0.3
    assert not decisions[5].degraded
    time.sleep(decisions[5].retry_after + 0.01)
    assert limiter.acquire([limit]).allowed


def test_multi_limit_acquire_is_all_or_nothing() -> None:
    limiter = RateLimiter.local()
    wide, narrow = Limit("tenant:t1", 10, 60.0), Limit("conn:c1", 2, 60.0)
    assert limiter.acquire([wide, narrow]).allowed
    assert limiter.acquire([wide, narrow]).allowed
    refused = limiter.acquire([wide, narrow])
    assert not refused.allowed
    assert limiter.status(wide).used == 2  # the refused call charged nothing
    assert limiter.acquire([wide], cost=8).allowed
    assert not limiter.acquire([wide]).allowed


def test_cost_counts_units_and_retry_after_waits_for_enough_of_them() -> None:
    limiter = RateLimiter.local()
    limit = Limit("k", 10, 0.4)
    assert limiter.acquire(limit, cost=6).allowed
    time.sleep(0.1)
    assert limiter.acquire(limit, cost=4).allowed
    refused = limiter.acquire(limit, cost=5)
    assert not refused.allowed
    # 5 units free up only when the first batch of 6 leaves the window.
    assert 0.2 < refused.retry_after <= 0.3


def test_threads_never_exceed_the_limit() -> None:
    limiter = RateLimiter.local()
    limit = Limit("k", 25, 10.0)
    admitted: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(50):
            ok = limiter.acquire([limit, Limit("other", 1000, 10.0)]).allowed
            with lock:
                admitted.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 25
    assert limiter.status(Limit("other", 1000, 10.0)).used == 25


def test_bucketed_never_exceeds_max_in_any_window() -> None:
    limiter = RateLimiter.local()
    limit = Limit("k", 20, 0.2, algorithm="bucketed", buckets=4)
    stamps: list[float] = []
    end = time.monotonic() + 0.7
    while (now := time.monotonic()) < end:
        if limiter.acquire(limit).allowed:
            stamps.append(now)
        time.sleep(0.001)
    for i, start in enumerate(stamps):
        assert sum(1 for t in stamps[i:] if t < start + 0.2) <= 20
    # Error bound: at least buckets/(buckets+1) of the exact rate over whole spans.
    assert len(stamps) >= 20 * 2


def test_retry_after_blocks_the_integration_and_multiplier_scales_limits() -> None:
    limiter = RateLimiter.local()
    read, other = Limit("conn:c1:read", 10, 60.0), Limit("conn:c2:read", 10, 60.0)
    assert limiter.record_response("conn:c1", 429, {"Retry-After": "0.3"}) == pytest.approx(0.7)
    refused = limiter.acquire([read])
    assert not refused.allowed
    assert 0.2 < refused.retry_after <= 0.3
    assert limiter.acquire([other]).allowed  # another connection is not affected
    time.sleep(0.31)
    admitted = sum(limiter.acquire([read]).allowed for _ in range(10))
    assert admitted == 7  # 10 scaled by 0.7
    status = limiter.status(read)
    assert status.effective_limit == 7
    assert status.multiplier == pytest.approx(0.7)


def test_multiplier_recovers_gradually_on_good_responses() -> None:
    limiter = RateLimiter.local()
    for _ in range(5):
        limiter.record_response("hubspot:c1", 429)
    assert limiter.status(Limit("hubspot:c1", 10, 1.0)).multiplier == 0.5
    values = [limiter.record_response("hubspot:c1", 200) for _ in range(30)]
    assert values == sorted(values)
    assert values[0] == pytest.approx(0.52)
    assert values[-1] == 1.0


def test_wait_sleeps_until_admitted_or_gives_up_early() -> None:
    limiter = RateLimiter.local()
    limit = Limit("k", 1, 0.2)
    assert limiter.acquire(limit).allowed
    waited = limiter.wait(limit, timeout=1.0)
    assert waited.allowed
    gave_up = limiter.wait(limit, timeout=0.05)
    assert not gave_up.allowed
    assert gave_up.retry_after > 0.05


def test_alerts_for_low_multiplier_and_sustained_exhaustion() -> None:
    events: list[AlertEvent] = []
    limiter = RateLimiter.local(
        alert_sink=events.append, exhaustion_alert_after=0.1, low_multiplier_alert=0.6
    )
    limiter.record_response("sf:c1", 429)
    assert events == []  # 0.7 is not low yet
    limiter.record_response("sf:c1", 429)
    assert [(e.kind, e.key) for e in events] == [("low_multiplier", "sf:c1")]
    limiter.record_response("sf:c1", 429)
    assert len(events) == 1  # cooldown: one alert per kind and key

    limit = Limit("tenant:t1", 1, 5.0)
    limiter.acquire(limit)
    limiter.acquire(limit)
    time.sleep(0.11)
    limiter.acquire(limit)
    assert [(e.kind, e.key) for e in events[1:]] == [("exhausted", "tenant:t1")]


def test_a_failing_alert_sink_does_not_break_the_limiter() -> None:
    def broken(event: AlertEvent) -> None:
        raise RuntimeError("notifications down")

    limiter = RateLimiter.local(alert_sink=broken)
    assert limiter.record_response("x", 429, {}) == pytest.approx(0.7)
    assert limiter.record_response("x", 429, {}) == pytest.approx(0.5)


def test_reset_forgets_windows_and_adaptive_state_of_that_key_only() -> None:
    limiter = RateLimiter.local()
    mine, longer = Limit("conn:c1", 1, 60.0), Limit("conn:c1:read", 1, 60.0)
    limiter.acquire(mine)
    limiter.acquire(longer)
    limiter.record_response("conn:c1", 429, {"Retry-After": "60"})
    limiter.reset("conn:c1")
    assert limiter.status(mine).used == 0
    assert limiter.status(longer).used == 1
    assert limiter.status(mine).blocked_for == 0.0
