"""The figures operators watch, as OpenTelemetry instruments on one meter ("lockstep").

Without an SDK meter provider (see `telemetry.setup_telemetry`) every call is a no-op.
Attributes are ids and fixed words only, never record content.

Instruments (attributes in brackets):
- `lockstep.records` [connection, direction, outcome]: records read, created, linked,
  updated, deleted, unchanged, pushed, failed;
- `lockstep.stage.duration` ms [stage, connection]: fetch, match, resolve, store, push,
  and sync-inbound / sync-outbound per message;
- `lockstep.dedup` [connection, verdict]: a new record matched against the hub, `linked`,
  `review` or `new` (the match rate is linked over all three);
- `lockstep.conflicts` [connection, outcome]: conflicting fields `detected`, `resolved` by
  the policy, left `pending` for an admin;
- `lockstep.webhooks` [outcome]: deliveries `accepted`, `duplicate`, `refused`,
  `handshake`, `unavailable`, and `missed` ones found by reconciliation;
- `lockstep.events` [event, ...]: `token_refresh` [outcome], `limiter_decision` [allowed,
  shared: false on the local fallback], breaker transitions, held deletes;
- `lockstep.queue.depth`, `lockstep.queue.oldest_age` s [queue]: sampled by each
  scheduler tick.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from opentelemetry import metrics
from opentelemetry.metrics import Counter

__all__ = [
    "count",
    "record_conflict_counts",
    "record_dedup",
    "record_queue",
    "record_sync_counts",
    "record_webhook",
    "timed",
]

_METER = metrics.get_meter("lockstep")
_RECORDS = _METER.create_counter(
    "lockstep.records", unit="{record}", description="records per connection and outcome"
)
_EVENTS = _METER.create_counter(
    "lockstep.events",
    description="breaker transitions, held deletes, alerts and other counted events",
)
_STAGE = _METER.create_histogram(
    "lockstep.stage.duration", unit="ms", description="latency per stage of a sync"
)
_DEDUP = _METER.create_counter(
    "lockstep.dedup", unit="{record}", description="new records matched against the hub"
)
_CONFLICTS = _METER.create_counter(
    "lockstep.conflicts", unit="{field}", description="conflicting fields and their fate"
)
_WEBHOOKS = _METER.create_counter(
    "lockstep.webhooks", unit="{delivery}", description="webhook deliveries per outcome"
)
_QUEUE_DEPTH = _METER.create_gauge(
    "lockstep.queue.depth", unit="{message}", description="messages waiting in a queue"
)
_QUEUE_AGE = _METER.create_gauge(
    "lockstep.queue.oldest_age", unit="s", description="age of a queue's oldest message"
)


def record_sync_counts(connection_id: str, direction: str, counts: Mapping[str, int]) -> None:
    """One sync message's tallies: read, created, updated, failed and the rest."""
    _add_each(_RECORDS, counts, connection=connection_id, direction=direction)


def record_dedup(connection_id: str, verdict: str) -> None:
    _DEDUP.add(1, {"connection": connection_id, "verdict": verdict})


def record_conflict_counts(connection_id: str, counts: Mapping[str, int]) -> None:
    _add_each(_CONFLICTS, counts, connection=connection_id)


def _add_each(counter: Counter, counts: Mapping[str, int], **attributes: str) -> None:
    """Each non-zero count under its name as the `outcome` attribute."""
    for outcome, value in counts.items():
        if value:
            counter.add(value, {**attributes, "outcome": outcome})


def record_webhook(outcome: str, value: int = 1) -> None:
    _WEBHOOKS.add(value, {"outcome": outcome})


def record_queue(queue: str, *, depth: int, oldest_age_seconds: float | None) -> None:
    _QUEUE_DEPTH.set(depth, {"queue": queue})
    _QUEUE_AGE.set(oldest_age_seconds or 0.0, {"queue": queue})


def count(event: str, value: int = 1, **attributes: str) -> None:
    _EVENTS.add(value, {"event": event, **attributes})


@contextmanager
def timed(
    stage: str, *, into: MutableMapping[str, float] | None = None, **attributes: str
) -> Iterator[None]:
    """Time the block as `stage` (fetch, match, resolve, store, push, sync-inbound, ...);
    `into`: also add the milliseconds to that tally under the stage's name."""
    began = time.perf_counter()
    try:
        yield
    finally:
        elapsed = (time.perf_counter() - began) * 1000
        _STAGE.record(elapsed, {"stage": stage, **attributes})
        if into is not None:
            into[stage] = into.get(stage, 0.0) + elapsed
