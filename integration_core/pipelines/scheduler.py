"""SyncScheduler: turn due sync tasks into one pull message each.

A task due at T gets the message id hash(task, T), so a scheduler tick that runs twice,
or two instances that race, enqueue the same message id (consumers drop the duplicate).
The next due time is advanced only after the enqueue succeeded, and with the task's etag,
so a crash between the two re-sends the same message instead of losing the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from integration_core.clock import to_iso, utcnow
from integration_core.errors import PreconditionFailedError
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import (
    Connection,
    ConnectionStatus,
    MessageKind,
    SyncMessage,
    SyncTask,
    Trigger,
    deterministic_id,
)
from integration_core.observability import log_context
from integration_core.observability.telemetry import span
from integration_core.pipelines.backlog import sample_backlogs
from integration_core.runtime import Runtime
from integration_core.storage import ETAG, Filter
from integration_core.storage.concurrency import get_or_none

__all__ = ["SchedulerReport", "run_scheduler", "pull_message", "next_due_after"]

log = logging.getLogger(__name__)


@dataclass
class SchedulerReport:
    enqueued: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def pull_message(task: SyncTask, due_at: datetime, *, trigger: Trigger) -> SyncMessage:
    message_id = deterministic_id("pull", task.tenant_id, task.id, to_iso(due_at))
    return SyncMessage(
        message_id=message_id,
        tenant_id=task.tenant_id,
        connection_id=task.connection_id,
        kind=MessageKind.PULL,
        correlation_id=message_id,
        trigger=trigger,
        payload={"task_id": task.id, "due_at": to_iso(due_at)},
    )


def next_due_after(task: SyncTask, now: datetime) -> datetime:
    """Keep the task's cadence, skipping runs missed while the app was down."""
    interval = timedelta(seconds=task.interval_seconds)
    missed = max(0, int((now - task.next_due_at) / interval))
    return task.next_due_at + interval * (missed + 1)


def run_scheduler(rt: Runtime, *, now: datetime | None = None) -> SchedulerReport:
    """Enqueue every due, enabled task that reads (not push-only) and whose connection is
    active; highest priority first.

    Each tick also samples the queues' backlog (the queue depth and age metrics)."""
    now = now or utcnow()
    sample_backlogs(rt)
    report = SchedulerReport()
    documents = rt.store.query(
        SyncTask.container,
        filters=[Filter("enabled", "=", True), Filter("nextDueAt", "<=", to_iso(now))],
        order_by=[("priority", True)],
        limit=rt.settings.max_tasks_per_tick,
    )
    documents.sort(key=lambda d: (-int(d.get("priority", 0)), d["nextDueAt"]))
    statuses: dict[tuple[str, str], ConnectionStatus | None] = {}
    for document in documents:
        task = SyncTask.from_document(document)
        if not task.mode.reads:
            report.skipped[task.id] = f"task {task.id} is push-only: nothing is read"
            continue
        key = (task.tenant_id, task.connection_id)
        if key not in statuses:
            found = get_or_none(rt.store, Connection.container, *key)
            statuses[key] = Connection.from_document(found).status if found else None
        status = statuses[key]
        if status is not ConnectionStatus.ACTIVE:
            report.skipped[task.id] = f"connection {task.connection_id} is {status or 'missing'}"
            continue
        with span("lockstep.schedule", tenant=task.tenant_id, task=task.id):
            message = pull_message(task, task.next_due_at, trigger=Trigger.SCHEDULE)
            with log_context(correlation_id=message.correlation_id, tenant_id=task.tenant_id):
                _enqueue(rt, task, document[ETAG], message, now)
        report.enqueued.append(message.message_id)
    return report


def _enqueue(rt: Runtime, task: SyncTask, etag: str, message: SyncMessage, now: datetime) -> None:
    rt.queue.send(INBOUND_QUEUE, message)
    advanced = task.model_copy(
        update={"next_due_at": next_due_after(task, now), "last_enqueued_at": now}
    )
    try:
        rt.store.upsert(SyncTask.container, advanced.to_document(), if_match=etag)
    except PreconditionFailedError:
        log.info("task %s changed while scheduling; its message id dedupes any repeat", task.id)
    log.info("enqueued pull for task %s", task.id)
