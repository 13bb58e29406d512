"""One connection at a glance, for the admin page: everything an operator checks first.

Read from what the store and the limiter keep, so any instance answers the same: the
connection's auth state and its credential's metadata (expiry, needs re-auth; never a
secret value), its breaker, its last successful sync, its webhooks over the last 24 hours
(deliveries per outcome from the `webhook-audit` rows of its registrations, and the
changes pulls found that no webhook announced, from its sync results), the budget its
rate limits have left (read, nothing charged), how long ago each of its tasks' cursors
last moved, and whether this deployment can connect it with OAuth.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from integration_core.admin.connections import InvalidRequestError, get_connection
from integration_core.admin.ratelimits import limit_status
from integration_core.clock import from_iso, to_iso, utcnow
from integration_core.connect.flow import oauth_unavailable
from integration_core.credentials import credential_id_of
from integration_core.credentials.records import CredentialRecord, CredentialStatus
from integration_core.models import Connection, ConnectionStatus, SyncResult, SyncTask, UtcDatetime
from integration_core.pipelines.connection_health import last_success
from integration_core.ratelimit import connection_key
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.storage.concurrency import get_or_none
from integration_core.webhooks.audit import AUDIT, Outcome
from integration_core.webhooks.registrations import WebhookRegistration

__all__ = [
    "WINDOW",
    "AuthState",
    "BreakerState",
    "BudgetLeft",
    "ConnectionOverview",
    "TaskCursor",
    "WebhookCounts",
    "connection_overview",
]

WINDOW = timedelta(hours=24)


class _View(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class AuthState(_View):
    """The credential's metadata: its type and expiry, never its value."""

    credential_type: str | None
    expires_at: UtcDatetime | None
    needs_reauth: bool
    last_refreshed_at: UtcDatetime | None


class BreakerState(_View):
    state: str
    failures: int


class WebhookCounts(_View):
    """Deliveries over the window per outcome; `missed`: changes a pull found that no
    delivery announced."""

    last_seen_at: UtcDatetime | None
    received: int
    accepted: int
    rejected: int
    duplicate: int
    missed: int


class BudgetLeft(_View):
    bucket: str
    remaining: int
    limit: int
    window_seconds: float
    reset_after_seconds: float


class TaskCursor(_View):
    task_id: str
    entity_type: str
    enabled: bool
    cursor_saved_at: UtcDatetime | None
    cursor_age_seconds: float | None


class ConnectionOverview(_View):
    id: str
    system: str
    display_name: str
    status: str
    paused: bool  # it has tasks and every one is paused
    auth: AuthState
    breaker: BreakerState
    last_success_at: UtcDatetime | None
    webhooks: WebhookCounts
    budgets: list[BudgetLeft] | None  # None: its rate limits cannot be read (bad config)
    tasks: list[TaskCursor]
    oauth_connect: str | None  # why the OAuth connect cannot start; None: it can


def connection_overview(
    rt: Runtime, tenant_id: str, connection_id: str, *, now: datetime | None = None
) -> ConnectionOverview:
    """Raises NotFoundError for an id that is not one of the tenant's connections."""
    now = now or utcnow()
    connection = get_connection(rt, tenant_id, connection_id)
    tasks = [
        SyncTask.from_document(d)
        for d in rt.store.query(
            SyncTask.container,
            partition_key=tenant_id,
            filters=[Filter("connectionId", "=", connection_id)],
        )
    ]
    breaker = rt.breaker.state(tenant_id, connection_id)
    return ConnectionOverview(
        id=connection.id,
        system=connection.system,
        display_name=connection.display_name,
        status=connection.status.value,
        paused=bool(tasks) and not any(t.enabled for t in tasks),
        auth=_auth(rt, connection),
        breaker=BreakerState(state=breaker.state, failures=breaker.failures),
        last_success_at=_parsed(last_success(rt, tenant_id, connection_id)),
        webhooks=_webhooks(rt, connection, since=now - WINDOW),
        budgets=_budgets(rt, connection),
        tasks=[_cursor(task, now) for task in sorted(tasks, key=lambda t: t.id)],
        oauth_connect=oauth_unavailable(rt, connection),
    )


def _auth(rt: Runtime, connection: Connection) -> AuthState:
    found = get_or_none(
        rt.store, CredentialRecord.container, connection.tenant_id, credential_id_of(connection)
    )
    record = CredentialRecord.from_document(found) if found else None
    return AuthState(
        credential_type=record.credential_type.value if record else None,
        expires_at=record.expires_at if record else None,
        needs_reauth=connection.status is ConnectionStatus.NEEDS_REAUTH
        or (record is not None and record.status is CredentialStatus.NEEDS_REAUTH),
        last_refreshed_at=record.last_refreshed_at if record else None,
    )


def _webhooks(rt: Runtime, connection: Connection, *, since: datetime) -> WebhookCounts:
    tenant_id = connection.tenant_id
    registrations = [
        d["id"]
        for d in rt.store.query(
            WebhookRegistration.container,
            partition_key=tenant_id,
            filters=[Filter("connectionId", "=", connection.id)],
        )
    ]
    outcomes: Counter[str] = Counter()
    last_seen: str | None = None
    if registrations:
        mine = Filter("registrationId", "in", registrations)
        rows = rt.store.query(
            AUDIT, partition_key=tenant_id, filters=[mine, Filter("at", ">=", to_iso(since))]
        )
        outcomes.update(row["outcome"] for row in rows)
        latest = rt.store.query(
            AUDIT, partition_key=tenant_id, filters=[mine], order_by=[("at", True)], limit=1
        )
        last_seen = latest[0]["at"] if latest else None
    results = rt.store.query(
        SyncResult.container,
        partition_key=tenant_id,
        filters=[
            Filter("connectionId", "=", connection.id),
            Filter("finishedAt", ">=", to_iso(since)),
        ],
    )
    return WebhookCounts(
        last_seen_at=_parsed(last_seen),
        received=sum(n for outcome, n in outcomes.items() if outcome != Outcome.HANDSHAKE),
        accepted=outcomes[Outcome.ACCEPTED],
        rejected=outcomes[Outcome.REFUSED],
        duplicate=outcomes[Outcome.DUPLICATE],
        missed=sum(int(r.get("missedWebhooks", 0)) for r in results),
    )


def _budgets(rt: Runtime, connection: Connection) -> list[BudgetLeft] | None:
    try:
        statuses = limit_status(rt, connection.tenant_id, connection.id)
    except InvalidRequestError:
        return None
    prefix = connection_key(connection.tenant_id, connection.id) + ":"
    return [
        BudgetLeft(
            bucket=s["key"].removeprefix(prefix),
            remaining=s["remaining"],
            limit=s["effective_limit"],
            window_seconds=s["window_seconds"],
            reset_after_seconds=s["reset_after"],
        )
        for s in statuses
    ]


def _cursor(task: SyncTask, now: datetime) -> TaskCursor:
    saved = task.cursor_saved_at
    return TaskCursor(
        task_id=task.id,
        entity_type=task.entity_type,
        enabled=task.enabled,
        cursor_saved_at=saved,
        cursor_age_seconds=round((now - saved).total_seconds(), 3) if saved else None,
    )


def _parsed(stamp: str | None) -> datetime | None:
    return from_iso(stamp) if stamp else None
