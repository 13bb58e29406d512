"""Reference checks for sliding-window limits, shared by the limiter tests and its bench."""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import redis

from integration_core.ratelimit import Limit, RateLimiter
from integration_core.ratelimit._lua import exact_times_us

__all__ = ["admission_times", "max_in_window", "exact_replay", "hammer_from_processes"]


def admission_times(client: redis.Redis, key: str) -> list[float]:
    """Server times (s) of the units an exact window holds (layout in ratelimit._lua)."""
    raw = client.get(key)
    return [t / 1e6 for t in exact_times_us(raw)] if raw else []


def max_in_window(times: list[float], window: float) -> int:
    """The most units inside any interval of `window` seconds."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def exact_replay(attempts: list[float], limit: int, window: float) -> int:
    """How many of `attempts` (times) an exact sliding-window limiter would admit."""
    kept: deque[float] = deque()
    admitted = 0
    for t in sorted(attempts):
        while kept and kept[0] <= t - window:
            kept.popleft()
        if len(kept) < limit:
            kept.append(t)
            admitted += 1
    return admitted


def hammer_from_processes(
    url: str, prefix: str, limits: Sequence[Limit], *, seconds: float, processes: int = 4
) -> list[float]:
    """Every attempt time of `processes` processes that, started together, call
    `acquire(limits)` on one Redis as fast as they can for `seconds`.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(target=_hammer, args=(url, prefix, list(limits), seconds, barrier, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    attempts = [t for _ in workers for t in out.get(timeout=120)]
    for worker in workers:
        worker.join(timeout=30)
    return attempts


def _hammer(
    url: str, prefix: str, limits: list[Limit], seconds: float, barrier: Any, out: Any
) -> None:
    limiter = RateLimiter.from_url(url, key_prefix=prefix, timeout_ms=2000)
    limiter.acquire(Limit("warm-up", 1, 1.0))
    barrier.wait()
    attempts = []
    end = time.time() + seconds
    while (now := time.time()) < end:
        attempts.append(now)
        limiter.acquire(limits)
    limiter.close()
    out.put(attempts)
