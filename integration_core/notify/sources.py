"""Events that raise and resolve alerts, wired where the events happen."""

from __future__ import annotations

import logging

from integration_core.credentials.events import CredentialEvent, CredentialEventKind
from integration_core.errors import LockstepError
from integration_core.models import SyncMessage
from integration_core.notify.incidents import raise_alert, resolve
from integration_core.notify.messages import Alert, AlertKind
from integration_core.storage import DocumentStore

__all__ = ["FAILING_AFTER", "BreakerAlerts", "CredentialAlerts", "sync_failed", "sync_succeeded"]

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
