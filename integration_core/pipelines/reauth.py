"""What a credential that needs re-authorization does to its connection's syncs.

The credentials package only marks the credential and emits an event; this subscriber
acts on it. On `needs_reauth` the connection is marked `needs_reauth` (the scheduler and
the workers skip it) and its enabled sync tasks are paused, their ids kept on the
connection. On `reauthorized` the connection is active again, linked to the credential,
and exactly the tasks paused for it are resumed (a task an admin disabled stays off).
Every write is an etag-guarded `update_document`, so concurrent events lose nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from integration_core.credentials.events import CredentialEvent, CredentialEventKind
from integration_core.errors import NotFoundError
from integration_core.models import Connection, ConnectionStatus, SyncTask
from integration_core.storage import DocumentStore, Filter
from integration_core.storage.concurrency import get_or_none, update_document

__all__ = ["PauseSyncsOnReauth"]

log = logging.getLogger(__name__)


class PauseSyncsOnReauth:
    """An `EventSink` that pauses and resumes a connection's syncs."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    def emit(self, event: CredentialEvent) -> None:
        if event.kind is CredentialEventKind.NEEDS_REAUTH:
            self._pause(event)
        elif event.kind is CredentialEventKind.REAUTHORIZED:
            self._resume(event)
        elif event.kind is CredentialEventKind.STORED:
            self._retry_misconfigured(event)

    def _pause(self, event: CredentialEvent) -> None:
        tenant, connection_id = event.tenant_id, event.connection_id
        if self._connection(tenant, connection_id) is None:
            return
        enabled = self._store.query(
            SyncTask.container,
            partition_key=tenant,
            filters=[Filter("connectionId", "=", connection_id), Filter("enabled", "=", True)],
        )
        paused = [
            str(document["id"])
            for document in enabled
            if self._set_enabled(tenant, str(document["id"]), enabled=False)
        ]

        def mark(document: dict[str, Any]) -> dict[str, Any]:
            connection = Connection.from_document(document)
            return document | {
                "status": ConnectionStatus.NEEDS_REAUTH.value,
                "pausedTaskIds": sorted(set(connection.paused_task_ids) | set(paused)),
            }

        update_document(self._store, Connection.container, tenant, connection_id, mark)
        log.warning(
            "connection %s needs re-authorization; %d sync tasks paused",
            connection_id,
            len(paused),
            extra={"connection_id": connection_id},
        )

    def _resume(self, event: CredentialEvent) -> None:
        tenant, connection_id = event.tenant_id, event.connection_id
        connection = self._connection(tenant, connection_id)
        if connection is None:
            return
        resumed = connection.paused_task_ids
        for task_id in resumed:
            self._set_enabled(tenant, task_id, enabled=True)
        linked = (
            {"credentialId": event.credential_id}
            if event.detail.get("name", "default") == "default"
            else {}
        )

        def activate(document: dict[str, Any]) -> dict[str, Any]:
            still_paused = set(Connection.from_document(document).paused_task_ids)
            return (
                document
                | linked
                | {
                    "status": ConnectionStatus.ACTIVE.value,
                    "pausedTaskIds": sorted(still_paused - set(resumed)),
                }
            )

        update_document(self._store, Connection.container, tenant, connection_id, activate)
        log.info(
            "connection %s re-authorized; %d sync tasks resumed",
            connection_id,
            len(resumed),
            extra={"connection_id": connection_id},
        )

    def _retry_misconfigured(self, event: CredentialEvent) -> None:
        """A new credential may be the fix; if not, the next sync marks it again."""

        def activate(document: dict[str, Any]) -> dict[str, Any] | None:
            if document.get("status") != ConnectionStatus.MISCONFIGURED.value:
                return None
            return document | {"status": ConnectionStatus.ACTIVE.value}

        if self._connection(event.tenant_id, event.connection_id) is not None:
            update_document(
                self._store, Connection.container, event.tenant_id, event.connection_id, activate
            )

    def _connection(self, tenant_id: str, connection_id: str) -> Connection | None:
        found = get_or_none(self._store, Connection.container, tenant_id, connection_id)
        if found is None:
            log.info("no connection document %s to update", connection_id)
            return None
        return Connection.from_document(found)

    def _set_enabled(self, tenant_id: str, task_id: str, *, enabled: bool) -> bool:
        """Whether this call changed the task (False: it was already so, or is gone)."""
        changed = False

        def flip(document: dict[str, Any]) -> dict[str, Any] | None:
            nonlocal changed
            changed = bool(document.get("enabled")) is not enabled
            return document | {"enabled": enabled} if changed else None

        try:
            update_document(self._store, SyncTask.container, tenant_id, task_id, flip)
        except NotFoundError:
            return False
        return changed
