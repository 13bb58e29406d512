"""The refresh lock: one refresher per credential across every instance.

With Redis, a holder owns ``SET key token NX PX ttl`` and receives a fencing token (a
per-credential counter incremented in the same Lua script). A watchdog thread extends the
lease while the holder works, so a slow token endpoint does not let a second refresher in;
if the holder dies the lease lapses after `ttl_seconds`. Within one process, waiters first
queue on a local lock, so only one thread per instance polls Redis.

When Redis cannot be reached, the local lock alone serializes refreshes in this instance
(logged as a warning); the etag-conditional commit in the service still keeps the stored
state consistent across instances.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from integration_core.errors import RetryableError

__all__ = ["LockLease", "RefreshLock"]

_log = logging.getLogger(__name__)

_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('incr', KEYS[2])
end
return 0
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass
class LockLease:
    """A held lock. `fence` is None when Redis was unavailable (local lock only)."""

    key: str
    fence: int | None
    lost: threading.Event = field(default_factory=threading.Event)

    @property
    def distributed(self) -> bool:
        return self.fence is not None


class RefreshLock:
    """Per-key mutual exclusion across processes (Redis) and threads (local).

    Args:
        client: a Redis client, or None for local-only locking.
        ttl_seconds: lease length; renewed every third of it while held.
        wait_seconds: how long `hold` waits before raising `RetryableError`.
        warn_interval_seconds: at most one "Redis down" warning per this interval.
    """

    def __init__(
        self,
        client: redis.Redis | None,
        *,
        prefix: str = "lockstep:credlock:",
        ttl_seconds: float = 30.0,
        wait_seconds: float = 30.0,
        poll_seconds: float = 0.05,
        warn_interval_seconds: float = 60.0,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._wait = wait_seconds
        self._poll = poll_seconds
        self._warn_interval = warn_interval_seconds
        self._last_warning = -float("inf")
        self._guard = threading.Lock()
        self._local: dict[str, threading.Lock] = {}
        self._acquire: Any = client.register_script(_ACQUIRE) if client is not None else None
        self._extend: Any = client.register_script(_EXTEND) if client is not None else None
        self._release: Any = client.register_script(_RELEASE) if client is not None else None

    @contextmanager
    def hold(self, key: str, *, wait_seconds: float | None = None) -> Iterator[LockLease]:
        deadline = time.monotonic() + (self._wait if wait_seconds is None else wait_seconds)
        local = self._local_lock(key)
        if not local.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise RetryableError(f"refresh lock {key} busy in this instance", retry_after=1.0)
        try:
            token = uuid.uuid4().hex
            fence = self._acquire_distributed(key, token, deadline)
            lease = LockLease(key=key, fence=fence)
            stop = threading.Event()
            watchdog: threading.Thread | None = None
            if fence is not None:
                watchdog = threading.Thread(
                    target=self._renew,
                    args=(key, token, lease, stop),
                    name=f"lockstep-credlock-{key}",
                    daemon=True,
                )
                watchdog.start()
            try:
                yield lease
            finally:
                if watchdog is not None:
                    stop.set()
                    watchdog.join()
                    self._release_distributed(key, token)
        finally:
            local.release()

    def _local_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._local.setdefault(key, threading.Lock())

    def _redis_down(self, err: BaseException, action: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= self._warn_interval:
            self._last_warning = now
            _log.warning(
                "Redis unavailable while %s a refresh lock (%s); refreshes are serialized"
                " per instance only",
                action,
                type(err).__name__,
            )
        else:
            _log.debug("Redis unavailable while %s a refresh lock", action)

    def _acquire_distributed(self, key: str, token: str, deadline: float) -> int | None:
        if self._redis is None:
            return None
        lock_key = self._prefix + "lock:" + key
        fence_key = self._prefix + "fence:" + key
        while True:
            try:
                fence = int(self._acquire(keys=[lock_key, fence_key], args=[token, self._ttl_ms]))
            except _REDIS_DOWN as err:
                self._redis_down(err, "acquiring")
                return None
            if fence > 0:
                return fence
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RetryableError(f"refresh lock {key} held elsewhere", retry_after=1.0)
            time.sleep(min(remaining, self._poll * random.uniform(0.5, 1.5)))  # noqa: S311

    def _renew(self, key: str, token: str, lease: LockLease, stop: threading.Event) -> None:
        lock_key = self._prefix + "lock:" + key
        while not stop.wait(self._ttl_ms / 3000):
            try:
                extended = int(self._extend(keys=[lock_key], args=[token, self._ttl_ms]))
            except _REDIS_DOWN as err:
                self._redis_down(err, "renewing")
                continue
            if not extended:
                lease.lost.set()
                _log.warning("refresh lock %s was lost before the holder finished", key)
                return

    def _release_distributed(self, key: str, token: str) -> None:
        try:
            self._release(keys=[self._prefix + "lock:" + key], args=[token])
        except _REDIS_DOWN as err:
            self._redis_down(err, "releasing")
