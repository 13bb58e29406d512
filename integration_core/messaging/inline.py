"""In-process MessageQueue (the embedded demo and fast tests).

Behaves like a cloud queue within one process: leases with visibility timeouts, dequeue
counts, delayed sends, redelivery of unsettled messages. Thread-safe. Messages live in
memory only.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from integration_core.errors import NotFoundError
from integration_core.messaging.base import Backlog, ReceivedMessage
from integration_core.models import SyncMessage

__all__ = ["InlineMessageQueue"]


@dataclass
class _Entry:
    sequence: int
    body: str  # the message as JSON, as a cloud queue holds it: later edits cannot reach it
    visible_at: float
    enqueued_at: float
    dequeue_count: int = 0
    lease: int = 0


@dataclass(frozen=True)
class _Receipt:
    sequence: int
    lease: int


class InlineMessageQueue:
    """A MessageQueue in memory.

    Args:
        clock: monotonic seconds; tests may pass a fake to step time instead of sleeping.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._queues: dict[str, dict[int, _Entry]] = {}
        self._sequence = itertools.count(1)
        self._leases = itertools.count(1)

    def ping(self) -> None:
        """Always reachable: it lives in this process."""

    def send(self, queue: str, message: SyncMessage, *, delay_seconds: float = 0.0) -> None:
        if delay_seconds < 0:
            raise ValueError("delay_seconds must be >= 0")
        with self._lock:
            sequence = next(self._sequence)
            entries = self._queues.setdefault(queue, {})
            entries[sequence] = _Entry(
                sequence=sequence,
                body=message.model_dump_json(),
                visible_at=self._clock() + delay_seconds,
                enqueued_at=self._clock(),
            )

    def receive(
        self, queue: str, *, max_messages: int = 16, visibility_timeout: float = 300.0
    ) -> Sequence[ReceivedMessage]:
        if max_messages < 1:
            raise ValueError("max_messages must be >= 1")
        with self._lock:
            now = self._clock()
            entries = self._queues.get(queue, {})
            due = sorted(
                (entry for entry in entries.values() if entry.visible_at <= now),
                key=lambda entry: (entry.visible_at, entry.sequence),
            )[:max_messages]
            received = []
            for entry in due:
                entry.visible_at = now + visibility_timeout
                entry.dequeue_count += 1
                entry.lease = next(self._leases)
                received.append(
                    ReceivedMessage(
                        queue=queue,
                        message=SyncMessage.model_validate_json(entry.body),
                        dequeue_count=entry.dequeue_count,
                        receipt=_Receipt(entry.sequence, entry.lease),
                    )
                )
            return received

    def complete(self, received: ReceivedMessage) -> None:
        with self._lock:
            entry = self._leased(received)
            del self._queues[received.queue][entry.sequence]

    def abandon(self, received: ReceivedMessage) -> None:
        with self._lock:
            entry = self._leased(received)
            entry.visible_at = self._clock()
            entry.lease = 0

    def depth(self, queue: str) -> int:
        """Messages in `queue`, visible or not (the demo drains until this is 0)."""
        with self._lock:
            return len(self._queues.get(queue, {}))

    def backlog(self, queue: str) -> Backlog:
        with self._lock:
            entries = self._queues.get(queue, {})
            oldest = min((e.enqueued_at for e in entries.values()), default=None)
            age = None if oldest is None else max(self._clock() - oldest, 0.0)
            return Backlog(depth=len(entries), oldest_age_seconds=age)

    def _leased(self, received: ReceivedMessage) -> _Entry:
        receipt = received.receipt
        if not isinstance(receipt, _Receipt):
            raise TypeError("not a receipt from this queue")
        entry = self._queues.get(received.queue, {}).get(receipt.sequence)
        if entry is None or entry.lease != receipt.lease:
            raise NotFoundError(
                f"message {received.message.message_id} on {received.queue}: the lease expired"
                " or was settled; the message is (or was) delivered again"
            )
        return entry
