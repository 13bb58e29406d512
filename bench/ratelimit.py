"""Rate limiter benchmark: prints ONE JSON line of figures.

Side by side in one run, on one Redis (started here on a free port when `redis-server`
exists, else REDIS_URL / 127.0.0.1:6379; `--url` forces one):
- throughput, interleaved rounds: a plain redis-py PING loop (the one-round-trip ceiling),
  our `acquire` with 3 limits (every call admitted, so every call writes 3 windows), and
  the `limits` library's MovingWindowRateLimiter.hit() (one limit);
- exactness: 4 processes hammer Limit("k", 50, 1.0) for 3 s; every admission is also
  charged to an audit limit whose stored server timestamps give the largest number
  admitted in any 1-second interval; compared with an exact sliding-window limiter
  replayed over the same attempt times;
- a burst of 1 at t=0, 60 at t=0.9 s and 60 at t=1.5 s.

    .venv/bin/python bench/ratelimit.py [--url redis://…] [--seconds 3] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integration_core.ratelimit import Limit, RateLimiter  # noqa: E402
from tests.harness.redis_server import bench_redis  # noqa: E402
from tests.harness.sliding_window import (  # noqa: E402
    admission_times,
    exact_replay,
    hammer_from_processes,
    max_in_window,
)

LIMIT, WINDOW = 50, 1.0


def _rate(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def throughput(url: str, prefix: str, rounds: int, n: int) -> dict[str, float]:
    from limits import RateLimitItemPerMinute
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    client = redis.Redis.from_url(url)
    limiter = RateLimiter.from_url(url, key_prefix=prefix, timeout_ms=2000)
    # Every call is admitted, so every call writes all three windows (the costly path;
    # `acquire3_refused` counts the exceptions). Short windows keep the bench rate (up to
    # 40,000/s) under the limits; the code path is the one a 200-per-10-s limit takes at
    # 20 calls/s.
    limits = [
        Limit("tenant:t1", 200, 0.005),
        Limit("conn:c1", 200, 0.005),
        Limit("conn:c1:read", 200, 0.005),
    ]
    # A large exact limit (100,000 units in the window's log) and constant-memory
    # (bucketed) limits.
    large = [
        Limit("tenant:t2", 100_000, 60.0),
        Limit("conn:c2", 200, 0.005),
        Limit("conn:c2:read", 200, 0.005),
    ]
    bucketed = [
        Limit("tenant:t3", 100_000, 86_400.0, algorithm="bucketed"),
        Limit("conn:c3", 100_000, 60.0, algorithm="bucketed"),
        Limit("conn:c3:read", 100_000, 1.0, algorithm="bucketed"),
    ]
    other = MovingWindowRateLimiter(RedisStorage(url, key_prefix=prefix + "-limits"))
    item = RateLimitItemPerMinute(10**9)
    for _ in range(300):  # warm up connections and script caches
        client.ping()
        limiter.acquire(limits)
        limiter.acquire(large)
        limiter.acquire(bucketed)
        other.hit(item, "bench")
    pings, ours, theirs, vs_ping, vs_limits = [], [], [], [], []
    larges, buckets = [], []
    refused = 0
    for _ in range(rounds):
        p = _rate(client.ping, n)
        start = time.perf_counter()
        for _ in range(n):
            refused += not limiter.acquire(limits).allowed
        a = n / (time.perf_counter() - start)
        t = _rate(lambda: other.hit(item, "bench"), n)
        larges.append(_rate(lambda: limiter.acquire(large), n // 2))
        buckets.append(_rate(lambda: limiter.acquire(bucketed), n // 2))
        pings.append(p)
        ours.append(a)
        theirs.append(t)
        vs_ping.append(a / p)
        vs_limits.append(a / t)
    refused_check = sum(not limiter.acquire(g).allowed for g in (limits, large, bucketed))
    limiter.close()
    return {
        "ping_per_s": round(statistics.median(pings)),
        "acquire3_per_s": round(statistics.median(ours)),
        "limits_moving_window_hit_per_s": round(statistics.median(theirs)),
        "acquire3_vs_ping": round(statistics.median(vs_ping), 3),
        "acquire3_vs_limits": round(statistics.median(vs_limits), 3),
        "acquire3_large_exact_per_s": round(statistics.median(larges)),
        "acquire3_bucketed_per_s": round(statistics.median(buckets)),
        "acquire3_refused": refused,
        "refused_in_check": refused_check,
    }


def exactness(url: str, prefix: str, seconds: float) -> dict[str, float]:
    client = redis.Redis.from_url(url)
    limits = [Limit("k", LIMIT, WINDOW), Limit("audit", 1000, 600.0, integration="")]
    attempts = hammer_from_processes(url, prefix, limits, seconds=seconds)
    times = admission_times(client, f"{prefix}:audit:600000000:x")
    reference = exact_replay(attempts, LIMIT, WINDOW)
    return {
        "hammer_attempts": len(attempts),
        "hammer_admitted": len(times),
        "hammer_max_in_any_1s": max_in_window(times, WINDOW),
        "hammer_exact_reference": reference,
        "hammer_vs_exact": round(len(times) / reference, 3) if reference else 0.0,
    }


def burst(url: str, prefix: str) -> dict[str, float]:
    client = redis.Redis.from_url(url)
    limiter = RateLimiter.from_url(url, key_prefix=prefix, timeout_ms=2000)
    limits = [Limit("k", LIMIT, WINDOW), Limit("audit", 1000, 600.0, integration="")]
    start = time.monotonic()
    admitted = 0
    for at, count in ((0.0, 1), (0.9, 60), (1.5, 60)):
        time.sleep(max(0.0, start + at - time.monotonic()))
        admitted += sum(limiter.acquire(limits).allowed for _ in range(count))
    times = admission_times(client, f"{prefix}:audit:600000000:x")
    limiter.close()
    return {
        "burst_admitted": admitted,
        "burst_max_in_any_1s": max_in_window(times, WINDOW),
        "burst_exact_reference": 51,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="use this Redis instead of starting one")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ops", type=int, default=3000, help="calls per round and contender")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    with bench_redis(args.url) as (url, label):
        figures: dict[str, object] = {"redis": label}
        figures.update(throughput(url, f"bench-rl-{run}-t", args.rounds, args.ops))
        figures.update(exactness(url, f"bench-rl-{run}-x", args.seconds))
        figures.update(burst(url, f"bench-rl-{run}-b"))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
