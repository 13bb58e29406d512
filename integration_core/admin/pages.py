"""Paginated lists: a page of a tenant's documents in id order, and the token of the next.

The continuation token is the last id on the page; the next page starts after it. Ids are
unique and never change, so a page is stable while documents are added or removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from integration_core.models import Document
from integration_core.storage import DocumentStore, Filter

__all__ = ["MAX_PAGE_SIZE", "Page", "PageQuery", "paginate"]

MAX_PAGE_SIZE = 200
D = TypeVar("D", bound=Document)


class Page(BaseModel, Generic[D]):
    """One page of a list; `next` is the token for the following page, None on the last."""

    items: list[D] = Field(default_factory=list)
    next: str | None = None


class PageQuery(BaseModel):
    """`?limit=&after=` on a list route; other query parameters (the Functions `code`) pass."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    after: str | None = Field(default=None, min_length=1, max_length=255)


def paginate(
    store: DocumentStore,
    model: type[D],
    tenant_id: str,
    *,
    filters: Sequence[Filter] = (),
    after: str | None = None,
    limit: int = 50,
) -> Page[D]:
    """Up to `limit` (1..MAX_PAGE_SIZE) of the tenant's `model` documents after `after`."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be 1 to {MAX_PAGE_SIZE}")
    conditions = list(filters) + ([Filter("id", ">", after)] if after else [])
    documents = store.query(
        model.container,
        partition_key=tenant_id,
        filters=conditions,
        order_by=[("id", False)],
        limit=limit + 1,
    )
    items = [model.model_validate(d) for d in documents[:limit]]
    more = len(documents) > limit
    page: Page[D] = Page(items=items, next=documents[limit - 1]["id"] if more else None)
    return page
