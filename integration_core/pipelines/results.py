"""SyncResult bookkeeping shared by the workers: the tally, the idempotency check, the record.

A message's SyncResult is stored under the message id when its work is complete, so a
redelivered or duplicated message finds it and does nothing. While a pull runs, its tally
so far is kept under the same id in `sync-progress` (one write per page), so that the
admin API can show a sync that is running; the finished result replaces it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from integration_core.clock import to_iso, utcnow
from integration_core.errors import ConflictError, NotFoundError
from integration_core.models import MessageKind, SyncMessage, SyncResult
from integration_core.observability.metrics import record_sync_counts
from integration_core.storage import DocumentStore
from integration_core.storage.concurrency import get_or_none

__all__ = ["PROGRESS", "Tally", "already_done", "record_progress", "record_result"]

log = logging.getLogger(__name__)

PROGRESS = "sync-progress"


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
    failed: int = 0
    conflicts_detected: int = 0
    conflicts_resolved: int = 0
    missed_webhooks: int = 0
    errors: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        """The tally as SyncResult fields (all but the times)."""
        counts = asdict(self)
        del counts["started_at"]
        return counts


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
            "startedAt": to_iso(tally.started_at),
            "updatedAt": to_iso(now),
            "pages": pages,
            "counts": tally.counts(),
        },
    )


def record_result(
    store: DocumentStore,
    message: SyncMessage,
    tally: Tally,
    *,
    direction: str,
    task_id: str | None,
) -> SyncResult:
    finished = utcnow()
    result = SyncResult(
        id=message.message_id,
        tenant_id=message.tenant_id,
        task_id=task_id,
        connection_id=message.connection_id,
        direction=direction,
        correlation_id=message.correlation_id,
        started_at=tally.started_at,
        finished_at=finished,
        duration_ms=(finished - tally.started_at).total_seconds() * 1000,
        **tally.counts(),
    )
    record_sync_counts(
        message.connection_id,
        direction,
        {
            "read": result.records_read,
            "created": result.created,
            "linked": result.linked,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "pushed": result.pushed,
            "failed": len(result.errors),
        },
    )
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
