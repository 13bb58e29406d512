"""Pending creates and updates sent through the adapter's `write_batch`.

Writes are grouped per object type and cut into chunks of the adapter's batch limit
(`BatchesWrites`; an adapter that declares none writes one record per call). Before each
chunk goes out, the API calls it will make are taken from the connection's budgets (not
one unit per record): a spent budget stops the work before the chunk, so nothing is sent
twice. Every outcome of a chunk is settled, then the first error that stops the
connection (retryable, auth) is raised, so that what is left is postponed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from integration_core.errors import LockstepError
from integration_core.pipelines.results import Tally
from integration_core.pipelines.throttle import largest_cost, take_budget
from integration_core.ports import BatchesWrites, IntegrationAdapter, WriteRequest, WriteResult
from integration_core.runtime import Runtime

__all__ = ["PendingWrite", "api_calls", "batch_limit", "write_pending"]

Outcome = WriteResult | LockstepError


@dataclass(frozen=True)
class PendingWrite:
    """A write decided and not yet sent; `finish` acts on the provider's answer to it."""

    entity_type: str
    request: WriteRequest
    finish: Callable[[Outcome], None]
    tally: Tally  # where the budget its chunk takes is counted
    owner: Any = None


def batch_limit(adapter: IntegrationAdapter) -> int:
    return max(1, adapter.batch_limit) if isinstance(adapter, BatchesWrites) else 1


def api_calls(
    adapter: IntegrationAdapter, entity_type: str, requests: Sequence[WriteRequest]
) -> int:
    if isinstance(adapter, BatchesWrites):
        return max(1, adapter.batch_calls(entity_type, requests))
    return len(requests)


def _chunk(
    adapter: IntegrationAdapter, entity_type: str, writes: Sequence[PendingWrite], ceiling: int
) -> tuple[Sequence[PendingWrite], int]:
    """The next chunk and its API calls: at most the batch limit, and smaller while its
    calls exceed what the tightest budget can ever grant at once (it would wait forever)."""
    size = min(batch_limit(adapter), len(writes))
    while True:
        chunk = writes[:size]
        cost = api_calls(adapter, entity_type, [write.request for write in chunk])
        if cost <= ceiling or size == 1:
            return chunk, min(cost, ceiling)
        size //= 2


def write_pending(
    rt: Runtime,
    adapter: IntegrationAdapter,
    pending: Sequence[PendingWrite],
    *,
    settle: Callable[[PendingWrite, Outcome], None],
) -> None:
    """Send `pending` in as few calls as the adapter allows; `settle` each outcome."""
    by_type: dict[str, list[PendingWrite]] = {}
    for write in pending:
        by_type.setdefault(write.entity_type, []).append(write)
    ceiling = largest_cost(rt, adapter)
    for entity_type, writes in by_type.items():
        start = 0
        while start < len(writes):
            chunk, cost = _chunk(adapter, entity_type, writes[start:], ceiling)
            start += len(chunk)
            requests = [write.request for write in chunk]
            take_budget(rt, adapter, tally=chunk[0].tally, cost=cost)
            outcomes = adapter.write_batch(entity_type, requests)
            stop: LockstepError | None = None
            for write, outcome in zip(chunk, outcomes, strict=True):
                try:
                    settle(write, outcome)
                except LockstepError as err:
                    stop = stop or err
            if stop is not None:
                raise stop
