"""Reference checks for sliding-window limits, shared by the limiter tests and its bench."""

from __future__ import annotations

from collections import deque

import redis

from integration_core.ratelimit._lua import exact_times_us

__all__ = ["admission_times", "max_in_window", "exact_replay"]


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
