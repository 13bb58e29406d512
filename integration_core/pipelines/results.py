"""SyncResult bookkeeping shared by the workers: the tally, the idempotency check, the record.

A message's SyncResult is stored under the message id when its work is complete, so a
redelivered or duplicated message finds it and does nothing. While a pull runs, its tally
so far is kept under the same id in `sync-progress` (one write per page), so that the
admin API can show a sync that is running; the finished result replaces it.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from integration_core.clock import to_iso, utcnow
from integration_core.errors import ConflictError, NotFoundError
from integration_core.models import CONFLICT_OUTCOMES, MessageKind, SyncMessage, SyncResult
from integration_core.observability.metrics import record_conflict_counts, record_sync_counts
from integration_core.storage import DocumentStore
from integration_core.storage.concurrency import get_or_none

__all__ = [
    "POSTPONED",
    "PROGRESS",
    "RECORD_FIGURES",
    "Tally",
    "already_done",
    "failures",
    "record_figures",
    "record_progress",
    "record_result",
    "result_of",
]

log = logging.getLogger(__name__)
PROGRESS = "sync-progress"
# How a result says its work was handed to a copy postponed by rate limits: a note, not
# a failure.
POSTPONED = "throttled: continues as "


# The record figures operators see (metrics, the admin API), each with the SyncResult field
# and Tally attribute that counts it; `failed` comes from the errors instead (`failures`).
RECORD_FIGURES = {
    "read": "records_read",
    "created": "created",
    "linked": "linked",
    "updated": "updated",
    "deleted": "deleted",
    "unchanged": "unchanged",
    "pushed": "pushed",
}


def failures(errors: list[str]) -> int:
    """The errors of a result that are failures (records dead-lettered, calls refused)."""
    return sum(not error.startswith(POSTPONED) for error in errors)


def record_figures(result: SyncResult) -> dict[str, int]:
    """A result's record figures under the names operators see."""
    figures = {name: int(getattr(result, field)) for name, field in RECORD_FIGURES.items()}
    return figures | {"failed": failures(result.errors)}


@dataclass
class Tally:
    started_at: datetime = field(default_factory=utcnow)
    records_read: int = 0
    created: int = 0
    linked: int = 0
    updated: int = 0
    unchanged: int = 0
    pushed: int = 0
    deleted: int = 0
    failed: int = 0  # records that could not be applied (dead-lettered)
    missed_webhooks: int = 0  # changes a pull found that no webhook announced (reconcile.py)
    errors: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    dedup: Counter[str] = field(default_factory=Counter)
    conflicts: Counter[str] = field(default_factory=Counter)  # detected, resolved, pending
    limiter: Counter[str] = field(default_factory=Counter)

    def absorb(self, other: Tally) -> None:
        """Add `other`'s counts, errors, stage times and budgets to this tally's."""
        for name in (*RECORD_FIGURES.values(), "failed", "missed_webhooks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)
        for stage, ms in other.stages.items():
            self.stages[stage] = self.stages.get(stage, 0.0) + ms
        self.dedup.update(other.dedup)
        self.conflicts.update(other.conflicts)
        self.limiter.update(other.limiter)

    def counts(self) -> dict[str, Any]:
        """The counts as SyncResult fields (what a running sync shows)."""
        return {
            **{field: getattr(self, field) for field in RECORD_FIGURES.values()},
            **{f"conflicts_{outcome}": self.conflicts[outcome] for outcome in CONFLICT_OUTCOMES},
            "failed": self.failed,
            "missed_webhooks": self.missed_webhooks,
            "errors": self.errors,
        }


def already_done(store: DocumentStore, message: SyncMessage) -> SyncResult | None:
    found = get_or_none(store, SyncResult.container, message.tenant_id, message.message_id)
    return SyncResult.from_document(found) if found else None


def record_progress(
    store: DocumentStore, message: SyncMessage, tally: Tally, *, task_id: str | None, pages: int
) -> None:
    """What a running sync has done so far, readable through the admin API."""
    now = utcnow()
    store.upsert(
        PROGRESS,
        {
            "id": message.message_id,
            "tenantId": message.tenant_id,
            "taskId": task_id,
            "connectionId": message.connection_id,
            "correlationId": message.correlation_id,
            "trigger": message.trigger,
            "startedAt": to_iso(tally.started_at),
            "updatedAt": to_iso(now),
            "pages": pages,
            "counts": tally.counts(),
        },
    )


def result_of(
    message: SyncMessage, tally: Tally, *, direction: str, task_id: str | None
) -> SyncResult:
    """What `message`'s processing did, as `tally` counted it, finished now."""
    finished = utcnow()
    return SyncResult(
        id=message.message_id,
        tenant_id=message.tenant_id,
        task_id=task_id,
        connection_id=message.connection_id,
        direction=direction,
        correlation_id=message.correlation_id,
        trigger=message.trigger,
        started_at=tally.started_at,
        finished_at=finished,
        duration_ms=(finished - tally.started_at).total_seconds() * 1000,
        **tally.counts(),
        stage_ms={stage: round(ms, 3) for stage, ms in tally.stages.items()},
        dedup=dict(tally.dedup),
        limiter=dict(tally.limiter),
    )


def record_result(
    store: DocumentStore,
    message: SyncMessage,
    tally: Tally,
    *,
    direction: str,
    task_id: str | None,
) -> SyncResult:
    result = result_of(message, tally, direction=direction, task_id=task_id)
    record_sync_counts(message.connection_id, direction, record_figures(result))
    record_conflict_counts(message.connection_id, result.conflict_counts)
    try:
        store.create(SyncResult.container, result.to_document())
    except ConflictError:
        log.info("message %s was completed concurrently by another worker", message.message_id)
    if message.kind is MessageKind.PULL:
        with contextlib.suppress(NotFoundError):  # a follow-up pull reported none
            store.delete(PROGRESS, message.tenant_id, message.message_id)
    log.info(
        "%s %s: read=%d created=%d linked=%d updated=%d unchanged=%d pushed=%d errors=%d",
        direction,
        message.message_id,
        result.records_read,
        result.created,
        result.linked,
        result.updated,
        result.unchanged,
        result.pushed,
        len(result.errors),
    )
    return result
