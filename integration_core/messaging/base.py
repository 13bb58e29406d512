"""The MessageQueue port: at-least-once delivery of SyncMessage envelopes.

In Azure the Functions host receives (queue triggers) and the app only sends; `receive`,
`complete` and `abandon` serve the in-process backend, the CLI's drain loop and tests.
Consumers must be idempotent: the same message may arrive twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from integration_core.models import SyncMessage

__all__ = [
    "INBOUND_QUEUE",
    "OUTBOUND_QUEUE",
    "QUEUES",
    "Backlog",
    "ReceivedMessage",
    "MessageQueue",
]

INBOUND_QUEUE = "sync-inbound"
OUTBOUND_QUEUE = "sync-outbound"
QUEUES = (INBOUND_QUEUE, OUTBOUND_QUEUE)


@dataclass(frozen=True)
class ReceivedMessage:
    """A delivered message and what the backend needs to settle it."""

    queue: str
    message: SyncMessage
    dequeue_count: int
    receipt: Any


@dataclass(frozen=True)
class Backlog:
    """What waits in a queue: its messages (leased and delayed ones too) and the age in
    seconds of the oldest one that can be seen (None: none, or the backend cannot tell)."""

    depth: int
    oldest_age_seconds: float | None


class MessageQueue(Protocol):
    def ping(self) -> None:
        """Raise if the backend cannot be reached."""

    def send(self, queue: str, message: SyncMessage, *, delay_seconds: float = 0.0) -> None:
        """Enqueue one message, visible after `delay_seconds`."""

    def receive(
        self, queue: str, *, max_messages: int = 16, visibility_timeout: float = 300.0
    ) -> Sequence[ReceivedMessage]:
        """Lease up to `max_messages`; unsettled leases reappear after the timeout."""

    def complete(self, received: ReceivedMessage) -> None:
        """The message was handled: remove it."""

    def abandon(self, received: ReceivedMessage) -> None:
        """Handling failed: make the message visible again now."""

    def backlog(self, queue: str) -> Backlog:
        """How many messages wait in `queue` and how old the oldest is (queue metrics)."""
