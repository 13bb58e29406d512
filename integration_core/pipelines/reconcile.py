"""Missed-webhook detection: what a scheduled pull finds that no webhook announced.

Pulls keep running beside webhooks. A delivery's records are applied when it arrives, so a
later pull re-reads them as already applied; a change the pull finds new to the hub (not a
replay of what its link holds, not our own echo) came through no delivery. It counts as a
missed webhook for each registration of the connection that announces the task's entity
type, when it is:
- newer than the registration (changes from before it existed were never announced);
- older than the grace (`WEBHOOK_MISSED_GRACE_SECONDS`) at the end of the pull: a younger
  one's delivery may still be on its way (providers retry, queues back up), so it is not
  judged. A broken subscription misses every change, so most are still counted.
Disabled and pending registrations are left out: their deliveries are refused or cannot
be signed yet, which their own health already says. The count goes on the registration
(which emits `missed_webhooks` past `WEBHOOK_MISSED_THRESHOLD` a day) and, as the number
of changes missed by any registration, on the pull's SyncResult.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from integration_core.clock import utcnow
from integration_core.errors import LockstepError, NotFoundError
from integration_core.models import Change, Connection, SyncTask
from integration_core.pipelines.registrations import webhook_registrations
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import (
    RegistrationStatus,
    WebhookRegistration,
)

__all__ = ["count_missed_webhooks"]

log = logging.getLogger(__name__)

_WATCHED = frozenset({RegistrationStatus.ACTIVE, RegistrationStatus.FAILING})


def count_missed_webhooks(
    rt: Runtime,
    task: SyncTask,
    connection: Connection,
    news: Sequence[Change],
    *,
    now: datetime | None = None,
) -> int:
    """Record the changes in `news` (new to the hub, found by a pull of `task`) that its
    connection's registrations should have announced; returns how many were missed."""
    if not news:
        return 0
    registrations = webhook_registrations(rt)
    watching = [
        r
        for r in registrations.for_connection(connection.tenant_id, connection.id)
        if r.status in _WATCHED and (not r.entity_types or task.entity_type in r.entity_types)
    ]
    if not watching:
        return 0
    now = now or utcnow()
    cutoff = now - timedelta(seconds=rt.settings.webhook_missed_grace_seconds)
    missed: set[str] = set()
    for registration in watching:
        unannounced = _unannounced(registration, news, cutoff)
        if not unannounced:
            continue
        missed.update(unannounced)
        try:
            registrations.record_missed(
                registration,
                len(unannounced),
                threshold=rt.settings.webhook_missed_threshold,
                now=now,
            )
        except NotFoundError:
            log.debug("webhook registration %s went away meanwhile", registration.id)
        except LockstepError as err:
            # The pull's work is done and stays done; the count is what is lost.
            log.warning("could not count missed webhooks (%s)", type(err).__name__)
    if missed:
        log.warning(
            "pull found %d changes no webhook announced",
            len(missed),
            extra={"connection_id": connection.id, "task_id": task.id},
        )
    return len(missed)


def _unannounced(
    registration: WebhookRegistration, news: Sequence[Change], cutoff: datetime
) -> set[str]:
    return {
        f"{change.external_id}@{change.version}"
        for change in news
        if registration.created_at <= change.modified_at <= cutoff
    }
