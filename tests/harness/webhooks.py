"""Signed deliveries for the receiver's tests and bench, made from the providers' documented
formulas with hmac directly (never through the code under test)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from integration_core.errors import RetryableError
from integration_core.messaging import MessageQueue
from integration_core.models import SyncMessage
from tests.harness.faults import CrashingQueue

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


class OutageQueue(CrashingQueue):
    """A MessageQueue whose sends fail as an unreachable queue's do (RetryableError) while
    `down` is set."""

    def __init__(self, inner: MessageQueue) -> None:
        super().__init__(inner)
        self.down = False

    def send(self, queue: str, message: SyncMessage, *, delay_seconds: float = 0.0) -> None:
        if self.down:
            raise RetryableError(f"send to {queue}: queue unreachable")
        super().send(queue, message, delay_seconds=delay_seconds)
