"""Hub entities: read with per-field provenance and their links, and the admin edit.

An entity's links say where it lives: per system, its record's id there, when the link was
last written (the last sync that touched it) and whether the record is gone there (a
retired link). Intents of a push still creating the record are not links yet.

An admin edit is a change whose source is `admin`: the one kind the `system_priority`
strategy lets alter protected fields. It is written with the version read (etag), its
blocking keys recomputed as a decided conflict's are (so that matching finds the entity by
its new values), and then pushed to every system linked to the entity.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from integration_core.admin.audit import record_write
from integration_core.admin.requests import EntityEdit
from integration_core.clock import utcnow
from integration_core.errors import ConflictError
from integration_core.models import Connection, Entity, Link, UtcDatetime
from integration_core.pipelines.links import RETIRED, is_retired
from integration_core.pipelines.matching import blocking_keys
from integration_core.pipelines.pushes import push_everywhere
from integration_core.runtime import Runtime
from integration_core.storage import ETAG, WRITTEN_AT, Filter
from integration_core.sync.policy import ADMIN

__all__ = [
    "EntityLink",
    "EntityView",
    "FieldProvenance",
    "edit_entity",
    "entity_links",
    "entity_view",
    "get_entity",
]


class FieldProvenance(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    source: str | None = None
    modified_at: UtcDatetime | None = None


class EntityLink(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    system: str | None  # None: the connection is gone
    connection_id: str
    external_id: str
    last_synced_at: UtcDatetime | None
    retired: bool


class EntityView(Entity):
    """The entity, for each field which system last wrote it and when, and its links."""

    provenance: dict[str, FieldProvenance]
    links: list[EntityLink]


def entity_view(rt: Runtime, entity: Entity) -> dict[str, Any]:
    provenance = {
        name: FieldProvenance(
            source=entity.sources.get(name), modified_at=entity.field_modified_at.get(name)
        )
        for name in entity.values
    }
    links = entity_links(rt, entity.tenant_id, entity.id)
    view = entity.model_dump() | {"provenance": provenance, "links": links}
    return EntityView.model_validate(view).to_document()


def entity_links(rt: Runtime, tenant_id: str, entity_id: str) -> list[EntityLink]:
    """The entity's links in every system, live and retired, by connection."""
    found = rt.store.query(
        Link.container,
        partition_key=tenant_id,
        filters=[Filter("entityId", "in", [entity_id, RETIRED + entity_id])],
    )
    systems = {
        d["id"]: d["system"] for d in rt.store.query(Connection.container, partition_key=tenant_id)
    }
    links = []
    for document in found:
        link = Link.from_document(document)
        written = document.get(WRITTEN_AT)
        links.append(
            EntityLink(
                system=systems.get(link.connection_id),
                connection_id=link.connection_id,
                external_id=link.external_id,
                last_synced_at=datetime.fromtimestamp(written, UTC) if written else None,
                retired=is_retired(link),
            )
        )
    return sorted(links, key=lambda k: (k.connection_id, k.retired, k.external_id))


def get_entity(rt: Runtime, tenant_id: str, entity_id: str) -> Entity:
    return Entity.from_document(rt.store.get(Entity.container, tenant_id, entity_id))


def edit_entity(
    rt: Runtime, tenant_id: str, entity_id: str, request: EntityEdit, *, actor: str
) -> Entity:
    document = rt.store.get(Entity.container, tenant_id, entity_id)
    entity = Entity.from_document(document)
    if entity.deleted or entity.merged_into is not None:
        raise ConflictError(f"entity {entity_id!r} is deleted or merged; it cannot be edited")
    now = utcnow()
    removed = {name for name, value in request.values.items() if value is None}
    entity.values = {k: v for k, v in (entity.values | request.values).items() if k not in removed}
    entity.sources = entity.sources | dict.fromkeys(request.values, ADMIN)
    entity.field_modified_at = {
        k: v
        for k, v in (entity.field_modified_at | dict.fromkeys(request.values, now)).items()
        if k not in removed
    }
    entity.modified_at = now
    entity.blocking_keys = blocking_keys(entity.entity_type, entity.values)
    rt.store.upsert(Entity.container, entity.to_document(), if_match=document[ETAG])
    audit = record_write(
        rt.store, tenant_id, actor=actor, action="edit", resource="entity", resource_id=entity_id
    )
    push_everywhere(rt, entity, generation=f"admin:{audit.id}")
    return entity
