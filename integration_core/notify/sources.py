"""Events that raise and resolve alerts, wired where the events happen."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from integration_core.credentials.events import CredentialEvent, CredentialEventKind
from integration_core.errors import LockstepError
from integration_core.models import SyncMessage
from integration_core.notify.incidents import raise_alert, resolve
from integration_core.notify.messages import Alert, AlertKind
from integration_core.observability.metrics import record_webhook
from integration_core.storage import DocumentStore
from integration_core.webhooks.registrations import RegistrationEvent

__all__ = [
    "FAILING_AFTER",
    "LIMITER_SUBJECT",
    "BreakerAlerts",
    "CredentialAlerts",
    "LimiterFallbackAlerts",
    "WebhookAlerts",
    "sync_failed",
    "sync_succeeded",
    "throttled",
    "unthrottled",
    "webhooks_missed",
]

log = logging.getLogger(__name__)
_RESOLVING = frozenset({CredentialEventKind.REAUTHORIZED, CredentialEventKind.STORED})
# A message failing this many deliveries in a row is a sync failing repeatedly.
FAILING_AFTER = 3


def _subject(message: SyncMessage) -> str:
    """The task a pull or webhook message runs, or the connection a push goes to."""
    task_id = message.payload.get("task_id")
    return task_id if isinstance(task_id, str) else message.connection_id


def sync_failed(store: DocumentStore, message: SyncMessage, *, dequeue_count: int) -> None:
    if dequeue_count < FAILING_AFTER:
        return
    alert = Alert(
        tenant_id=message.tenant_id,
        kind=AlertKind.SYNC_FAILING,
        subject_id=_subject(message),
        counts={"deliveries_failed": dequeue_count},
    )
    try:
        raise_alert(store, alert)
    except LockstepError as err:  # an alert lost is logged; the retry goes on
        log.warning("sync failure alert not recorded: %s", type(err).__name__)


def sync_succeeded(store: DocumentStore, message: SyncMessage) -> None:
    try:
        resolve(store, message.tenant_id, AlertKind.SYNC_FAILING, _subject(message))
    except LockstepError as err:
        log.warning("sync failure alert not resolved: %s", type(err).__name__)


class CredentialAlerts:
    """An event sink: a connection needing re-auth opens an alert; a working credential
    stored for it resolves the alert.
    """

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    def emit(self, event: CredentialEvent) -> None:
        try:
            if event.kind is CredentialEventKind.NEEDS_REAUTH:
                alert = Alert(
                    tenant_id=event.tenant_id,
                    kind=AlertKind.NEEDS_REAUTH,
                    subject_id=event.connection_id,
                )
                raise_alert(self._store, alert)
            elif event.kind in _RESOLVING:
                resolve(self._store, event.tenant_id, AlertKind.NEEDS_REAUTH, event.connection_id)
        except LockstepError as err:  # an alert lost is logged; the credential flow goes on
            log.warning("alert for %s not recorded: %s", event.kind.value, type(err).__name__)


class BreakerAlerts:
    """A circuit breaker's transition callback: an open circuit alerts, a closed one
    resolves the alert (a half-open probe changes nothing).
    """

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    def __call__(self, tenant_id: str, connection_id: str, state: str) -> None:
        try:
            if state == "open":
                alert = Alert(
                    tenant_id=tenant_id, kind=AlertKind.CIRCUIT_OPEN, subject_id=connection_id
                )
                raise_alert(self._store, alert)
            elif state == "closed":
                resolve(self._store, tenant_id, AlertKind.CIRCUIT_OPEN, connection_id)
        except LockstepError as err:  # an alert lost is logged; the sync goes on
            log.warning("breaker alert not recorded: %s", type(err).__name__)


class WebhookAlerts:
    """A webhook registration's event sink: `disabled` alerts; `recovered` or `enabled`
    (an admin re-activating it) resolves the alert; `missed_webhooks` (reconciliation found
    a day's misses reaching the threshold) alerts `webhooks_missed`.
    """

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    def __call__(self, event: RegistrationEvent) -> None:
        try:
            if event.kind == "disabled":
                alert = Alert(
                    tenant_id=event.tenant_id,
                    kind=AlertKind.WEBHOOK_DISABLED,
                    subject_id=event.registration_id,
                )
                raise_alert(self._store, alert)
            elif event.kind in ("recovered", "enabled"):
                resolve(
                    self._store, event.tenant_id, AlertKind.WEBHOOK_DISABLED, event.registration_id
                )
            elif event.kind == "missed_webhooks":
                missed = int(event.detail.get("missed", "1"))
                webhooks_missed(self._store, event.tenant_id, event.registration_id, missed=missed)
        except LockstepError as err:  # an alert lost is logged; intake goes on
            log.warning("webhook alert not recorded: %s", type(err).__name__)


def webhooks_missed(store: DocumentStore, tenant_id: str, subject_id: str, *, missed: int) -> None:
    """Reconciliation's hook: `missed` changes of `subject_id` (a registration or a
    connection) reached us only by the pull that reconciles its webhooks. Zero resolves
    the alert `webhooks_missed`; more opens it (or counts into its digest).
    """
    try:
        if missed > 0:
            record_webhook("missed", missed)
            alert = Alert(
                tenant_id=tenant_id,
                kind=AlertKind.WEBHOOKS_MISSED,
                subject_id=subject_id,
                counts={"missed": missed},
            )
            raise_alert(store, alert)
        else:
            resolve(store, tenant_id, AlertKind.WEBHOOKS_MISSED, subject_id)
    except LockstepError as err:  # an alert lost is logged; reconciliation goes on
        log.warning("missed-webhooks alert not recorded: %s", type(err).__name__)


def throttled(
    store: DocumentStore, message: SyncMessage, *, since: datetime, now: datetime, after: timedelta
) -> None:
    """A message postponed by rate limits since `since`: past `after`, the connection's
    limit has been exhausted for long (alert `rate_limit_exhausted`)."""
    if now - since < after:
        return
    alert = Alert(
        tenant_id=message.tenant_id,
        kind=AlertKind.RATE_LIMIT_EXHAUSTED,
        subject_id=message.connection_id,
        counts={
            "postponements": message.attempt + 1,
            "minutes": int((now - since).total_seconds() // 60),
        },
    )
    try:
        raise_alert(store, alert)
    except LockstepError as err:
        log.warning("rate limit alert not recorded: %s", type(err).__name__)


def unthrottled(store: DocumentStore, message: SyncMessage) -> None:
    """A once-postponed message did its work: its connection's budget is back."""
    try:
        resolve(store, message.tenant_id, AlertKind.RATE_LIMIT_EXHAUSTED, message.connection_id)
    except LockstepError as err:
        log.warning("rate limit alert not resolved: %s", type(err).__name__)


LIMITER_SUBJECT = "rate-limiter"


class LimiterFallbackAlerts:
    """Watches the limiter from the workers: while it answers from its local fallback, each
    tenant whose calls it decides is alerted (`limiter_fallback`); once it is shared again,
    resolved. Each state is written at most once per `every` per tenant and process, so a
    Redis outage costs a handful of writes, not one per call; the first healthy call of a
    process resolves what an instance that went away may have left open.
    """

    def __init__(self, store: DocumentStore, *, every: float = 60.0) -> None:
        self._store = store
        self._every = every
        self._reported: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, tenant_id: str, degraded: bool) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._reported.get(tenant_id)
            if (
                last is not None
                and last[0] == degraded
                and (not degraded or now - last[1] < self._every)
            ):
                return
            self._reported[tenant_id] = (degraded, now)
        try:
            if degraded:
                alert = Alert(
                    tenant_id=tenant_id, kind=AlertKind.LIMITER_FALLBACK, subject_id=LIMITER_SUBJECT
                )
                raise_alert(self._store, alert)
            else:
                resolve(self._store, tenant_id, AlertKind.LIMITER_FALLBACK, LIMITER_SUBJECT)
        except LockstepError as err:
            log.warning("limiter fallback alert not recorded: %s", type(err).__name__)
