"""RateLimiter: the fleet-wide limiter every pipeline asks before it calls out or takes in."""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TypedDict, Unpack

from redis.credentials import CredentialProvider

from integration_core.errors import RetryableError
from integration_core.ratelimit._local import LocalBackend
from integration_core.ratelimit._plan import Plan, RawAcquire, RawStatus, build_plan
from integration_core.ratelimit._policy import adjustment_for
from integration_core.ratelimit._redis import RedisBackend, RedisUnavailableError
from integration_core.ratelimit.headers import parse_response
from integration_core.ratelimit.models import (
    AdaptivePolicy,
    AlertEvent,
    AlertKind,
    AlertSink,
    Decision,
    Limit,
    LimitStatus,
)

__all__ = ["RateLimiter", "LimiterOptions"]

_LOG = logging.getLogger(__name__)
_PLAN_CACHE_SIZE = 4096
_SHARED_DECISIONS = 1024
_TRACKED_KEYS = 10_000
_MIN_SLEEP = 0.001


class LimiterOptions(TypedDict, total=False):
    """Keyword options of `RateLimiter.from_url` and `RateLimiter.local`.

    key_prefix: Redis key namespace (windows `<p>:…`, adaptive `<p>_adaptive:<integration>`,
        Retry-After blocks `<p>_block:<integration>`). Default "ratelimit".
    timeout_ms: Redis connect/read timeout; slower answers count as an outage. Default 100.
    probe_interval: seconds between attempts to reach Redis during an outage. Default 5.
    instances: how many instances may fall back at once; each then admits 1/instances of
        every limit. Default 1.
    policy: AdaptivePolicy (multiplier floor, decrease, recovery, …).
    alert_sink: called with each AlertEvent (default: a warning log line).
    exhaustion_alert_after: seconds a limit stays exhausted before an alert. Default 60.
    low_multiplier_alert: alert when an integration's multiplier falls to this. Default 0.6.
    alert_cooldown: seconds between two alerts of the same kind and key. Default 300.
    credential_provider: signs in to Redis on each new connection (e.g. a Microsoft Entra
        ID token, see `integration_core.ratelimit.entra`). Default: the URL's own auth.
    """

    key_prefix: str
    timeout_ms: float
    probe_interval: float
    instances: int
    policy: AdaptivePolicy
    alert_sink: AlertSink
    exhaustion_alert_after: float
    low_multiplier_alert: float
    alert_cooldown: float
    credential_provider: CredentialProvider


def _log_alert(event: AlertEvent) -> None:
    _LOG.warning("rate limit alert %s on %s: %s", event.kind, event.key, event.message)


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return float(value)


class RateLimiter:
    """Sliding-window limits shared by every instance through Redis (or in-process).

    Build with `RateLimiter.from_url(url)` or `RateLimiter.local()`. Thread-safe.
    """

    def __init__(self, redis_url: str | None = None, **options: Unpack[LimiterOptions]) -> None:
        unknown = set(options) - set(LimiterOptions.__annotations__)
        if unknown:
            raise ValueError(f"unknown RateLimiter options: {', '.join(sorted(unknown))}")
        self._policy = options.get("policy", AdaptivePolicy())
        if not isinstance(self._policy, AdaptivePolicy):
            raise ValueError("policy must be an AdaptivePolicy")
        instances = options.get("instances", 1)
        if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
            raise ValueError(f"instances must be a positive integer, got {instances!r}")
        prefix = options.get("key_prefix", "ratelimit")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("key_prefix must be a non-empty string")
        timeout_ms = _positive("timeout_ms", options.get("timeout_ms", 100.0))
        self._probe_interval = _positive("probe_interval", options.get("probe_interval", 5.0))
        self._exhaustion_after = _positive(
            "exhaustion_alert_after", options.get("exhaustion_alert_after", 60.0)
        )
        self._low_multiplier = _positive(
            "low_multiplier_alert", options.get("low_multiplier_alert", 0.6)
        )
        self._cooldown = _positive("alert_cooldown", options.get("alert_cooldown", 300.0))
        self._sink: AlertSink = options.get("alert_sink", _log_alert)
        if not callable(self._sink):
            raise ValueError("alert_sink must be callable")

        self._redis = (
            RedisBackend(
                redis_url,
                key_prefix=prefix,
                timeout_ms=timeout_ms,
                policy=self._policy,
                credential_provider=options.get("credential_provider"),
            )
            if redis_url is not None
            else None
        )
        # Embedded mode owns the whole limit; as a fallback, this instance's share.
        self._local = LocalBackend(
            share=instances if redis_url is not None else 1, policy=self._policy
        )
        self._plans: dict[tuple[tuple[Limit, ...], int], Plan] = {}
        # The same plans by the identity of the Limit objects: no hashing of Limits on the
        # hot path. Safe because each plan holds its Limits, so their ids are not reused.
        self._by_id: dict[tuple[int, ...], Plan] = {}
        # Decisions are immutable: admitted ones are shared, by remaining allowance.
        self._allowed = {
            left: Decision(True, 0.0, left, False) for left in range(_SHARED_DECISIONS)
        }
        self._state_lock = threading.Lock()
        self._down_since: float | None = None
        self._next_probe = 0.0
        self._fallback_calls = 0
        self._denied_since: dict[str, float] = {}
        self._alerted: dict[tuple[AlertKind, str], float] = {}

    @classmethod
    def from_url(cls, url: str, **options: Unpack[LimiterOptions]) -> RateLimiter:
        """Shared limits in the Redis at `url` (redis:// or rediss://, not a cluster)."""
        if not isinstance(url, str) or not url:
            raise ValueError("a Redis URL is required")
        return cls(url, **options)

    @classmethod
    def local(cls, **options: Unpack[LimiterOptions]) -> RateLimiter:
        """Limits kept in this process only (embedded mode, single instance)."""
        return cls(None, **options)

    @property
    def degraded(self) -> bool:
        """True while Redis is considered unreachable and the local fallback answers."""
        return self._down_since is not None

    # the API ----------------------------------------------------------------------
    def acquire(self, limits: Iterable[Limit] | Limit, cost: int = 1) -> Decision:
        """Admit `cost` units under every limit, atomically, or none of them."""
        kind = type(limits)
        plan = (
            self._by_id.get((*map(id, limits), cost))  # type: ignore[arg-type]
            if (kind is list or kind is tuple) and type(cost) is int
            else None
        ) or self._lookup(limits, cost)
        redis = self._redis
        if redis is not None and (self._down_since is None or self._probe_due()):
            try:
                raw = redis.acquire(plan)
            except RedisUnavailableError as err:
                self._went_down(err)
            else:
                if self._down_since is not None:
                    self._came_back()
                if raw.allowed and not self._denied_since:
                    try:
                        return self._allowed[raw.remaining]
                    except KeyError:
                        pass
                return self._decide(plan, raw, degraded=False)
        raw = self._local.acquire(plan)
        if redis is not None:
            self._fallback_calls += 1
        return self._decide(plan, raw, degraded=redis is not None)

    def wait(
        self, limits: Iterable[Limit] | Limit, cost: int = 1, *, timeout: float = 30.0
    ) -> Decision:
        """Acquire, sleeping while refused, until admitted or `timeout` seconds have passed.

        Returns the last (refused) decision as soon as its retry_after reaches past the
        deadline, so a caller can reschedule instead of sleeping for nothing.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ValueError(f"timeout must be a number of seconds, got {timeout!r}")
        if not math.isfinite(timeout) or timeout < 0:
            raise ValueError(f"timeout must be a non-negative finite number, got {timeout!r}")
        limits = limits if isinstance(limits, Limit) else tuple(limits)
        deadline = time.monotonic() + timeout
        while True:
            decision = self.acquire(limits, cost)
            if decision.allowed:
                return decision
            left = deadline - time.monotonic()
            if decision.retry_after > left:
                return decision
            # Jitter spreads waiters that were refused by the same full window.
            jitter = random.uniform(0.0, min(0.01, decision.retry_after * 0.1))  # noqa: S311
            time.sleep(max(_MIN_SLEEP, min(left, decision.retry_after + jitter)))

    def record_response(
        self, integration_key: str, status_code: int, headers: Mapping[str, str] | None = None
    ) -> float:
        """Feed one provider response into `integration_key`'s adaptive state.

        Returns the integration's multiplier afterwards.
        """
        if not isinstance(integration_key, str) or not integration_key:
            raise ValueError("integration_key must be a non-empty string")
        if headers is not None and not isinstance(headers, Mapping):
            raise ValueError("headers must be a mapping of header names to values")
        adjustment = adjustment_for(parse_response(status_code, headers), self._policy)
        multiplier, blocked = self._local.record(integration_key, adjustment)
        redis = self._redis
        if redis is not None and (self._down_since is None or self._probe_due()):
            try:
                multiplier, blocked = redis.record(integration_key, adjustment)
            except RedisUnavailableError as err:
                self._went_down(err)
            else:
                if self._down_since is not None:
                    self._came_back()
        if blocked > 0:
            _LOG.info("rate limit: %s blocked for %.1f s (Retry-After)", integration_key, blocked)
        if multiplier <= self._low_multiplier:
            self._alert(
                "low_multiplier",
                integration_key,
                f"provider throttling: limits scaled to {multiplier:.2f}",
                multiplier,
            )
        return multiplier

    def status(self, limit: Limit) -> LimitStatus:
        """How much of `limit` is used now (nothing is charged)."""
        if not isinstance(limit, Limit):
            raise ValueError(f"expected a Limit, got {type(limit).__name__}")
        plan = build_plan(limit, 1)
        raw: RawStatus | None = None
        redis = self._redis
        if redis is not None and (self._down_since is None or self._probe_due()):
            try:
                raw = redis.status(plan)
            except RedisUnavailableError as err:
                self._went_down(err)
            else:
                if self._down_since is not None:
                    self._came_back()
        degraded = raw is None and redis is not None
        if raw is None:
            raw = self._local.status(plan)
        return LimitStatus(
            key=limit.key,
            max_requests=limit.max_requests,
            window_seconds=limit.window_seconds,
            effective_limit=raw.effective_limit,
            used=raw.used,
            remaining=max(0, raw.effective_limit - raw.used) if raw.blocked_us == 0 else 0,
            multiplier=raw.multiplier,
            blocked_for=raw.blocked_us / 1e6,
            reset_after=max(0, raw.reset_us) / 1e6,
            degraded=degraded,
        )

    def reset(self, key: str) -> None:
        """Forget every window of `key` and the adaptive state of integration `key`.

        Raises RetryableError when Redis cannot be reached (the shared state is untouched).
        """
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        self._local.reset(key)
        if self._redis is not None:
            try:
                self._redis.reset(key)
            except RedisUnavailableError as err:
                self._went_down(err)
                raise RetryableError(f"cannot reset {key!r}: Redis unreachable") from err

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()

    def __enter__(self) -> RateLimiter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # internals --------------------------------------------------------------------
    def _lookup(self, limits: Iterable[Limit] | Limit, cost: int) -> Plan:
        """The cached plan for any spelling of the limits (list, generator, one Limit)."""
        if isinstance(limits, Limit):
            limits = (limits,)
        elif isinstance(limits, Iterable) and not isinstance(limits, str | bytes):
            limits = tuple(limits)
        plan: Plan | None = None
        if type(cost) is int and isinstance(limits, tuple):
            with contextlib.suppress(TypeError):  # unhashable junk: build_plan explains
                plan = self._plans.get((limits, cost))
        if plan is None:
            plan = build_plan(limits, cost)
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
                self._by_id.clear()
            self._plans[(plan.limits, cost)] = plan
        if type(cost) is int and all(a is b for a, b in zip(plan.limits, limits, strict=True)):
            self._by_id[(*map(id, plan.limits), cost)] = plan
        return plan

    def _decide(self, plan: Plan, raw: RawAcquire, *, degraded: bool) -> Decision:
        if raw.allowed:
            if self._denied_since and raw.remaining > 0:
                for limit in plan.limits:
                    self._denied_since.pop(limit.key, None)
            return Decision(True, 0.0, raw.remaining, degraded)
        key = plan.limits[raw.blocker].key
        now = time.monotonic()
        since = self._denied_since.setdefault(key, now)
        if now - since >= self._exhaustion_after:
            self._alert(
                "exhausted",
                key,
                f"refusing calls for {now - since:.0f} s without spare capacity",
                now - since,
            )
        if len(self._denied_since) > _TRACKED_KEYS:
            self._denied_since.clear()
        return Decision(False, raw.retry_us / 1e6, raw.remaining, degraded)

    def _probe_due(self) -> bool:
        now = time.monotonic()
        if now < self._next_probe:
            return False
        with self._state_lock:
            if now < self._next_probe:
                return False
            self._next_probe = now + self._probe_interval  # one caller probes per interval
            return True

    def _went_down(self, err: RedisUnavailableError) -> None:
        with self._state_lock:
            now = time.monotonic()
            self._next_probe = now + self._probe_interval
            if self._down_since is not None:
                return
            self._down_since = now
            self._fallback_calls = 0
        _LOG.warning(
            "rate limiter: Redis unreachable (%s); answering from the in-process limiter "
            "with 1/%d of each limit until it is back",
            err,
            self._local.share,
        )
        self._alert("degraded", "redis", f"Redis unreachable: {err}", 1.0)

    def _came_back(self) -> None:
        with self._state_lock:
            since = self._down_since
            if since is None:
                return
            self._down_since = None
            calls = self._fallback_calls
        _LOG.warning(
            "rate limiter: Redis reachable again after %.1f s; %d decisions were local",
            time.monotonic() - since,
            calls,
        )

    def _alert(self, kind: AlertKind, key: str, message: str, value: float) -> None:
        now = time.monotonic()
        last = self._alerted.get((kind, key))
        if last is not None and now - last < self._cooldown:
            return
        if len(self._alerted) > _TRACKED_KEYS:
            self._alerted.clear()
        self._alerted[(kind, key)] = now
        try:
            self._sink(AlertEvent(kind=kind, key=key, message=message, value=value))
        except Exception:
            _LOG.exception("rate limit alert sink failed for %s on %s", kind, key)
