"""Sync task modes in the pipelines: which connections the hub reads from and writes to.

A task's `mode` (models.SyncMode) speaks for its connection and entity type. `pull`: the
hub never writes records of that type there, whichever task lists the connection as a
target or whatever record is linked there (pushes to it are not sent, and one already
queued is dropped by the outbound worker). `push`: nothing of that type is read from it
(the scheduler skips the task, run-now and resync refuse it, webhook deliveries leave it
out); it is written to like any linked or targeted connection.
"""

from __future__ import annotations

from integration_core.models import SyncMode, SyncTask
from integration_core.storage import DocumentStore, Filter

__all__ = ["pull_only_connections", "takes_pushes"]


def pull_only_connections(store: DocumentStore, tenant_id: str, entity_type: str) -> frozenset[str]:
    """The connections the hub must not write `entity_type` records to."""
    documents = store.query(
        SyncTask.container,
        partition_key=tenant_id,
        filters=[Filter("entityType", "=", entity_type), Filter("mode", "=", SyncMode.PULL.value)],
    )
    return frozenset(str(document["connectionId"]) for document in documents)


def takes_pushes(
    store: DocumentStore, tenant_id: str, connection_id: str, entity_type: str
) -> bool:
    """Whether the hub may write `entity_type` records to `connection_id`."""
    return not store.query(
        SyncTask.container,
        partition_key=tenant_id,
        filters=[
            Filter("connectionId", "=", connection_id),
            Filter("entityType", "=", entity_type),
            Filter("mode", "=", SyncMode.PULL.value),
        ],
        limit=1,
    )
