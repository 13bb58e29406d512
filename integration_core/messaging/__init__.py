"""Queues between the pipelines: the port and its backends (chosen only in runtime.py)."""

from __future__ import annotations

from integration_core.messaging.base import (
    INBOUND_QUEUE,
    OUTBOUND_QUEUE,
    QUEUES,
    Backlog,
    MessageQueue,
    ReceivedMessage,
)

__all__ = [
    "INBOUND_QUEUE",
    "OUTBOUND_QUEUE",
    "QUEUES",
    "Backlog",
    "MessageQueue",
    "ReceivedMessage",
]
