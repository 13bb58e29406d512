"""The in-process backend: embedded mode, and the fallback while Redis is unreachable.

Same algorithms and semantics as the Lua script, on this process's monotonic clock, with
each limit divided by `share` (the number of instances that may be falling back at once).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from integration_core.ratelimit._plan import STATE_TAIL, Plan, RawAcquire, RawStatus
from integration_core.ratelimit._policy import Adjustment, apply_adjustment
from integration_core.ratelimit.models import AdaptivePolicy, Limit

__all__ = ["LocalBackend"]

_SWEEP_EVERY_US = 10_000_000


def _now_us() -> int:
    return time.monotonic_ns() // 1000


class _ExactLog:
    """Admission times of the units still inside the window, oldest first."""

    __slots__ = ("entries", "used", "window_us")

    def __init__(self, window_us: int) -> None:
        self.entries: deque[tuple[int, int]] = deque()
        self.used = 0
        self.window_us = window_us

    def count(self, now: int) -> int:
        cutoff = now - self.window_us
        entries = self.entries
        while entries and entries[0][0] <= cutoff:
            self.used -= entries.popleft()[1]
        return self.used

    def wait_for(self, need: int, now: int) -> int:
        """Microseconds until `need` more units have left the window."""
        freed = 0
        for admitted, cost in self.entries:
            freed += cost
            if freed >= need:
                return admitted + self.window_us - now
        return self.window_us

    def reset_after(self, now: int) -> int:
        return self.entries[0][0] + self.window_us - now if self.entries else 0

    def charge(self, cost: int, now: int) -> None:
        last = self.entries[-1][0] if self.entries else now
        self.entries.append((max(now, last), cost))
        self.used += cost

    def idle(self, now: int) -> bool:
        return not self.entries or self.entries[-1][0] <= now - self.window_us


class _Buckets:
    """`buckets + 1` sub-window counters; a bucket counts while it overlaps the window."""

    __slots__ = ("counts", "window_us", "width_us")

    def __init__(self, window_us: int, width_us: int) -> None:
        self.counts: dict[int, int] = {}
        self.window_us = window_us
        self.width_us = width_us

    def _range(self, now: int) -> tuple[int, int]:
        return (now - self.window_us) // self.width_us, now // self.width_us

    def count(self, now: int) -> int:
        low, _high = self._range(now)
        for index in [i for i in self.counts if i < low]:
            del self.counts[index]
        return sum(self.counts.values())

    def wait_for(self, need: int, now: int) -> int:
        freed = 0
        for index in sorted(self.counts):
            freed += self.counts[index]
            if freed >= need:
                return (index + 1) * self.width_us + self.window_us - now
        return self.window_us + self.width_us

    def reset_after(self, now: int) -> int:
        if not self.counts:
            return 0
        return (min(self.counts) + 1) * self.width_us + self.window_us - now

    def charge(self, cost: int, now: int) -> None:
        index = now // self.width_us
        self.counts[index] = self.counts.get(index, 0) + cost

    def idle(self, now: int) -> bool:
        low, _high = self._range(now)
        return all(index < low for index in self.counts)


_Window = _ExactLog | _Buckets


class LocalBackend:
    """Thread-safe; one lock makes every multi-limit acquire atomic."""

    def __init__(self, *, share: int, policy: AdaptivePolicy) -> None:
        self.share = share
        self._policy = policy
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._multiplier: dict[str, tuple[float, int]] = {}  # name -> (value, forget at)
        self._blocked_until: dict[str, int] = {}
        self._next_sweep = _now_us() + _SWEEP_EVERY_US
        self._ttl_us = round(policy.ttl_seconds * 1e6)

    def acquire(self, plan: Plan) -> RawAcquire:
        cost = plan.cost
        with self._lock:
            now = _now_us()
            if now >= self._next_sweep:
                self._sweep(now)
            windows: list[_Window] = []
            allowed, retry, remaining, blocker = True, 0, -1, -1
            for index, limit in enumerate(plan.limits):
                window = self._window(plan.state_ids[index], limit)
                windows.append(window)
                effective, blocked_until = self._adaptive(limit, plan, index, now)
                used = window.count(now)
                wait = max(0, blocked_until - now)
                if used + cost > effective:
                    need = used + cost - effective
                    waited = window.wait_for(need, now) if cost <= effective else limit.window_us
                    wait = max(wait, waited)
                left = 0 if blocked_until > now else effective - used
                remaining = left if remaining < 0 else min(remaining, left)
                if wait > 0:
                    allowed = False
                    if wait > retry:
                        retry, blocker = wait, index
            if not allowed:
                return RawAcquire(False, retry, max(0, remaining), blocker)
            for window in windows:
                window.charge(cost, now)
            return RawAcquire(True, 0, remaining - cost, -1)

    def status(self, plan: Plan) -> RawStatus:
        limit = plan.limits[0]
        with self._lock:
            now = _now_us()
            window = self._window(plan.state_ids[0], limit)
            effective, blocked_until = self._adaptive(limit, plan, 0, now)
            multiplier = min(
                (self._multiplier_of(plan.integrations[i], now) for i in plan.governed_by[0]),
                default=1.0,
            )
            return RawStatus(
                used=window.count(now),
                effective_limit=effective,
                multiplier=multiplier,
                blocked_us=max(0, blocked_until - now),
                reset_us=window.reset_after(now),
            )

    def record(self, integration: str, adjustment: Adjustment) -> tuple[float, float]:
        with self._lock:
            now = _now_us()
            old = self._multiplier_of(integration, now)
            new = apply_adjustment(old, adjustment, self._policy)
            if new >= 1.0:
                self._multiplier.pop(integration, None)
            elif new < old:
                self._multiplier[integration] = (new, now + self._ttl_us)
            elif new > old:
                self._multiplier[integration] = (new, self._multiplier[integration][1])
            until = self._blocked_until.get(integration, 0)
            if adjustment.block_seconds > 0:
                until = max(until, now + round(adjustment.block_seconds * 1e6))
                self._blocked_until[integration] = until
            return new, max(0, until - now) / 1e6

    def reset(self, key: str) -> None:
        head = key + ":"
        with self._lock:
            for ident in [
                i
                for i in self._windows
                if i.startswith(head) and STATE_TAIL.fullmatch(i[len(head) :])
            ]:
                del self._windows[ident]
            self._multiplier.pop(key, None)
            self._blocked_until.pop(key, None)

    def _window(self, ident: str, limit: Limit) -> _Window:
        window = self._windows.get(ident)
        if window is None:
            if limit.algorithm == "exact":
                window = _ExactLog(limit.window_us)
            else:
                window = _Buckets(limit.window_us, limit.bucket_us)
            self._windows[ident] = window
        return window

    def _adaptive(self, limit: Limit, plan: Plan, index: int, now: int) -> tuple[int, int]:
        multiplier, blocked_until = 1.0, 0
        for i in plan.governed_by[index]:
            name = plan.integrations[i]
            multiplier = min(multiplier, self._multiplier_of(name, now))
            blocked_until = max(blocked_until, self._blocked_until.get(name, 0))
        effective = max(1, math.floor(limit.max_requests * multiplier / self.share + 1e-9))
        return effective, blocked_until

    def _multiplier_of(self, name: str, now: int) -> float:
        entry = self._multiplier.get(name)
        if entry is None:
            return 1.0
        if entry[1] <= now:
            del self._multiplier[name]
            return 1.0
        return entry[0]

    def _sweep(self, now: int) -> None:
        self._next_sweep = now + _SWEEP_EVERY_US
        for ident in [i for i, w in self._windows.items() if w.idle(now)]:
            del self._windows[ident]
        for name in [n for n, until in self._blocked_until.items() if until <= now]:
            del self._blocked_until[name]
