"""Helpers the pipelines share that are not part of their API."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from integration_core.models import Document
from integration_core.storage import DocumentStore, Filter

__all__ = ["oldest_first"]

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
