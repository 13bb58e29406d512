"""Hub entities: read with per-field provenance, and the admin edit.

An admin edit is a change whose source is `admin`: the one kind the `system_priority`
strategy lets alter protected fields. It is written with the version read (etag), its
blocking keys recomputed as a decided conflict's are (so that matching finds the entity by
its new values), and then pushed to every system linked to the entity.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from integration_core.admin.audit import record_write
from integration_core.admin.requests import EntityEdit
from integration_core.clock import utcnow
from integration_core.errors import ConflictError
from integration_core.models import Entity, UtcDatetime
from integration_core.pipelines.matching import blocking_keys
from integration_core.pipelines.pushes import push_everywhere
from integration_core.runtime import Runtime
from integration_core.storage import ETAG
from integration_core.sync.policy import ADMIN

__all__ = ["EntityView", "FieldProvenance", "edit_entity", "entity_view", "get_entity"]


class FieldProvenance(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    source: str | None = None
    modified_at: UtcDatetime | None = None


class EntityView(Entity):
    """The entity, and for each field which system last wrote it and when."""

    provenance: dict[str, FieldProvenance]


def entity_view(entity: Entity) -> dict[str, Any]:
    provenance = {
        name: FieldProvenance(
            source=entity.sources.get(name), modified_at=entity.field_modified_at.get(name)
        )
        for name in entity.values
    }
    return EntityView.model_validate(entity.model_dump() | {"provenance": provenance}).to_document()


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
