"""Crash and race injection for the pipelines: proxies that fail the Nth write or send,
and one that makes concurrent readers of a document meet before any of them goes on.

Wrap a runtime's ports (`rt.store = CrashingStore(rt.store)`, the same for `rt.queue`)
and arm a crash: the Nth next write raises `InjectedCrash`, either before the write
happens (the process died before the call) or after it (the call took effect, the
process died before it learned so). Reads and queue leases are never failed. Workers
treat the error like any other: the message is abandoned and delivered again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from integration_core.messaging import MessageQueue, ReceivedMessage
from integration_core.models import SyncMessage
from integration_core.storage import DocumentStore, Filter

__all__ = [
    "InjectedCrash",
    "CrashSwitch",
    "CrashingStore",
    "CrashingQueue",
    "ManualClock",
    "MeetingStore",
]


class InjectedCrash(RuntimeError):
    """A crash the test asked for."""


class CrashSwitch:
    """Counts writes; fails the Nth one once armed, then disarms itself."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fired = 0
        self.seen = 0  # writes counted so far (armed or not): how many points there are to crash
        self._countdown: int | None = None
        self._after = False

    @property
    def armed(self) -> bool:
        return self._countdown is not None

    def arm(self, nth: int, *, after: bool = False) -> None:
        """Fail the `nth` next write (1 = the very next one); `after`: let it happen first."""
        if nth < 1:
            raise ValueError("nth must be >= 1")
        self._countdown, self._after = nth, after

    def disarm(self) -> None:
        self._countdown = None

    def before(self, what: str) -> bool:
        """Call before a write: raises for a crash before it, or says to crash after it."""
        self.seen += 1
        if self._countdown is None:
            return False
        self._countdown -= 1
        if self._countdown > 0:
            return False
        self._countdown = None
        self.fired += 1
        if self._after:
            return True
        raise InjectedCrash(f"{self.name}: crash before {what}")

    def after(self, what: str, crash: bool) -> None:
        if crash:
            raise InjectedCrash(f"{self.name}: crash after {what}")


class CrashingStore:
    """A DocumentStore whose writes (create, upsert, delete) fail when the switch says so."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.switch = CrashSwitch("store")

    def ping(self) -> None:
        self.inner.ping()

    def get(self, container: str, partition_key: str, id: str) -> dict[str, Any]:
        return self.inner.get(container, partition_key, id)

    def create(self, container: str, document: Mapping[str, Any]) -> dict[str, Any]:
        crash = self.switch.before(f"create in {container}")
        stored = self.inner.create(container, document)
        self.switch.after(f"create in {container}", crash)
        return stored

    def upsert(
        self, container: str, document: Mapping[str, Any], *, if_match: str | None = None
    ) -> dict[str, Any]:
        crash = self.switch.before(f"upsert in {container}")
        stored = self.inner.upsert(container, document, if_match=if_match)
        self.switch.after(f"upsert in {container}", crash)
        return stored

    def delete(
        self, container: str, partition_key: str, id: str, *, if_match: str | None = None
    ) -> None:
        crash = self.switch.before(f"delete in {container}")
        self.inner.delete(container, partition_key, id, if_match=if_match)
        self.switch.after(f"delete in {container}", crash)

    def query(
        self,
        container: str,
        *,
        partition_key: str | None = None,
        filters: Sequence[Filter] = (),
        order_by: Sequence[tuple[str, bool]] = (),
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        return self.inner.query(
            container, partition_key=partition_key, filters=filters, order_by=order_by, limit=limit
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CrashingQueue:
    """A MessageQueue whose sends fail when the switch says so (settling never fails)."""

    def __init__(self, inner: MessageQueue) -> None:
        self.inner = inner
        self.switch = CrashSwitch("queue")

    def ping(self) -> None:
        self.inner.ping()

    def send(self, queue: str, message: SyncMessage, *, delay_seconds: float = 0.0) -> None:
        crash = self.switch.before(f"send to {queue}")
        self.inner.send(queue, message, delay_seconds=delay_seconds)
        self.switch.after(f"send to {queue}", crash)

    def receive(
        self, queue: str, *, max_messages: int = 16, visibility_timeout: float = 300.0
    ) -> Sequence[ReceivedMessage]:
        return self.inner.receive(
            queue, max_messages=max_messages, visibility_timeout=visibility_timeout
        )

    def complete(self, received: ReceivedMessage) -> None:
        self.inner.complete(received)

    def abandon(self, received: ReceivedMessage) -> None:
        self.inner.abandon(received)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ManualClock:
    """Monotonic seconds that move only when told (for `InlineMessageQueue(clock=...)`)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MeetingStore(CrashingStore):
    """Makes the first `parties` reads of one document wait for each other.

    Every party has then read the same version before any of them writes: the worst
    interleaving of a read-check-write, on demand instead of by luck. Later reads pass.
    A party that never comes breaks the meeting (`threading.BrokenBarrierError`) after
    `timeout` seconds instead of hanging the test.
    """

    def __init__(
        self,
        inner: DocumentStore,
        container: str,
        id: str,
        *,
        parties: int = 2,
        timeout: float = 30,
    ) -> None:
        super().__init__(inner)
        self._document = (container, id)
        self._barrier = threading.Barrier(parties, timeout=timeout)
        self._waiting = parties
        self._lock = threading.Lock()

    def get(self, container: str, partition_key: str, id: str) -> dict[str, Any]:
        document = self.inner.get(container, partition_key, id)
        if (container, id) == self._document:
            with self._lock:
                meet, self._waiting = self._waiting > 0, self._waiting - 1
            if meet:
                self._barrier.wait()
        return document
