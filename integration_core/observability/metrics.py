"""The figures operators watch, as OpenTelemetry instruments on one meter ("lockstep").

Without an SDK meter provider (see `telemetry.setup_telemetry`) every call is a no-op.
Attributes are ids and fixed words only, never record content.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import metrics

__all__ = ["count", "record_sync_counts", "timed"]

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


def record_sync_counts(connection_id: str, direction: str, counts: Mapping[str, int]) -> None:
    """One sync message's tallies: read, created, updated, failed and the rest."""
    for outcome, value in counts.items():
        if value:
            _RECORDS.add(
                value,
                {"connection": connection_id, "direction": direction, "outcome": outcome},
            )


def count(event: str, value: int = 1, **attributes: str) -> None:
    _EVENTS.add(value, {"event": event, **attributes})


@contextmanager
def timed(stage: str, **attributes: str) -> Iterator[None]:
    """Time the block as `stage` (fetch, match, resolve, store, push, inbound, outbound)."""
    began = time.perf_counter()
    try:
        yield
    finally:
        _STAGE.record((time.perf_counter() - began) * 1000, {"stage": stage, **attributes})
