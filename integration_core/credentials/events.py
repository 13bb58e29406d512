"""A small pluggable sink for credential events (needs re-auth, rotated, re-authorized).

Notifications (mail, Teams, a queue) subscribe by implementing `EventSink`; the default
sink logs. Events carry ids and error codes, never secret values.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from integration_core.clock import utcnow
from integration_core.credentials.records import CredentialRecord
from integration_core.observability import log_context

__all__ = [
    "CredentialEventKind",
    "CredentialEvent",
    "EventSink",
    "Broadcast",
    "LoggingEventSink",
    "MemoryEventSink",
    "emit",
]

_log = logging.getLogger(__name__)


class CredentialEventKind(StrEnum):
    NEEDS_REAUTH = "needs_reauth"
    REAUTHORIZED = "reauthorized"
    STORED = "stored"
    ROTATED = "rotated"
    REFRESH_FAILED = "refresh_failed"


@dataclass(frozen=True)
class CredentialEvent:
    kind: CredentialEventKind
    tenant_id: str
    connection_id: str
    credential_id: str
    detail: dict[str, str] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)


class EventSink(Protocol):
    def emit(self, event: CredentialEvent) -> None:
        """Deliver one event; must not raise for delivery problems it can absorb."""


def emit(
    sink: EventSink,
    kind: CredentialEventKind,
    record: CredentialRecord,
    detail: dict[str, str] | None = None,
) -> None:
    """Deliver an event about `record`; a broken sink is logged, never raised, so that a
    notifier cannot break a refresh.
    """
    event = CredentialEvent(
        kind=kind,
        tenant_id=record.tenant_id,
        connection_id=record.connection_id,
        credential_id=record.id,
        detail=detail or {},
    )
    try:
        sink.emit(event)
    except Exception as err:  # noqa: BLE001 - a broken notifier must not break refresh
        _log.warning("event sink failed (%s)", type(err).__name__)


class Broadcast:
    """Delivers each event to every sink in turn; one failing sink does not stop the rest.

    The sinks' log lines carry the event's tenant.
    """

    def __init__(self, *sinks: EventSink) -> None:
        self._sinks = sinks

    def emit(self, event: CredentialEvent) -> None:
        with log_context(tenant_id=event.tenant_id):
            for sink in self._sinks:
                self._emit(sink, event)

    @staticmethod
    def _emit(sink: EventSink, event: CredentialEvent) -> None:
        try:
            sink.emit(event)
        except Exception as err:  # noqa: BLE001 - isolate each subscriber
            _log.warning(
                "%s failed on a %s event (%s)",
                type(sink).__name__,
                event.kind.value,
                type(err).__name__,
            )


class LoggingEventSink:
    """Writes each event as one structured WARNING (needs re-auth) or INFO line."""

    def emit(self, event: CredentialEvent) -> None:
        level = logging.WARNING if event.kind is CredentialEventKind.NEEDS_REAUTH else logging.INFO
        _log.log(
            level,
            "credential event %s",
            event.kind.value,
            extra={
                "event_kind": event.kind.value,
                "connection_id": event.connection_id,
                "credential_id": event.credential_id,
                **{f"detail_{k}": v for k, v in event.detail.items()},
            },
        )


class MemoryEventSink:
    """Keeps events in memory (tests, the demo, an in-process notifier)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[CredentialEvent] = []

    def emit(self, event: CredentialEvent) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[CredentialEvent]:
        with self._lock:
            return list(self._events)
