"""InboundWorker's side of a webhook: the WEBHOOK message the receiver enqueued.

The message carries the verified delivery (headers, and the body inline or by its
claim-check name), so the worker reads no inbox entry. The connection's adapter parses it
into thin change notices (`parse_webhook`); each record they name is read by id, once per
delivery however many notices name it, and the records are folded into the hub through the
connection's sync task for their type, as a pull's page is. A notice older than what was
already applied for its record is dropped before any read; a record the provider no longer
has becomes a tombstone. A body the parser cannot read is a PermanentError: the message is
dead-lettered and the delivery stays in the inbox, replayable.

An adapter that needs its connection's config to type a notice (Notion: by the page's
database) routes them first (`RoutesNotices`). A `pull` notice names no record (a Google
channel ping): the task for its type is enqueued to pull now, once per delivery, as a run
started by the same trigger (`webhook`, or `replay` for a replayed delivery).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from integration_core.clock import to_iso, utcnow
from integration_core.errors import PermanentError, RetryableError
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import (
    Change,
    Connection,
    ConnectionStatus,
    Link,
    MessageKind,
    SyncMessage,
    SyncResult,
    SyncTask,
    deterministic_id,
)
from integration_core.pipelines._private import named
from integration_core.pipelines.misconfigured import marks_misconfigured
from integration_core.pipelines.results import POSTPONED, Tally, record_result
from integration_core.pipelines.throttle import reschedule, take_budget
from integration_core.ports import ChangeNotice, IntegrationAdapter, RoutesNotices, parse_webhook
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.storage.concurrency import get_or_none
from integration_core.webhooks.inbox import raw_body

__all__ = ["ApplyChanges", "WebhookDelivery", "is_delivery", "process_delivery", "read_delivery"]

log = logging.getLogger(__name__)

# Folds changes into the hub for one sync task: the inbound pipeline's page application.
ApplyChanges = Callable[
    [Runtime, SyncMessage, SyncTask, Connection, IntegrationAdapter, Sequence[Change], Tally],
    None,
]


@dataclass(frozen=True)
class WebhookDelivery:
    """A verified delivery as the provider sent it (secret-bearing headers left out)."""

    registration_id: str
    inbox_id: str
    provider: str
    headers: Mapping[str, str]
    body: bytes


def is_delivery(message: SyncMessage) -> bool:
    """Does this WEBHOOK message carry a delivery from the receiver (not ready changes)?"""
    return "inbox_id" in message.payload


def read_delivery(rt: Runtime, message: SyncMessage) -> WebhookDelivery:
    payload = message.payload
    try:
        return WebhookDelivery(
            registration_id=str(payload["registration_id"]),
            inbox_id=str(payload["inbox_id"]),
            provider=str(payload["provider"]),
            headers={str(k): str(v) for k, v in dict(payload.get("headers") or {}).items()},
            body=raw_body(rt.bodies, body=payload.get("body"), body_ref=payload.get("body_ref")),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise PermanentError(f"message {message.message_id} is not a webhook delivery") from err


def process_delivery(rt: Runtime, message: SyncMessage, *, apply: ApplyChanges) -> SyncResult:
    """Parse the delivery, read the records it names, and `apply` them per sync task."""
    delivery = read_delivery(rt, message)
    connection = named(rt.store, Connection, message.tenant_id, message.connection_id)
    tally = Tally()
    if connection.status is not ConnectionStatus.ACTIVE:
        tally.errors.append(
            f"connection {connection.id} is {connection.status}; delivery {delivery.inbox_id}"
            " stays in the webhook inbox (replay it once the connection is active)"
        )
        return record_result(rt.store, message, tally, direction="inbound", task_id=None)
    notices = parse_webhook(connection.system, headers=delivery.headers, body=delivery.body)
    tasks = _tasks_by_type(rt, connection)
    served: set[str] = set()  # the tasks the delivery's notices went to
    with (
        marks_misconfigured(rt.store, connection, tally),
        rt.connectors.adapter_for(connection) as adapter,
    ):
        if isinstance(adapter, RoutesNotices):
            notices = adapter.route_notices(notices)
        try:
            for entity_type, latest in _latest_by_type(notices).items():
                task = tasks.get(entity_type)
                if task is None:
                    tally.errors.append(
                        f"no sync task reads {entity_type} records from connection"
                        f" {connection.id}: {len(latest)} notices of delivery"
                        f" {delivery.inbox_id} left out"
                    )
                    continue
                served.add(task.id)
                reads = [n for n in latest if n.operation != "pull"]
                if len(reads) < len(latest):
                    _pull_now(rt, message, task)
                if reads:
                    changes = _read(rt, adapter, entity_type, reads, tally)
                    apply(rt, message, task, connection, adapter, changes, tally)
        except RetryableError as err:
            if err.retry_after is None:
                raise
            # Records applied so far stay applied; the rescheduled message drops them as
            # already applied and reads the rest.
            later = reschedule(rt, INBOUND_QUEUE, message, err)
            tally.errors.append(f"{POSTPONED}{later.message_id}")
    log.info(
        "webhook delivery applied",
        extra={"provider": delivery.provider, "inbox_id": delivery.inbox_id},
    )
    # A delivery for one task is a run of that task (its timeline shows it); one that
    # spans several types belongs to the connection only.
    task_id = next(iter(served)) if len(served) == 1 else None
    return record_result(rt.store, message, tally, direction="inbound", task_id=task_id)


def _pull_now(rt: Runtime, message: SyncMessage, task: SyncTask) -> None:
    """Enqueue the task's pull; its id comes from the delivery's message, so a redelivered
    message pulls once and a replay of the delivery (a new message) pulls again."""
    rt.queue.send(
        INBOUND_QUEUE,
        SyncMessage(
            message_id=deterministic_id("webhook-pull", message.message_id, task.id),
            tenant_id=task.tenant_id,
            connection_id=task.connection_id,
            kind=MessageKind.PULL,
            correlation_id=message.correlation_id,
            trigger=message.trigger,
            payload={"task_id": task.id, "due_at": to_iso(utcnow())},
        ),
    )
    log.info("webhook ping: pull of task %s enqueued", task.id)


def _tasks_by_type(rt: Runtime, connection: Connection) -> dict[str, SyncTask]:
    """The connection's enabled sync tasks that read (not push-only) by entity type (the
    first by id, if several)."""
    documents = rt.store.query(
        SyncTask.container,
        partition_key=connection.tenant_id,
        filters=[Filter("connectionId", "=", connection.id)],
    )
    tasks: dict[str, SyncTask] = {}
    for document in sorted(documents, key=lambda d: str(d["id"])):
        task = SyncTask.from_document(document)
        if task.enabled and task.mode.reads:
            tasks.setdefault(task.entity_type, task)
    return tasks


def _latest_by_type(notices: Sequence[ChangeNotice]) -> dict[str, list[ChangeNotice]]:
    """One notice per record (its latest; a provider sends one per changed property)."""
    latest: dict[tuple[str, str], ChangeNotice] = {}
    for notice in notices:
        key = (notice.object_type, notice.external_id)
        seen = latest.get(key)
        if seen is None or _when(notice) >= _when(seen):
            latest[key] = notice
    grouped: dict[str, list[ChangeNotice]] = {}
    for (entity_type, _), notice in latest.items():
        grouped.setdefault(entity_type, []).append(notice)
    return grouped


def _when(notice: ChangeNotice) -> datetime:
    return notice.occurred_at or datetime.min.replace(tzinfo=UTC)


def _read(
    rt: Runtime,
    adapter: IntegrationAdapter,
    entity_type: str,
    notices: Sequence[ChangeNotice],
    tally: Tally,
) -> list[Change]:
    """The records the notices name, as they are now; a notice older than what was
    already applied for its record is dropped unread."""
    connection = adapter.connection
    changes: list[Change] = []
    for notice in notices:
        link_id = Link.make_id(connection.id, notice.external_id)
        found = get_or_none(rt.store, Link.container, connection.tenant_id, link_id)
        applied = Link.from_document(found).applied_modified_at if found else None
        if notice.occurred_at and applied and notice.occurred_at < applied:
            tally.unchanged += 1
            continue
        take_budget(rt, adapter, tally=tally)
        change = adapter.read_record(entity_type, notice.external_id)
        changes.append(change if change is not None else _gone(notice))
    return changes


def _gone(notice: ChangeNotice) -> Change:
    """A record the provider no longer has: a tombstone as of the notice."""
    when = notice.occurred_at or utcnow()
    return Change(
        external_id=notice.external_id,
        version=deterministic_id("gone", notice.external_id, to_iso(when)),
        modified_at=when,
        deleted=True,
    )
