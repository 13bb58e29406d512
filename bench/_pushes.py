"""Pushing changes HubSpot -> Salesforce batched (Composite, 25 records a call) and one by
one (a `write` per record, as before the OutboundWorker batched), in the same run.

A first sync of `n` HubSpot contacts through the real pipelines (embedded runtime, the
demo's in-process fakes): `salesforce_push_calls` counts the calls the pushes made to
Salesforce (its pulls' queries left out), `seconds` the wall time of the whole round
(HubSpot's pull, the matching and the pushes; the fakes run in this process too, with no
network between: a real provider's latency per call would widen the gap), best of rounds.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from adapters.salesforce import SalesforceAdapter
from adapters.toolkit.adapter import DeclarativeAdapter
from tests.harness.crm_pair import crm_pair, person

__all__ = ["pushes"]

_PULLS = ("/query", "/queryAll", "/deleted/")


@contextlib.contextmanager
def _one_by_one() -> Iterator[None]:
    """Salesforce written as it was before batching: one `write` per record."""
    with (
        mock.patch.object(SalesforceAdapter, "write_batch", DeclarativeAdapter.write_batch),
        mock.patch.object(SalesforceAdapter, "batch_limit", 1),
        mock.patch.object(SalesforceAdapter, "batch_calls", DeclarativeAdapter.batch_calls),
    ):
        yield


def _round(n: int, *, batched: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        pair = crm_pair(Path(workdir))
        try:
            for i in range(n):
                pair.hubspot.create(person(i, domain="hubspot.example"))
            with contextlib.nullcontext() if batched else _one_by_one():
                started = time.perf_counter()
                pair.sync()
                seconds = time.perf_counter() - started
            landed = len(pair.salesforce.live())
            calls = [call for call in pair.logs["salesforce"].calls if not call[1].endswith(_PULLS)]
            return {
                "salesforce_push_calls": len(calls),
                "composite_writes": pair.logs["salesforce"].writes["composite"],
                "seconds": round(seconds, 3),
                "landed": landed,
            }
        finally:
            pair.rt.close()


def pushes(n: int, *, rounds: int = 3) -> dict[str, Any]:
    """Each way `rounds` times, interleaved (a shared machine's load hits both alike); the
    fastest round of each."""
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for _ in range(rounds):
        for way in (False, True):
            runs[way].append(_round(n, batched=way))
    one_by_one = min(runs[False], key=lambda run: float(run["seconds"]))
    batched = min(runs[True], key=lambda run: float(run["seconds"]))
    return {
        "changes": n,
        "batched": batched,
        "one_by_one": one_by_one,
        "calls_ratio": round(
            one_by_one["salesforce_push_calls"] / batched["salesforce_push_calls"], 1
        ),
        "speedup": round(one_by_one["seconds"] / batched["seconds"], 2),
    }
