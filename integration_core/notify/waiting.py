"""Conflicts and duplicate candidates waiting too long for an admin: one incident per
tenant and kind (`decision_waiting`, subjects `conflicts` and `duplicates`).

The Notifier timer calls `alert_waiting_decisions`. Each run that still finds items older
than the tenant's `decision_wait_minutes` counts an occurrence (so the digest says it goes
on); a run that finds none resolves the incident.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from integration_core.clock import from_iso, to_iso, utcnow
from integration_core.models import Conflict, ConflictStatus, DuplicateCandidate, DuplicateStatus
from integration_core.notify.incidents import INCIDENTS, raise_alert, resolve
from integration_core.notify.messages import Alert, AlertKind
from integration_core.notify.preferences import DEFAULT_DECISION_WAIT_MINUTES, all_preferences
from integration_core.storage import DocumentStore, Filter

__all__ = ["WAITING", "alert_waiting_decisions"]

# subject -> (container, the status of an item nobody has started deciding)
WAITING: dict[str, tuple[str, str]] = {
    "conflicts": (Conflict.container, ConflictStatus.PENDING.value),
    "duplicates": (DuplicateCandidate.container, DuplicateStatus.PENDING.value),
}


def alert_waiting_decisions(store: DocumentStore, *, now: datetime | None = None) -> int:
    """Raise or resolve each tenant's `decision_waiting` incidents; returns how many are
    open after this run."""
    now = now or utcnow()
    chosen = {t: p.decision_wait_minutes for t, p in all_preferences(store).items()}
    limits = [m for m in chosen.values() if m is not None] + [DEFAULT_DECISION_WAIT_MINUTES]
    earliest = now - timedelta(minutes=min(limits))
    open_now = 0
    for subject, (container, status) in WAITING.items():
        late: Counter[str] = Counter()
        oldest: dict[str, datetime] = {}
        for item in store.query(
            container,
            filters=[Filter("status", "=", status), Filter("createdAt", "<=", to_iso(earliest))],
        ):
            tenant = item["tenantId"]
            minutes = chosen.get(tenant, DEFAULT_DECISION_WAIT_MINUTES)
            created = from_iso(item["createdAt"])
            if minutes is None or created > now - timedelta(minutes=minutes):
                continue
            late[tenant] += 1
            oldest[tenant] = min(oldest.get(tenant, created), created)
        for tenant, waiting in late.items():
            age = int((now - oldest[tenant]).total_seconds() // 60)
            counts = {"waiting": waiting, "oldest_minutes": age}
            alert = Alert(
                tenant_id=tenant, kind=AlertKind.DECISION_WAITING, subject_id=subject, counts=counts
            )
            raise_alert(store, alert, now=now)
        open_now += len(late)
        for incident in _open_incidents(store, subject):
            if incident["tenantId"] not in late:
                resolve(store, incident["tenantId"], AlertKind.DECISION_WAITING, subject, now=now)
    return open_now


def _open_incidents(store: DocumentStore, subject: str) -> list[dict[str, Any]]:
    return store.query(
        INCIDENTS,
        filters=[
            Filter("kind", "=", AlertKind.DECISION_WAITING.value),
            Filter("subjectId", "=", subject),
            Filter("state", "=", "open"),
        ],
    )
