"""Per-connection health and sync figures, for the admin API and the admin UI.

`connection_health` says, for each of a tenant's connections, its auth state, when a sync
through it last succeeded, and its circuit breaker; `sync_figures` sums the stored sync
results (the same figures the `lockstep.records` metric counts) and their latency
percentiles per connection and direction.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

from integration_core.clock import to_iso
from integration_core.models import Connection, SyncResult
from integration_core.runtime import Runtime
from integration_core.storage import Filter

__all__ = ["connection_health", "sync_figures"]

RECENT_RESULTS = 50
_COUNTS = ("recordsRead", "created", "linked", "updated", "unchanged", "pushed")


def connection_health(rt: Runtime, tenant_id: str) -> list[dict[str, Any]]:
    documents = rt.store.query(Connection.container, partition_key=tenant_id)
    report = []
    for document in documents:
        connection = Connection.from_document(document)
        breaker = rt.breaker.state(tenant_id, connection.id)
        report.append(
            {
                "id": connection.id,
                "system": connection.system,
                "status": connection.status.value,
                "lastSuccessAt": _last_success(rt, tenant_id, connection.id),
                "breaker": {
                    "state": breaker.state,
                    "failures": breaker.failures,
                    "shared": breaker.shared,
                },
            }
        )
    return report


def _last_success(rt: Runtime, tenant_id: str, connection_id: str) -> str | None:
    recent = rt.store.query(
        SyncResult.container,
        partition_key=tenant_id,
        filters=[Filter("connectionId", "=", connection_id)],
        order_by=[("finishedAt", True)],
        limit=RECENT_RESULTS,
    )
    return next((r["finishedAt"] for r in recent if not r.get("errors")), None)


def sync_figures(rt: Runtime, tenant_id: str, *, since: datetime) -> dict[str, Any]:
    """Totals and latency (ms, p50/p95/p99 per message) per connection and direction."""
    results = rt.store.query(
        SyncResult.container,
        partition_key=tenant_id,
        filters=[Filter("finishedAt", ">=", to_iso(since))],
    )
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTS, 0))
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    for result in results:
        key = (result["connectionId"], result["direction"])
        for name in _COUNTS:
            totals[key][name] += int(result.get(name, 0))
        totals[key]["failed"] = totals[key].get("failed", 0) + len(result.get("errors", []))
        totals[key]["messages"] = totals[key].get("messages", 0) + 1
        durations[key].append(float(result["durationMs"]))
    figures: dict[str, Any] = defaultdict(dict)
    for (connection_id, direction), counts in totals.items():
        figures[connection_id][direction] = counts | {
            "latencyMs": _percentiles(durations[(connection_id, direction)])
        }
    return dict(figures)


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        only = values[0] if values else 0.0
        return {"p50": only, "p95": only, "p99": only}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}
