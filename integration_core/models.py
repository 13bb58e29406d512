"""Domain models. Each stored model is one document in one container (see DESIGN.md).

Documents are camelCase JSON (the Cosmos convention) with `id` and `tenantId`; Python code
uses the snake_case attribute names. Times serialize through `clock.to_iso` so that string
comparisons in queries are time comparisons.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    model_validator,
)
from pydantic.alias_generators import to_camel

from integration_core.clock import to_iso, utcnow
from integration_core.observability.telemetry import current_traceparent
from integration_core.sync.tombstones import DeleteRule

__all__ = [
    "CONFLICT_OUTCOMES",
    "UtcDatetime",
    "Document",
    "ConnectionStatus",
    "Connection",
    "SyncMode",
    "SyncTask",
    "SyncResult",
    "RunTrigger",
    "Trigger",
    "Entity",
    "Link",
    "ConflictStatus",
    "Conflict",
    "DuplicateStatus",
    "DuplicateCandidate",
    "MessageKind",
    "SyncMessage",
    "PushItem",
    "Change",
    "deterministic_id",
]


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: Lockstep times are timezone-aware UTC")
    return value


UtcDatetime = Annotated[
    datetime,
    AfterValidator(_require_aware),
    PlainSerializer(to_iso, return_type=str, when_used="json"),
]


def deterministic_id(*parts: str) -> str:
    """A stable id from its parts, so the same logical thing always gets the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return digest[:32]


class Document(BaseModel):
    """Base of every stored model: camelCase on the wire, partitioned by tenant."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    container: ClassVar[str]

    id: str
    tenant_id: str

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Self:
        return cls.model_validate(document)


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    MISCONFIGURED = "misconfigured"  # its URL or TLS material cannot work; syncs stop
    DISABLED = "disabled"


class Connection(Document):
    """One tenant's account in one system (a HubSpot portal, a sandbox, ...)."""

    container: ClassVar[str] = "integrations"

    system: str
    display_name: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    credential_id: str | None = None
    status: ConnectionStatus = ConnectionStatus.ACTIVE
    # Sync tasks paused because the credential needs re-authorization; resumed after it.
    paused_task_ids: list[str] = Field(default_factory=list)
    created_at: UtcDatetime = Field(default_factory=utcnow)


class SyncMode(StrEnum):
    """Which way records of the task's type travel between the hub and its connection.

    `pull`: the hub reads from the connection and never writes to it; `push`: the hub writes
    to it (when it is linked or listed as a target) and never reads from it; `bidirectional`:
    both.
    """

    PULL = "pull"
    PUSH = "push"
    BIDIRECTIONAL = "bidirectional"

    @property
    def reads(self) -> bool:
        return self is not SyncMode.PUSH

    @property
    def writes(self) -> bool:
        return self is not SyncMode.PULL


class SyncTask(Document):
    """Pull one entity type from a source connection on a schedule; push to the targets."""

    container: ClassVar[str] = "sync-tasks"

    connection_id: str
    entity_type: str
    target_connection_ids: list[str] = Field(default_factory=list)
    interval_seconds: int = Field(default=300, gt=0)
    mode: SyncMode = SyncMode.BIDIRECTIONAL
    priority: int = 0
    enabled: bool = True
    next_due_at: UtcDatetime = Field(default_factory=utcnow)
    cursor: str | None = None
    cursor_saved_at: UtcDatetime | None = None  # when a pull last moved the cursor
    policy: dict[str, Any] = Field(default_factory=dict)
    delete_rule: DeleteRule = DeleteRule.PROPAGATE
    matching: dict[str, Any] = Field(default_factory=dict)
    # Overrides of the adapter's default mapping (integration_core.mapping.MappingOverride).
    mapping: dict[str, Any] = Field(default_factory=dict)
    last_enqueued_at: UtcDatetime | None = None


class Trigger(StrEnum):
    """What started a run; set by whoever enqueues its first message, carried by every
    follow-up message (more pages, a postponed copy, a webhook ping's pull)."""

    SCHEDULE = "schedule"  # the scheduler's timer
    WEBHOOK = "webhook"  # a provider's delivery
    MANUAL = "manual"  # run now, from the admin API, the page or the CLI
    REPLAY = "replay"  # a delivery replayed from the webhook inbox
    RESYNC = "resync"  # read everything from the start again
    RELEASE = "release"  # held mass deletes released by an admin


_TRIGGERS = frozenset(Trigger)


def _known_trigger(value: object) -> object:
    """A trigger this version does not know (written by a newer one) reads as unknown
    (None): the message is still processed and the result still listed."""
    return None if isinstance(value, str) and value not in _TRIGGERS else value


# What started a run, if known: None for results and messages from before it was carried.
RunTrigger = Annotated[Trigger | None, BeforeValidator(_known_trigger)]


# What becomes of a conflicting field; SyncResult counts each as `conflicts_<outcome>`.
CONFLICT_OUTCOMES = ("detected", "resolved", "pending")


class SyncResult(Document):
    """What one message's processing did; its id is the message id (idempotency marker)."""

    container: ClassVar[str] = "sync-results"
    default_ttl_seconds: ClassVar[int] = 30 * 24 * 3600

    task_id: str | None = None
    connection_id: str
    direction: str
    correlation_id: str
    trigger: RunTrigger = None  # a push's: that of the run or decision that made it
    started_at: UtcDatetime
    finished_at: UtcDatetime
    duration_ms: float
    records_read: int = 0
    created: int = 0
    linked: int = 0
    updated: int = 0
    unchanged: int = 0
    pushed: int = 0
    deleted: int = 0  # hub entities deleted or archived (inbound), records deleted (outbound)
    failed: int = 0  # records that could not be applied (dead-lettered)
    conflicts_detected: int = 0  # fields changed on both sides to different values
    conflicts_resolved: int = 0  # ... of which the task's policy decided at once
    conflicts_pending: int = 0  # ... and the rest, left for an admin to decide
    missed_webhooks: int = 0  # changes a pull found that no webhook had announced
    errors: list[str] = Field(default_factory=list)
    # Milliseconds per stage (fetch, match, resolve, store, push) within this message.
    stage_ms: dict[str, float] = Field(default_factory=dict)
    # New records' match verdicts (linked, review, new): the admin API's dedup match rate.
    dedup: dict[str, int] = Field(default_factory=dict)
    # Budgets taken from the rate limiter: allowed, denied, and decided by its fallback.
    limiter: dict[str, int] = Field(default_factory=dict)
    ttl: int = default_ttl_seconds

    @model_validator(mode="before")
    @classmethod
    def _pending_from_old_shape(cls, data: Any) -> Any:
        """Results stored before `conflictsPending` kept it in a `conflictCounts` map."""
        if isinstance(data, dict) and "conflictCounts" in data:
            data = dict(data)
            data.setdefault("conflictsPending", data.pop("conflictCounts").get("pending", 0))
        return data

    @property
    def conflict_counts(self) -> dict[str, int]:
        """Conflicting fields per outcome: detected, resolved by the policy, pending."""
        return {outcome: getattr(self, f"conflicts_{outcome}") for outcome in CONFLICT_OUTCOMES}


class Entity(Document):
    """The hub's canonical record.

    `sources` and `field_modified_at` say which system set each field and when; a deleted
    entity is a tombstone (kept so that late updates can be judged against the delete),
    an archived one is kept but no longer synced.
    """

    container: ClassVar[str] = "entities"

    entity_type: str
    values: dict[str, Any] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)
    field_modified_at: dict[str, UtcDatetime] = Field(default_factory=dict)
    modified_at: UtcDatetime = Field(default_factory=utcnow)
    deleted: bool = False
    archived: bool = False
    deleted_by: str | None = None
    deleted_at: UtcDatetime | None = None
    blocking_keys: list[str] = Field(default_factory=list)
    held_for_review: bool = False
    merged_into: str | None = None


class Link(Document):
    """External id in one connection <-> hub entity, with what was last synced there.

    `created_by_push`: the record exists because a push created it (not a user). `withdrawn`:
    that copy turned out to duplicate the system's own record of the person, and is being
    deleted there (see pipelines/links.py).
    """

    container: ClassVar[str] = "links"

    connection_id: str
    external_id: str
    entity_id: str
    entity_type: str
    base: dict[str, Any] = Field(default_factory=dict)
    external_version: str | None = None
    applied_modified_at: UtcDatetime | None = None
    written_hash: str | None = None
    last_message_id: str | None = None
    created_by_push: bool = False
    withdrawn: bool = False

    @staticmethod
    def make_id(connection_id: str, external_id: str) -> str:
        return deterministic_id("link", connection_id, external_id)


class ConflictStatus(StrEnum):
    PENDING = "pending"
    DECIDING = "deciding"  # claimed by a decision whose effects are being applied
    DECIDED = "decided"
    RESOLVED = "resolved"  # decided at once by the task's policy: kept as history


class Conflict(Document):
    """A field changed in the hub and in one system to different values.

    Values are stored as {"present": bool, "value": ...} so that "absent" and None stay
    distinct. Under the `manual` policy it waits for a decision, which applies the winner
    to the hub and propagates it; any other policy decided it at once (`resolved`, with
    the winner and the rule that chose it), and the document expires after a while.
    """

    container: ClassVar[str] = "conflicts"
    resolved_ttl_seconds: ClassVar[int] = 30 * 24 * 3600

    entity_id: str
    entity_type: str
    connection_id: str
    field: str
    base: dict[str, Any]
    hub: dict[str, Any]
    incoming: dict[str, Any]
    incoming_modified_at: UtcDatetime
    status: ConflictStatus = ConflictStatus.PENDING
    policy: str | None = None  # the task's strategy (None: stored before it was recorded)
    rule: str | None = None  # what decided a resolved one ("later modification", ...)
    winner: str | None = None
    decided_by: str | None = None
    decided_at: UtcDatetime | None = None
    created_at: UtcDatetime = Field(default_factory=utcnow)
    ttl: int = -1  # never expires; resolved ones: `resolved_ttl_seconds`


class DuplicateStatus(StrEnum):
    PENDING = "pending"
    CONFIRMING = "confirming"  # claimed by a decision whose effects are being applied
    REJECTING = "rejecting"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class DuplicateCandidate(Document):
    """A new entity that may be the same as an existing one, held until an admin decides.

    The id is that of the pair, so a decision is remembered: a rejected pair is never
    proposed again.
    """

    container: ClassVar[str] = "duplicate-candidates"

    entity_id: str
    candidate_entity_id: str
    entity_type: str
    connection_id: str
    external_id: str
    score: float
    rule: str
    explanation: str
    target_connection_ids: list[str] = Field(default_factory=list)
    policy: dict[str, Any] = Field(default_factory=dict)
    status: DuplicateStatus = DuplicateStatus.PENDING
    decided_by: str | None = None
    decided_at: UtcDatetime | None = None
    created_at: UtcDatetime = Field(default_factory=utcnow)

    @staticmethod
    def make_id(entity_id: str, other_entity_id: str) -> str:
        return deterministic_id("duplicate", *sorted((entity_id, other_entity_id)))


class MessageKind(StrEnum):
    PULL = "pull"
    PUSH = "push"
    WEBHOOK = "webhook"


class SyncMessage(BaseModel):
    """The envelope on every queue. `message_id` is deterministic: redelivery is idempotent."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    message_id: str
    tenant_id: str
    connection_id: str
    kind: MessageKind
    correlation_id: str
    # What started the run this message belongs to (a push: the run or the admin's
    # decision that made it).
    trigger: RunTrigger = None
    attempt: int = 0
    payload: dict[str, Any] = Field(default_factory=dict)
    # W3C trace context of the span that made the message: one trace spans both queues.
    traceparent: str | None = Field(default_factory=current_traceparent)
    # When rate limits first postponed this work (carried by each postponed copy).
    throttled_since: UtcDatetime | None = None

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    @classmethod
    def from_json(cls, body: str | bytes) -> SyncMessage:
        return cls.model_validate_json(body)


class PushItem(BaseModel):
    """One push in an outbound message's `pushes` (several for one target: a batch).

    `push_id` is the push's own deterministic id, under which its result is stored: a
    redelivered batch skips the pushes that already landed. `withdraw` names a copy we
    made in the target, to delete instead (links.py).
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    push_id: str = Field(min_length=1, max_length=200)
    entity_id: str = Field(min_length=1, max_length=200)
    entity_type: str | None = Field(default=None, max_length=50)
    generation: str = Field(default="", max_length=400)
    withdraw: str | None = Field(default=None, max_length=400)


@dataclass(slots=True)
class Change:
    """One record as a source system reports it: its id, version, time and fields.

    A plain slotted dataclass, not a pydantic model: adapters make one for every record they
    list, after checking each field themselves (that is their boundary), and a model's
    construction and its garbage-collector load were most of an adapter's own CPU per record
    (bench/adapters.py). What crosses a queue is checked on the way back in: `parse`.
    """

    external_id: str
    version: str
    modified_at: UtcDatetime
    values: dict[str, Any] = dataclass_field(default_factory=dict)
    deleted: bool = False

    @classmethod
    def parse(cls, raw: Any) -> Change:
        """A Change from untrusted JSON (a queued message's): every field checked, a naive
        time refused.

        Raises:
            pydantic.ValidationError: naming the field.
        """
        return _CHANGE.validate_python(raw)

    def to_json(self) -> dict[str, Any]:
        """The Change as JSON data (what `parse` reads back)."""
        result: dict[str, Any] = _CHANGE.dump_python(self, mode="json")
        return result


_CHANGE = TypeAdapter(Change)
