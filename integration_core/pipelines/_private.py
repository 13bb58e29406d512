"""Helpers the pipelines share that are not part of their API."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from integration_core.errors import NotFoundError, PermanentError
from integration_core.models import Document, Entity
from integration_core.storage import DocumentStore, Filter
from integration_core.sync import Side
from integration_core.sync.tombstones import DELETED_FIELD

__all__ = ["oldest_first", "hub_side", "named"]

D = TypeVar("D", bound=Document)


def oldest_first(
    store: DocumentStore, model: type[D], tenant_id: str, *, status: StrEnum | None
) -> list[D]:
    """A tenant's documents of `model` (with that status, unless None), oldest first."""
    filters = [Filter("status", "=", status.value)] if status is not None else []
    documents = store.query(
        model.container, partition_key=tenant_id, filters=filters, order_by=[("createdAt", False)]
    )
    return [model.from_document(document) for document in documents]


def named(store: DocumentStore, model: type[D], tenant_id: str, id: str) -> D:
    """The document a message names by id; one that does not exist never will, so a
    message naming it can never succeed (`PermanentError`, not a retry).
    """
    try:
        return model.from_document(store.get(model.container, tenant_id, id))
    except NotFoundError as err:
        raise PermanentError(
            f"{model.__name__} {id!r} does not exist in tenant {tenant_id!r}"
        ) from err


def hub_side(entity: Entity) -> Side:
    """The hub's side of a resolve: the entity's values with each field's time and source,
    and, once it was deleted, who deleted it and when as the synthetic DELETED_FIELD.
    """
    deleted_at = {DELETED_FIELD: entity.deleted_at} if entity.deleted_at else {}
    deleted_by = {DELETED_FIELD: entity.deleted_by} if entity.deleted_by else {}
    return Side(
        system="hub",
        values=entity.values,
        modified_at=entity.modified_at,
        field_modified_at={**entity.field_modified_at, **deleted_at},
        field_sources={**entity.sources, **deleted_by},
    )
