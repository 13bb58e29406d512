"""Rate limits inside the workers: take a unit of budget before each provider call.

A short wait is absorbed in place; a longer one raises `Throttled`, and the worker hands
the rest of its work to a delayed copy of its message (`reschedule`) instead of failing.
A provider's own 429 with Retry-After is treated the same way: a throttled sync is
postponed, never dropped, and does not count toward the poison limit. Postponed copies
carry when the postponing began: past `RATE_LIMIT_ALERT_MINUTES` the connection's limit
has been exhausted for long and the tenant is alerted; the copy that finally does its work
resolves the alert (`done_after_postponing`). Each budget taken also tells the limiter
watch whether the limiter answered from its local fallback (`limiter_fallback` alerts).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from integration_core.clock import utcnow
from integration_core.errors import RetryableError
from integration_core.models import SyncMessage, SyncResult, deterministic_id
from integration_core.notify.sources import throttled
from integration_core.observability.metrics import count
from integration_core.pipelines.results import POSTPONED, Tally
from integration_core.ports import IntegrationAdapter
from integration_core.ratelimit import Limit
from integration_core.runtime import Runtime

__all__ = [
    "MAX_ATTEMPT",
    "Throttled",
    "done_after_postponing",
    "largest_cost",
    "postponed_id",
    "reschedule",
    "take_budget",
]

log = logging.getLogger(__name__)

# A message's `attempt` counts its postponements; no setting lets it pass this bound, so a
# message claiming more (or fewer than none) was not made by Lockstep.
MAX_ATTEMPT = 10_000


class Throttled(RetryableError):
    """The budget is spent for now; `retry_after` says when it returns."""


def _limits(rt: Runtime, adapter: IntegrationAdapter) -> list[Limit]:
    tenant = adapter.connection.tenant_id
    return [
        Limit(f"tenant:{tenant}", rt.settings.tenant_requests_per_minute, 60.0),
        *adapter.rate_limits(),
    ]


def largest_cost(rt: Runtime, adapter: IntegrationAdapter) -> int:
    """The most units one `take_budget` can ever be granted: the tightest budget's size."""
    return max(1, int(min(limit.max_requests for limit in _limits(rt, adapter))))


def take_budget(rt: Runtime, adapter: IntegrationAdapter, *, tally: Tally, cost: int = 1) -> None:
    connection = adapter.connection
    limits = _limits(rt, adapter)
    decision = rt.limiter.wait(limits, cost, timeout=rt.settings.throttle_max_wait_seconds)
    degraded = rt.limiter.degraded
    if rt.limiter_watch is not None:
        rt.limiter_watch(connection.tenant_id, degraded)
    count(
        "limiter_decision",
        connection=connection.id,
        allowed=str(decision.allowed).lower(),
        shared=str(not degraded).lower(),
    )
    # In API calls (a batch's chunk takes several units at once), as the budgets count.
    tally.limiter["allowed" if decision.allowed else "denied"] += cost
    if degraded:
        tally.limiter["fallback"] += cost
    if not decision.allowed:
        raise Throttled(
            f"rate limit for connection {connection.id}", retry_after=decision.retry_after
        )


def postponed_id(message_id: str, attempt: int) -> str:
    """The id of the copy of `message_id` postponed for the `attempt`th time."""
    return deterministic_id(message_id, "throttled", str(attempt))


def reschedule(
    rt: Runtime,
    queue: str,
    message: SyncMessage,
    cause: RetryableError,
    *,
    rate_limited: bool = True,
    bounded: bool = True,
    payload: Mapping[str, Any] | None = None,
) -> SyncMessage:
    """Send a delayed copy of `message` with a new id (so duplicate detection keeps it).

    For a cause that names its own delay: our limiter, or a provider's 429/503 with
    Retry-After (`rate_limited`), or a wait of another kind. After `max_reschedules`
    postponements (`bounded`; an outage's waits are bounded by `MAX_ATTEMPT` only) the
    cause is raised instead, and the message takes the ordinary retry-then-poison path.
    `payload`: the copy's own, if not the message's (a batch's remaining pushes).
    """
    retry_after = cause.retry_after if cause.retry_after is not None else 1.0
    attempt = message.attempt + 1
    if attempt > (min(rt.settings.max_reschedules, MAX_ATTEMPT) if bounded else MAX_ATTEMPT):
        raise cause
    update: dict[str, object] = {
        "message_id": postponed_id(message.message_id, attempt),
        "attempt": attempt,
    }
    if payload is not None:
        update["payload"] = dict(payload)
    if rate_limited:
        now = utcnow()
        since = message.throttled_since or now
        update["throttled_since"] = since
        after = timedelta(minutes=rt.settings.rate_limit_alert_minutes)
        throttled(rt.store, message, since=since, now=now, after=after)
    copy = message.model_copy(update=update)
    rt.queue.send(queue, copy, delay_seconds=max(retry_after, 0.0))
    log.info(
        "throttled: %s continues as %s in %.1f s",
        message.message_id,
        copy.message_id,
        retry_after,
    )
    return copy


def done_after_postponing(message: SyncMessage, result: SyncResult) -> bool:
    """Whether `message`, a copy postponed by rate limits, did its work without another."""
    return message.throttled_since is not None and not any(
        error.startswith(POSTPONED) for error in result.errors
    )
