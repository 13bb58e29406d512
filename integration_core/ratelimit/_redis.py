"""The shared backend: one EVALSHA per call on a Redis connection held by this backend.

The hot path skips redis-py's client layer (per-call pool checkout, retries, command
packing): commands are pre-encoded per plan and sent on a connection taken from a small
free list, so one `acquire` costs one write, one read and the script.
"""

from __future__ import annotations

import contextlib
import logging
import re
import struct
import threading
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.connection import ConnectionPool
from redis.credentials import CredentialProvider, StreamingCredentialProvider
from redis.exceptions import (
    ClusterDownError,
    MasterDownError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TryAgainError,
)
from redis.retry import Retry

from integration_core.ratelimit import _lua
from integration_core.ratelimit._plan import STATE_TAIL, Plan, RawAcquire, RawStatus
from integration_core.ratelimit._policy import Adjustment
from integration_core.ratelimit.models import AdaptivePolicy

__all__ = ["RedisBackend", "RedisUnavailableError"]

_LOG = logging.getLogger(__name__)

# Errors that mean "Redis cannot answer right now", as opposed to a bug in a command.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ReadOnlyError,
    MasterDownError,
    ClusterDownError,
    TryAgainError,
    OutOfMemoryError,
    OSError,
)
_BUSY_PREFIXES = ("BUSY", "LOADING")
_SCAN_BATCH = 500


class RedisUnavailableError(Exception):
    """Redis did not answer in time or refused; the limiter falls back to local."""


def _bulk(value: bytes | str | int | float) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _pack(*args: bytes | str | int | float) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(arg) for arg in args)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class RedisBackend:
    """Runs the scripts of `_lua` against one Redis (non-cluster) URL."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str,
        timeout_ms: float,
        policy: AdaptivePolicy,
        credential_provider: CredentialProvider | None = None,
    ) -> None:
        seconds = timeout_ms / 1000.0
        self._pool = ConnectionPool.from_url(
            url,
            credential_provider=credential_provider,
            socket_timeout=seconds,
            socket_connect_timeout=seconds,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._idle: list[Any] = []
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._prefix = key_prefix
        self._policy = policy
        self._ttl_ms = max(1, round(policy.ttl_seconds * 1000))
        # Bumped when a streaming provider (an Entra ID token) renews: connections signed in
        # with an older token are replaced as they are reused, before the server drops them
        # when that token expires. These connections never go back to the pool, so the
        # pool-wide re-AUTH redis-py does for its own clients does not reach them.
        self._generation = 0
        if isinstance(credential_provider, StreamingCredentialProvider):
            credential_provider.on_next(self._token_renewed)
            credential_provider.on_error(self._renewal_failed)

    # keys -------------------------------------------------------------------------
    def state_key(self, ident: str) -> str:
        return f"{self._prefix}:{ident}"

    def adaptive_key(self, integration: str) -> str:
        return f"{self._prefix}_adaptive:{integration}"

    def block_key(self, integration: str) -> str:
        return f"{self._prefix}_block:{integration}"

    # calls ------------------------------------------------------------------------
    def acquire(self, plan: Plan) -> RawAcquire:
        reply = self._run(plan.packed or self._encode(plan))
        if type(reply) is int:
            return RawAcquire(True, 0, reply, -1)
        retry_us, remaining, blocker = reply
        return RawAcquire(False, retry_us, remaining, blocker - 1)

    def status(self, plan: Plan) -> RawStatus:
        used, effective, ppm, blocked_us, reset_us = self._run(self._command(plan, 0))
        return RawStatus(used, effective, ppm / 1e6, blocked_us, reset_us)

    def record(self, integration: str, adjustment: Adjustment) -> tuple[float, float]:
        """Apply an adjustment atomically; returns (multiplier, seconds blocked)."""
        packed = _pack(
            "EVALSHA",
            _lua.RECORD_SHA,
            2,
            self.adaptive_key(integration),
            self.block_key(integration),
            repr(adjustment.factor),
            repr(adjustment.cap),
            repr(adjustment.recover),
            repr(self._policy.floor),
            self._ttl_ms,
            round(adjustment.block_seconds * 1e6),
        )
        multiplier, blocked_us = self._run(packed, script=_lua.RECORD)
        return float(multiplier), int(blocked_us) / 1e6

    def reset(self, key: str) -> int:
        """Delete every window of `key` and the adaptive state of integration `key`."""
        head = f"{self._prefix}:{key}:"
        doomed: list[bytes] = []
        cursor: int = 0
        while True:
            cursor_raw, batch = self._run(
                _pack("SCAN", cursor, "MATCH", _glob_escape(head) + "*", "COUNT", _SCAN_BATCH)
            )
            for raw in batch:
                name = raw.decode(errors="replace")
                if STATE_TAIL.fullmatch(name[len(head) :]):
                    doomed.append(raw)
            cursor = int(cursor_raw)
            if cursor == 0:
                break
        doomed += [self.adaptive_key(key).encode(), self.block_key(key).encode()]
        return int(self._run(_pack("DEL", *doomed)))

    def ping(self) -> None:
        self._run(_pack("PING"))

    def close(self) -> None:
        with self._lock:
            conns, self._all, self._idle = self._all, [], []
        for conn in conns:
            with contextlib.suppress(*_UNAVAILABLE):
                conn.disconnect()

    # plumbing ---------------------------------------------------------------------
    def _encode(self, plan: Plan) -> bytes:
        plan.packed = self._command(plan, plan.cost)
        return plan.packed

    def _command(self, plan: Plan, cost: int) -> bytes:
        bucketed = [i for i, limit in enumerate(plan.limits) if limit.algorithm == "bucketed"]
        exact = [i for i, limit in enumerate(plan.limits) if limit.algorithm == "exact"]
        m = len(plan.integrations)
        keys = [self.state_key(plan.state_ids[i]) for i in bucketed]
        keys += [self.adaptive_key(name) for name in plan.integrations]
        keys += [self.block_key(name) for name in plan.integrations]
        keys += [self.state_key(plan.state_ids[i]) for i in exact]
        key_index = {limit: pos + 1 for pos, limit in enumerate(bucketed)}
        key_index.update(
            {limit: len(bucketed) + 2 * m + pos + 1 for pos, limit in enumerate(exact)}
        )
        numbers: list[float] = [
            cost,
            len(plan.limits),
            m,
            len(bucketed) + 2 * m,
            len(bucketed),
            self._policy.floor,
        ]
        for index, (limit, governed) in enumerate(zip(plan.limits, plan.governed_by, strict=True)):
            mode, buckets = (2, limit.buckets) if limit.algorithm == "bucketed" else (0, 0)
            numbers += [key_index[index], limit.max_requests, limit.window_us, mode, buckets]
            numbers += [len(governed), *(i + 1 for i in governed)]
        fmt = "<" + "d" * len(numbers)
        blob = struct.pack(fmt, *numbers)
        return _pack("EVALSHA", _lua.ACQUIRE_SHA, len(keys), *keys, fmt, blob)

    def _token_renewed(self, _token: object) -> None:
        self._generation += 1

    def _renewal_failed(self, error: Exception) -> None:
        _LOG.warning(
            "rate limiter: Redis token renewal failed (%s); connections keep the current"
            " token until it expires",
            type(error).__name__,
        )

    def _connection(self) -> Any:
        conn: Any
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self._pool.make_connection()
            conn.lockstep_generation = self._generation
            with self._lock:
                self._all.append(conn)
            return conn
        if conn.lockstep_generation != self._generation:
            self._discard(conn)
            return self._connection()
        return conn

    def _discard(self, conn: Any) -> None:
        with contextlib.suppress(*_UNAVAILABLE):
            conn.disconnect()
        with self._lock, contextlib.suppress(ValueError):
            self._all.remove(conn)

    def _run(self, packed: bytes, *, script: str = _lua.ACQUIRE) -> Any:
        conn = self._connection()
        try:
            try:
                conn.send_packed_command([packed], check_health=False)
                reply = conn.read_response()
            except NoScriptError:
                conn.send_packed_command([_pack("SCRIPT", "LOAD", script)], check_health=False)
                conn.read_response()
                conn.send_packed_command([packed], check_health=False)
                reply = conn.read_response()
        except _UNAVAILABLE as err:
            self._discard(conn)
            raise RedisUnavailableError(f"{type(err).__name__}: {err}") from err
        except ResponseError as err:
            self._idle.append(conn)  # an error reply leaves the connection in sync
            if str(err).startswith(_BUSY_PREFIXES):
                raise RedisUnavailableError(f"{type(err).__name__}: {err}") from err
            raise
        except BaseException:
            self._discard(conn)
            raise
        self._idle.append(conn)
        return reply
