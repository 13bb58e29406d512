"""A circuit breaker per connection, shared by every instance through Redis.

A provider failing hard (5xx, timeouts, connections refused) is left alone for a
cooling-off period instead of being hammered by every worker; then one call probes it
(half-open) and its outcome closes or reopens the circuit. A message that meets an open
circuit is postponed (`CircuitOpen` is a RetryableError with `retry_after`, which the
workers reschedule), never dropped.

The state is one small JSON document per connection in Redis, changed with optimistic
transactions (WATCH/MULTI) so the pure state machine in `_machine` is the only rule. While
Redis is unreachable each instance keeps its own state, as the rate limiter does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import redis

from integration_core.errors import RetryableError
from integration_core.observability.metrics import count
from integration_core.resilience._machine import CLOSED, Event, Machine, Snapshot, step

__all__ = ["BreakerConfig", "BreakerState", "CircuitBreaker", "CircuitOpen"]

log = logging.getLogger(__name__)
_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


class CircuitOpen(RetryableError):
    """The connection's circuit is open: try again after `retry_after` seconds."""


@dataclass(frozen=True, kw_only=True)
class BreakerConfig:
    failures: int = 5
    window_seconds: float = 60.0
    cooldown_seconds: float = 60.0
    # How long one half-open probe may take before another instance may probe instead.
    probe_seconds: float = 30.0
    # While Redis is down, how often to try it again.
    retry_redis_seconds: float = 5.0


@dataclass(frozen=True)
class BreakerState:
    """What health and the admin API show for one connection."""

    state: str
    failures: int
    shared: bool


class CircuitBreaker:
    def __init__(
        self,
        *,
        config: BreakerConfig | None = None,
        client: redis.Redis | None = None,
        key_prefix: str = "breaker",
        clock: Callable[[], float] = time.time,
        on_transition: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.config = config or BreakerConfig()
        self._machine = Machine(
            failures=self.config.failures,
            window=self.config.window_seconds,
            cooldown=self.config.cooldown_seconds,
            probe_lease=self.config.probe_seconds,
        )
        self._client = client
        self._prefix = key_prefix
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self._local: dict[str, Snapshot] = {}
        self._redis_down_until = 0.0

    def admit(self, tenant_id: str, connection_id: str) -> None:
        """Return if a call to the connection may go ahead; else raise `CircuitOpen`."""
        wait = self._apply(tenant_id, connection_id, "admit")
        if wait > 0:
            raise CircuitOpen(f"circuit open for connection {connection_id}", retry_after=wait)

    def record_success(self, tenant_id: str, connection_id: str) -> None:
        self._apply(tenant_id, connection_id, "success")

    def record_failure(self, tenant_id: str, connection_id: str) -> None:
        self._apply(tenant_id, connection_id, "failure")

    def record_status(self, tenant_id: str, connection_id: str, status: int) -> None:
        """A provider's answer: 5xx is a hard failure, anything else shows it is up."""
        if status >= 500:
            self.record_failure(tenant_id, connection_id)
        else:
            self.record_success(tenant_id, connection_id)

    def record_error(self, tenant_id: str, connection_id: str, err: BaseException) -> None:
        """A failed call: a hard failure when no answer came (timeout, refused, reset)."""
        cause: BaseException | None = err
        while cause is not None:
            if isinstance(cause, httpx.TransportError):
                self.record_failure(tenant_id, connection_id)
                return
            cause = cause.__cause__

    def state(self, tenant_id: str, connection_id: str) -> BreakerState:
        snapshot, shared = self._read(_ident(tenant_id, connection_id))
        return BreakerState(state=snapshot.state, failures=snapshot.failures, shared=shared)

    def _key(self, ident: str) -> str:
        return f"{self._prefix}:{ident}"

    def _apply(self, tenant_id: str, connection_id: str, event: Event) -> float:
        now = self._clock()
        ident = _ident(tenant_id, connection_id)
        if self._client is not None and now >= self._redis_down_until:
            try:
                before, after, wait = self._apply_shared(self._client, ident, event, now)
                self._remember(tenant_id, connection_id, before, after)
                return wait
            except _REDIS_DOWN as err:
                self._redis_down_until = now + self.config.retry_redis_seconds
                log.warning("circuit breaker falls back to local state: %s", type(err).__name__)
        with self._lock:
            before = self._local.get(ident, CLOSED)
            after, wait = step(now, before, event, self._machine)
            if after == CLOSED:
                self._local.pop(ident, None)
            else:
                self._local[ident] = after
        self._remember(tenant_id, connection_id, before, after)
        return wait

    def _apply_shared(
        self, client: redis.Redis, ident: str, event: Event, now: float
    ) -> tuple[Snapshot, Snapshot, float]:
        key = self._key(ident)
        # Kept while it may matter; a closed circuit with no failures is no key at all.
        ttl = int(max(self.config.window_seconds, self.config.cooldown_seconds) * 10) + 1
        with client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    before = _parse(pipe.get(key))
                    after, wait = step(now, before, event, self._machine)
                    if after != before:
                        pipe.multi()
                        if after == CLOSED:
                            pipe.delete(key)
                        else:
                            pipe.set(key, json.dumps(after.to_json()), ex=ttl)
                        pipe.execute()
                    return before, after, wait
                except redis.WatchError:
                    continue

    def _read(self, ident: str) -> tuple[Snapshot, bool]:
        if self._client is not None and self._clock() >= self._redis_down_until:
            try:
                return _parse(self._client.get(self._key(ident))), True
            except _REDIS_DOWN:
                pass
        with self._lock:
            return self._local.get(ident, CLOSED), False

    def _remember(
        self, tenant_id: str, connection_id: str, before: Snapshot, after: Snapshot
    ) -> None:
        """Count, log and report a change of state (this instance made it)."""
        if before.state == after.state:
            return
        count("breaker_transition", connection=connection_id, state=after.state)
        log.warning("circuit for connection %s: %s -> %s", connection_id, before.state, after.state)
        if self._on_transition is not None:
            self._on_transition(tenant_id, connection_id, after.state)


def _ident(tenant_id: str, connection_id: str) -> str:
    # Connection ids are unique within a tenant only.
    return f"{tenant_id}/{connection_id}"


def _parse(raw: object) -> Snapshot:
    if not isinstance(raw, bytes | str):
        return CLOSED
    return Snapshot(**json.loads(raw))
