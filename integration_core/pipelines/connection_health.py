"""Per-connection health, for the admin API and the admin UI.

`connection_health` says, for each of a tenant's connections, its auth state, when a sync
through it last succeeded, and its circuit breaker. (Its sync figures, per connection and
direction, are in `integration_core.admin.metrics`.)
"""

from __future__ import annotations

from typing import Any

from integration_core.models import Connection, SyncResult
from integration_core.runtime import Runtime
from integration_core.storage import Filter

__all__ = ["connection_health", "last_success"]

RECENT_RESULTS = 50


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
                "lastSuccessAt": last_success(rt, tenant_id, connection.id),
                "breaker": {
                    "state": breaker.state,
                    "failures": breaker.failures,
                    "shared": breaker.shared,
                },
            }
        )
    return report


def last_success(rt: Runtime, tenant_id: str, connection_id: str) -> str | None:
    """When a sync through the connection last finished without an error (of its recent ones)."""
    recent = rt.store.query(
        SyncResult.container,
        partition_key=tenant_id,
        filters=[Filter("connectionId", "=", connection_id)],
        order_by=[("finishedAt", True)],
        limit=RECENT_RESULTS,
    )
    return next((r["finishedAt"] for r in recent if not r.get("errors")), None)
