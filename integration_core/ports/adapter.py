"""The contract the pipelines call on a provider adapter, kept small on purpose.

Adapters (the `adapters` package, or a third party's) implement it; the pipelines know
nothing else about a provider. The read cursor is opaque: the adapter serialises whatever
it needs to resume (time window, page token, watermark, sync token) into a string that the
pipeline stores on the sync task once the page is applied, and hands back on the next read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, Self, runtime_checkable

import httpx
from pydantic import BaseModel

from integration_core.errors import LockstepError
from integration_core.mapping import ObjectMapping
from integration_core.models import Change, Connection, UtcDatetime
from integration_core.ratelimit import Limit

__all__ = [
    "AdapterFactory",
    "BatchesWrites",
    "ChangeNotice",
    "ChangePage",
    "IntegrationAdapter",
    "RejectedRecord",
    "RoutesNotices",
    "WebhookSubscriber",
    "WriteRequest",
    "WriteResult",
]


@dataclass(frozen=True)
class RejectedRecord:
    """A record in a listing that could not be read; the rest of its page goes on."""

    external_id: str | None
    reason: str
    raw: Any = None


@dataclass(frozen=True)
class ChangePage:
    """One page of a listing.

    `changes` holds records and tombstones (`Change.deleted`), each field checked by the
    adapter (a Change does not check itself; a record that fails goes to `rejected`);
    `cursor` is where the next read resumes, to be stored only after this page is applied;
    `has_more`: more pages follow in this listing (False: the listing is done and `cursor`
    rests until next time).
    """

    changes: Sequence[Change]
    cursor: str
    has_more: bool
    rejected: Sequence[RejectedRecord] = field(default_factory=tuple)

    @property
    def records(self) -> list[Change]:
        return [c for c in self.changes if not c.deleted]

    @property
    def tombstones(self) -> list[Change]:
        return [c for c in self.changes if c.deleted]


@dataclass(frozen=True)
class WriteRequest:
    """One record of a batch write, with `write`'s arguments (external_id None: create)."""

    external_id: str | None
    values: Mapping[str, Any]
    expected_version: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class WriteResult:
    external_id: str
    version: str
    # True only when this call made the record. A create repeated with an idempotency key
    # the provider has seen answers with the record the first call made (created False):
    # it holds what that call sent, which may be older than what this one did.
    created: bool
    # When the provider says the record was last modified, if its answer tells: any report
    # of the record from before then is older than what this write left (links.py).
    modified_at: datetime | None = None

    @classmethod
    def of(cls, record: Change, *, created: bool) -> WriteResult:
        """The result of a write whose record was read (a create found by its key, or a
        record read back after the write): its id, version and modification time."""
        return cls(
            record.external_id, record.version, created=created, modified_at=record.modified_at
        )


class ChangeNotice(BaseModel):
    """What a webhook delivery says changed; `values` None means "read the record".

    `container`: the provider's collection the record is in (a Notion database), for an
    adapter that routes notices by its connection's config (`RoutesNotices`). Operation
    `pull`: the delivery names no record (a Google channel ping), so the connection's
    task for `object_type` pulls its changes now; `external_id` then names the resource
    the provider watched.
    """

    provider: str
    object_type: Literal["contact", "company", "task"]
    external_id: str
    operation: Literal["upsert", "delete", "pull"]
    occurred_at: UtcDatetime | None = None
    values: dict[str, Any] | None = None
    container: str | None = None


class IntegrationAdapter(Protocol):
    """One connection's view of one provider."""

    @property
    def connection(self) -> Connection: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def field_map(self, entity_type: str) -> ObjectMapping:
        """How this provider's records of `entity_type` map to canonical fields: its
        default mapping (`register_default_mappings`), which a sync task may override."""
        ...

    def rate_limits(self) -> list[Limit]:
        """This connection's provider budgets (keys `conn:{tenant id}/{connection id}:{bucket}`)."""
        ...

    def request_limits(self, method: str, path: str) -> list[Limit]:
        """Budgets only some requests spend (HubSpot's search), taken as each is sent."""
        ...

    def read_changes(self, entity_type: str, cursor: str | None, *, page_size: int) -> ChangePage:
        """The page after `cursor` (None: a first sync from the beginning)."""
        ...

    def read_record(self, entity_type: str, external_id: str) -> Change | None:
        """One record by id (None: it does not exist); thin webhook events need it."""
        ...

    def write(
        self,
        entity_type: str,
        external_id: str | None,
        values: Mapping[str, Any],
        *,
        expected_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        """Create (external_id None) or update a record, in the provider's field names.

        `expected_version`: refuse (PreconditionFailedError) if the record moved on.
        `idempotency_key`: a repeated create answers with the first one's record.
        """
        ...

    def write_batch(
        self, entity_type: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult | LockstepError]:
        """Several writes in as few calls as the provider allows; one outcome per request,
        in order: its result, or the error `write` would have raised for it alone (one bad
        record fails alone). An error that stops the connection (retryable, auth) is the
        outcome of its request and of every one not yet sent; nothing is raised.
        """
        ...

    def delete(
        self, entity_type: str, external_id: str, *, expected_version: str | None = None
    ) -> None:
        """Delete or archive a record (only that version, when `expected_version` is set)."""
        ...

    def health(self) -> None:
        """Raise if the provider cannot be reached with these credentials."""
        ...


@runtime_checkable
class BatchesWrites(Protocol):
    """An adapter whose `write_batch` writes several records per API call (one that does
    not has a batch limit of 1: each record is one call)."""

    batch_limit: int  # the most records `write_batch` sends in one call

    def batch_calls(self, entity_type: str, requests: Sequence[WriteRequest]) -> int:
        """The API calls `write_batch` makes for `requests`, at most: what the pipeline
        takes from the connection's budgets before calling it."""
        ...


@runtime_checkable
class RoutesNotices(Protocol):
    """An adapter whose webhook notices need its connection's config to be typed."""

    def route_notices(self, notices: Sequence[ChangeNotice]) -> list[ChangeNotice]:
        """The notices this connection syncs, each with its entity type."""
        ...


@runtime_checkable
class WebhookSubscriber(Protocol):
    """An adapter that can register webhook endpoints at its provider (optional: a provider
    without such an API is set up by hand). `webhook_provider` names the verifier its
    deliveries need; None when this provider has no subscription API."""

    @property
    def webhook_provider(self) -> str | None: ...

    def subscribe_webhook(self, *, url: str, secret: str, entity_types: Sequence[str]) -> str:
        """Create the subscription; its id at the provider."""
        ...

    def rotate_webhook_secret(self, subscription_id: str, secret: str) -> None: ...

    def unsubscribe_webhook(self, subscription_id: str) -> None:
        """Remove it (NotFoundError when the provider has no such subscription)."""
        ...


class AdapterFactory(Protocol):
    """An adapter class: validates a connection's config and builds the adapter."""

    def __call__(self, connection: Connection, *, client: httpx.Client) -> IntegrationAdapter: ...

    def validate_config(self, config: Mapping[str, Any]) -> BaseModel:
        """The connection's config as the adapter's pydantic model (ConfigurationError if not)."""
        ...

    def base_url(self, config: Mapping[str, Any], *, instance_url: str | None = None) -> str:
        """The API root a connection with this config talks to; `instance_url`: the API host
        its credential's token answer named (used by a provider whose answers name one)."""
        ...

    def parse_webhook(self, *, headers: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        """Change notices carried by a delivery whose signature was already verified (no
        connection needed). PermanentError when the body is not the provider's format."""
        ...
