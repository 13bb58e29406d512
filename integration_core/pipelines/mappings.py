"""The mapping a pipeline uses for a connection's records: the adapter's default mapping
with the overrides of that connection's sync task for the entity type, so reads from and
writes to one system always go through the same mapping."""

from __future__ import annotations

from integration_core.mapping import ObjectMapping
from integration_core.models import SyncTask
from integration_core.ports import IntegrationAdapter
from integration_core.storage import DocumentStore, Filter

__all__ = ["connection_mapping", "task_mapping"]


def task_mapping(adapter: IntegrationAdapter, task: SyncTask) -> ObjectMapping:
    """The task's mapping (MappingError, a PermanentError, when its overrides are bad)."""
    default = adapter.field_map(task.entity_type)
    return default.with_overrides(task.mapping) if task.mapping else default


def connection_mapping(
    store: DocumentStore, adapter: IntegrationAdapter, entity_type: str
) -> ObjectMapping:
    """The mapping for writes to `adapter`'s connection: that of its sync task for
    `entity_type` (the first by id, should there be several), else the default."""
    connection = adapter.connection
    tasks = store.query(
        SyncTask.container,
        partition_key=connection.tenant_id,
        filters=[
            Filter("connectionId", "=", connection.id),
            Filter("entityType", "=", entity_type),
        ],
    )
    if not tasks:
        return adapter.field_map(entity_type)
    first = min(tasks, key=lambda document: str(document["id"]))
    return task_mapping(adapter, SyncTask.from_document(first))
