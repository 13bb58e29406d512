"""The DocumentStore port: a partitioned JSON document store with etag concurrency.

Every container is partitioned by `tenantId`. Each stored document comes back with an
`_etag`; passing it as `if_match` makes a write conditional, and losing that race raises
`PreconditionFailedError` (re-read, re-apply, retry). Backends: cosmos.py, sqlite.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["PARTITION_KEY", "ETAG", "WRITTEN_AT", "Filter", "Op", "DocumentStore", "CONTAINERS"]

PARTITION_KEY = "tenantId"
ETAG = "_etag"
# When the document was last written, in whole seconds since the epoch: set by every
# backend (Cosmos DB's own `_ts`), like the etag.
WRITTEN_AT = "_ts"

Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "array_contains_any"]

# Container name -> default TTL in seconds (None: documents live until deleted).
CONTAINERS: Mapping[str, int | None] = {
    "integrations": None,
    "sync-tasks": None,
    "sync-results": 30 * 24 * 3600,
    "sync-progress": 24 * 3600,
    "entities": None,
    "links": None,
    "conflicts": None,
    "duplicate-candidates": None,
    "dead-letters": None,
    "webhooks": None,
    "webhook-inbox": 30 * 24 * 3600,
    "webhook-audit": 30 * 24 * 3600,
    "credentials": None,
    "token-refresh": 90 * 24 * 3600,
    "api-keys": None,
    "admin-audit": 365 * 24 * 3600,
    "notification-destinations": None,
    "notification-incidents": 90 * 24 * 3600,
    "notification-outbox": 7 * 24 * 3600,
    "notification-preferences": None,
    "held-deletes": None,
    # OAuth connect flows in progress (integration_core/connect/states.py): 10 minutes.
    "oauth-states": 600,
}


@dataclass(frozen=True)
class Filter:
    """One condition on a top-level field.

    `in` takes a sequence and matches any; `array_contains_any` matches documents whose
    array field shares at least one element with the given sequence.
    """

    field: str
    op: Op
    value: Any


class DocumentStore(Protocol):
    def ping(self) -> None:
        """Raise if the backend cannot be reached."""

    def get(self, container: str, partition_key: str, id: str) -> dict[str, Any]:
        """The document, or `NotFoundError`."""

    def create(self, container: str, document: Mapping[str, Any]) -> dict[str, Any]:
        """Insert; `ConflictError` when the id already exists in that partition."""

    def upsert(
        self, container: str, document: Mapping[str, Any], *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Insert or replace. With `if_match`, replace only that exact version."""

    def delete(
        self, container: str, partition_key: str, id: str, *, if_match: str | None = None
    ) -> None:
        """Remove; `NotFoundError` when absent."""

    def query(
        self,
        container: str,
        *,
        partition_key: str | None = None,
        filters: Sequence[Filter] = (),
        order_by: Sequence[tuple[str, bool]] = (),
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Documents matching every filter; `order_by` is (field, descending) pairs.

        Without `partition_key` the query spans tenants (the scheduler's due-task scan).
        """
