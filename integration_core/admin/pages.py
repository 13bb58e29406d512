"""Paginated lists: a page of a tenant's documents, and the token of the next.

`paginate` lists in id order; its token is the last id on the page, and the next page
starts after it. `newest_first` lists by a time field, newest first (a run timeline); its
token is the last document's time and id, so documents of the same time are neither
skipped nor repeated. Ids are unique and never change, so a page is stable while documents
are added or removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from integration_core.errors import InvalidIdError
from integration_core.models import Document
from integration_core.storage import DocumentStore, Filter

__all__ = ["MAX_PAGE_SIZE", "Page", "PageQuery", "newest_first", "paginate"]

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
    _check(limit)
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


def newest_first(
    store: DocumentStore,
    model: type[D],
    tenant_id: str,
    *,
    time_field: str,
    filters: Sequence[Filter] = (),
    after: str | None = None,
    limit: int = 50,
) -> Page[D]:
    """Up to `limit` of the tenant's `model` documents, newest `time_field` first, after
    the token `after` (`<time>|<id>` of the previous page's last document).

    Ordered by the one field (a single-property ORDER BY needs no composite index in
    Cosmos DB); documents of the token's own time are fetched apart and ordered by id.
    """
    _check(limit)
    same_time: list[dict[str, Any]] = []
    conditions = list(filters)
    if after:
        stamp, separator, last_id = after.partition(_SEPARATOR)
        if not separator or not stamp or not last_id:
            raise InvalidIdError("after must be the `next` token of the previous page")
        same_time = store.query(
            model.container,
            partition_key=tenant_id,
            filters=[*filters, Filter(time_field, "=", stamp), Filter("id", "<", last_id)],
        )
        same_time.sort(key=lambda d: d["id"], reverse=True)
        conditions.append(Filter(time_field, "<", stamp))
    older = store.query(
        model.container,
        partition_key=tenant_id,
        filters=conditions,
        order_by=[(time_field, True)],
        limit=limit + 1,
    )
    if len(older) > limit:
        # The limit may cut a group of equal times anywhere: take the oldest time's group
        # whole, so that the order by (time, id) below, which tokens rely on, is exact.
        boundary = older[-1][time_field]
        older = [d for d in older if d[time_field] != boundary] + store.query(
            model.container,
            partition_key=tenant_id,
            filters=[*conditions, Filter(time_field, "=", boundary)],
        )
    older.sort(key=lambda d: (d[time_field], d["id"]), reverse=True)
    documents = (same_time + older)[: limit + 1]
    items = [model.model_validate(d) for d in documents[:limit]]
    last = documents[limit - 1] if len(documents) > limit else None
    token = f"{last[time_field]}{_SEPARATOR}{last['id']}" if last is not None else None
    return Page(items=items, next=token)


_SEPARATOR = "|"


def _check(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be 1 to {MAX_PAGE_SIZE}")
