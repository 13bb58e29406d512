"""Mass-delete guard: a run that would delete too much holds its deletes for an admin.

A run (one pull and its follow-ups, which share a correlation id) whose deletes would
exceed `MASS_DELETE_SHARE` of the system's records or of the hub's records of that type,
and at least `MASS_DELETE_MIN_RECORDS`, does not apply them: they go into a held-deletes
document in `held-deletes`, an alert is raised, and every later delete of the same run is
held with them. An admin releases them (they are applied as a webhook-kind inbound message,
which this guard lets through) or rejects them (nothing is deleted). Other changes of the
run apply as usual.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from integration_core.clock import to_iso, utcnow
from integration_core.errors import ConflictError, NotFoundError, PermanentError
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import (
    Change,
    Connection,
    Entity,
    Link,
    MessageKind,
    SyncMessage,
    SyncTask,
    Trigger,
    deterministic_id,
)
from integration_core.notify import Alert, AlertKind, raise_alert, resolve
from integration_core.observability.metrics import count
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.storage.concurrency import get_or_none, update_document

__all__ = [
    "HELD_DELETES",
    "RELEASED",
    "guard_deletes",
    "list_held_deletes",
    "reject_held_deletes",
    "release_held_deletes",
]

log = logging.getLogger(__name__)
HELD_DELETES = "held-deletes"
# A payload key: the changes are a released hold, applied without asking again.
RELEASED = "released_hold"


def guard_deletes(
    rt: Runtime,
    message: SyncMessage,
    task: SyncTask,
    connection: Connection,
    changes: Sequence[Change],
) -> list[Change]:
    """`changes` without the deletes this run must hold (those are stored and alerted)."""
    deletes = [c for c in changes if c.deleted]
    if not deletes or RELEASED in message.payload:
        return list(changes)
    tenant = message.tenant_id
    run_id = deterministic_id(tenant, connection.id, "run", message.correlation_id)
    run = get_or_none(rt.store, HELD_DELETES, tenant, run_id)
    passed = int(run["passed"]) if run else 0
    holding = run is not None and run["status"] != "counting"
    if not holding:
        limit = _limit(rt, tenant, connection.id, task.entity_type)
        holding = passed + len(deletes) > limit
    if run is None:
        run = _new_run(run_id, tenant, connection, task, message)
        with contextlib.suppress(ConflictError):  # the same run on another instance
            rt.store.create(HELD_DELETES, run)
    held = [c.to_json() for c in deletes] if holding else []

    def note(document: dict[str, Any]) -> dict[str, Any]:
        if not holding:
            return document | {"passed": int(document["passed"]) + len(deletes)}
        status = "held" if document["status"] == "counting" else document["status"]
        return document | {"status": status, "held": [*document["held"], *held]}

    update_document(rt.store, HELD_DELETES, tenant, run_id, note)
    if not holding:
        return list(changes)
    count("deletes_held", len(deletes), connection=connection.id)
    log.warning("mass delete: %d deletes held for an admin (hold %s)", len(deletes), run_id)
    raise_alert(
        rt.store,
        Alert(
            tenant_id=tenant,
            kind=AlertKind.MASS_DELETE_HELD,
            subject_id=run_id,
            counts={"deletes_held": len(deletes)},
        ),
    )
    return [c for c in changes if not c.deleted]


def list_held_deletes(rt: Runtime, tenant_id: str) -> list[dict[str, Any]]:
    """Holds waiting for a decision: ids and counts (the held changes stay stored)."""
    documents = rt.store.query(
        HELD_DELETES, partition_key=tenant_id, filters=[Filter("status", "=", "held")]
    )
    return [_summary(d) for d in documents]


def release_held_deletes(
    rt: Runtime, tenant_id: str, hold_id: str, *, decided_by: str
) -> dict[str, Any]:
    """Apply the held deletes (through the inbound worker) and close the hold."""
    document = _decide(rt, tenant_id, hold_id, "released", decided_by)
    rt.queue.send(
        INBOUND_QUEUE,
        SyncMessage(
            message_id=deterministic_id(hold_id, "released"),
            tenant_id=tenant_id,
            connection_id=document["connectionId"],
            kind=MessageKind.WEBHOOK,
            correlation_id=document["correlationId"],
            trigger=Trigger.RELEASE,
            payload={"task_id": document["taskId"], "changes": document["held"], RELEASED: hold_id},
        ),
    )
    return _summary(document)


def reject_held_deletes(
    rt: Runtime, tenant_id: str, hold_id: str, *, decided_by: str
) -> dict[str, Any]:
    """Drop the held deletes: the hub keeps those records."""
    return _summary(_decide(rt, tenant_id, hold_id, "rejected", decided_by))


def _decide(
    rt: Runtime, tenant_id: str, hold_id: str, status: str, decided_by: str
) -> dict[str, Any]:
    if not decided_by.strip():
        raise PermanentError("decided_by must name who decided")
    if get_or_none(rt.store, HELD_DELETES, tenant_id, hold_id) is None:
        raise NotFoundError(f"no held deletes {hold_id}")
    seen: dict[str, str] = {}

    def decide(document: dict[str, Any]) -> dict[str, Any]:
        seen["status"] = document["status"]
        if document["status"] != "held":
            raise ConflictError(f"held deletes {hold_id} are {document['status']}, not held")
        return document | {
            "status": status,
            "decidedBy": decided_by,
            "decidedAt": to_iso(utcnow()),
        }

    document = update_document(rt.store, HELD_DELETES, tenant_id, hold_id, decide)
    assert document is not None  # decide never leaves it unchanged
    resolve(rt.store, tenant_id, AlertKind.MASS_DELETE_HELD, hold_id)
    return document


def _limit(rt: Runtime, tenant: str, connection_id: str, entity_type: str) -> float:
    """Deletes a run may make: a share of the smaller of the system's and the hub's records."""
    links = rt.store.query(
        Link.container, partition_key=tenant, filters=[Filter("connectionId", "=", connection_id)]
    )
    entities = rt.store.query(
        Entity.container,
        partition_key=tenant,
        filters=[Filter("entityType", "=", entity_type), Filter("deleted", "=", False)],
    )
    records = min(len(links), len(entities))
    return max(rt.settings.mass_delete_min_records, rt.settings.mass_delete_share * records)


def _new_run(
    run_id: str, tenant: str, connection: Connection, task: SyncTask, message: SyncMessage
) -> dict[str, Any]:
    return {
        "id": run_id,
        "tenantId": tenant,
        "connectionId": connection.id,
        "taskId": task.id,
        "correlationId": message.correlation_id,
        "status": "counting",
        "passed": 0,
        "held": [],
        "createdAt": to_iso(utcnow()),
    }


def _summary(document: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "connectionId", "taskId", "correlationId", "status", "createdAt", "decidedBy")
    return {k: document.get(k) for k in keys} | {"held": len(document["held"])}
