"""Signed deliveries for the receiver's tests and bench, made from the providers' documented
formulas with hmac directly (never through the code under test)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from integration_core.errors import RetryableError
from integration_core.messaging import MessageQueue, ReceivedMessage
from integration_core.models import SyncMessage

__all__ = ["OutageQueue", "github_delivery", "slack_delivery"]


def github_delivery(
    secret: str, payload: Any = None, *, delivery: str | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a GitHub delivery signed with `secret` (X-Hub-Signature-256)."""
    body = json.dumps(payload if payload is not None else {"action": "opened"}).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/json",
    }, body


def slack_delivery(
    secret: str, body: bytes, *, timestamp: float | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers of a Slack request signed with `secret` (v0 over `v0:<ts>:<body>`)."""
    ts = str(int(time.time() if timestamp is None else timestamp))
    mac = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + mac.hexdigest(),
        "Content-Type": "application/json",
    }, body


class OutageQueue:
    """A MessageQueue whose sends fail (as an unreachable queue's do) while `down` is set."""

    def __init__(self, inner: MessageQueue) -> None:
        self.inner = inner
        self.down = False

    def ping(self) -> None:
        self.inner.ping()

    def send(self, queue: str, message: SyncMessage, *, delay_seconds: float = 0.0) -> None:
        if self.down:
            raise RetryableError(f"send to {queue}: queue unreachable")
        self.inner.send(queue, message, delay_seconds=delay_seconds)

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
