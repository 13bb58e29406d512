"""An outage sends one alert, then digests, then one "resolved" — not a thousand messages.

Each (tenant, kind, subject) is an incident document in `notification-incidents`, changed
under its etag so that every instance agrees on who sends what:
- `raise_alert` on a closed incident opens it and queues the alert; on an open one it only
  counts the occurrence;
- `send_digests` (the Notifier timer) queues one digest per open incident that counted new
  occurrences, at most once per digest interval;
- `resolve` closes an open incident and queues the resolution.
Messages are queued in `notification-outbox`, one per destination, and sent by
`integration_core.notify.delivery` off the sync path: raising an alert makes no HTTP call.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from integration_core.clock import from_iso, to_iso, utcnow
from integration_core.errors import ConflictError
from integration_core.models import deterministic_id
from integration_core.notify.destinations import destinations_of
from integration_core.notify.messages import Alert, AlertKind, Phase, render
from integration_core.storage import DocumentStore, Filter
from integration_core.storage.concurrency import get_or_none, update_document

__all__ = ["INCIDENTS", "OUTBOX", "open_incidents", "raise_alert", "resolve", "send_digests"]

log = logging.getLogger(__name__)
INCIDENTS = "notification-incidents"
OUTBOX = "notification-outbox"


def _incident_id(tenant_id: str, kind: AlertKind, subject_id: str) -> str:
    return deterministic_id(tenant_id, "incident", kind.value, subject_id)


def raise_alert(store: DocumentStore, alert: Alert, *, now: datetime | None = None) -> bool:
    """Record one occurrence; True when it opened an incident (and its alert is queued)."""
    now = now or utcnow()
    incident_id = _incident_id(alert.tenant_id, alert.kind, alert.subject_id)
    opened = _open(alert, incident_id, now)
    try:
        store.create(INCIDENTS, opened)
    except ConflictError:
        pass
    else:
        _queue(store, alert, Phase.ALERT, opened, dict(alert.counts))
        return True
    state: dict[str, Any] = {}

    def occur(document: dict[str, Any]) -> dict[str, Any]:
        if document["state"] == "open":
            state["opened"] = False
            totals = Counter(document.get("totals", {}))
            totals.update(alert.counts)
            return document | {
                "occurrences": document["occurrences"] + 1,
                "pending": document["pending"] + 1,
                "totals": dict(totals),
                "lastOccurredAt": to_iso(now),
            }
        state["opened"] = True
        return document | _open(alert, incident_id, now)

    document = update_document(store, INCIDENTS, alert.tenant_id, incident_id, occur)
    if state["opened"] and document is not None:
        _queue(store, alert, Phase.ALERT, document, dict(alert.counts))
    return bool(state["opened"])


def resolve(
    store: DocumentStore,
    tenant_id: str,
    kind: AlertKind,
    subject_id: str,
    *,
    now: datetime | None = None,
) -> bool:
    """Close the incident if it is open; True when it was (and its resolution is queued)."""
    incident_id = _incident_id(tenant_id, kind, subject_id)
    if get_or_none(store, INCIDENTS, tenant_id, incident_id) is None:
        return False
    state = {"closed": False}

    def close(document: dict[str, Any]) -> dict[str, Any] | None:
        state["closed"] = document["state"] == "open"
        if not state["closed"]:
            return None
        return document | {"state": "resolved", "resolvedAt": to_iso(now or utcnow())}

    document = update_document(store, INCIDENTS, tenant_id, incident_id, close)
    if state["closed"] and document is not None:
        alert = _alert_of(document)
        _queue(store, alert, Phase.RESOLVED, document, {"occurrences": document["occurrences"]})
    return state["closed"]


def open_incidents(store: DocumentStore, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's incidents open now, the latest opened first."""
    return store.query(
        INCIDENTS,
        partition_key=tenant_id,
        filters=[Filter("state", "=", "open")],
        order_by=[("openedAt", True)],
    )


def send_digests(store: DocumentStore, *, interval: timedelta, now: datetime | None = None) -> int:
    """Queue one digest per open incident with new occurrences, once per `interval`."""
    now = now or utcnow()
    due = store.query(
        INCIDENTS,
        filters=[
            Filter("state", "=", "open"),
            Filter("pending", ">", 0),
            Filter("lastSentAt", "<=", to_iso(now - interval)),
        ],
    )
    return sum(_digest(store, found, interval, now) for found in due)


def _digest(
    store: DocumentStore, found: Mapping[str, Any], interval: timedelta, now: datetime
) -> bool:
    taken: dict[str, int] = {}

    def take(document: dict[str, Any]) -> dict[str, Any] | None:
        taken.clear()
        last = from_iso(document["lastSentAt"])
        if document["state"] != "open" or document["pending"] == 0 or last > now - interval:
            return None  # another instance sent it, or it was resolved meanwhile
        taken["pending"] = document["pending"]
        return document | {"pending": 0, "lastSentAt": to_iso(now)}

    document = update_document(store, INCIDENTS, found["tenantId"], found["id"], take)
    if not taken or document is None:
        return False
    counts = {"occurrences": document["occurrences"], "since_last_message": taken["pending"]}
    _queue(store, _alert_of(document), Phase.DIGEST, document, counts)
    return True


def _open(alert: Alert, incident_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": incident_id,
        "tenantId": alert.tenant_id,
        "kind": alert.kind.value,
        "subjectId": alert.subject_id,
        "state": "open",
        "openedAt": to_iso(now),
        "lastSentAt": to_iso(now),
        "occurrences": 1,
        "pending": 0,
        # The alerts' counts summed over every occurrence (e.g. all the webhooks missed).
        "totals": dict(alert.counts),
        "lastOccurredAt": to_iso(now),
    }


def _alert_of(document: Mapping[str, Any]) -> Alert:
    return Alert(
        tenant_id=document["tenantId"],
        kind=AlertKind(document["kind"]),
        subject_id=document["subjectId"],
    )


def _queue(
    store: DocumentStore,
    alert: Alert,
    phase: Phase,
    incident: Mapping[str, Any],
    counts: dict[str, int],
) -> None:
    """One outbox message per destination; ids make a repeat of the same step harmless."""
    step = f"{incident['openedAt']}/{phase.value}/{incident['lastSentAt']}"
    for destination in destinations_of(store, alert.tenant_id):
        store.upsert(
            OUTBOX,
            {
                "id": deterministic_id(incident["id"], step, destination.id),
                "tenantId": alert.tenant_id,
                "destinationId": destination.id,
                "phase": phase.value,
                "payload": render(destination.kind, alert, phase, counts),
                "status": "pending",
                "attempts": 0,
                "nextAttemptAt": to_iso(utcnow()),
            },
        )
    log.info("%s %s for %s queued", alert.kind.value, phase.value, alert.subject_id)
