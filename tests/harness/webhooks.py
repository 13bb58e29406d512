"""Signed deliveries for the receiver's tests and bench, made from the providers' documented
formulas with hmac directly (never through the code under test)."""

from __future__ import annotations

import base64
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

__all__ = [
    "OutageQueue",
    "github_delivery",
    "hubspot_v3_delivery",
    "notion_delivery",
    "slack_delivery",
    "standard_webhooks_delivery",
]


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


def notion_delivery(secret: str, event: Any) -> tuple[dict[str, str], bytes]:
    """Headers and body of a Notion webhook event signed with the subscription's
    verification token (X-Notion-Signature: sha256=HMAC of the body)."""
    body = json.dumps(event).encode()
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Notion-Signature": f"sha256={mac}", "Content-Type": "application/json"}, body


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


def standard_webhooks_delivery(
    secret: str, body: bytes, *, msg_id: str | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers of a Standard Webhooks delivery signed with a `whsec_` secret (v1 HMAC over
    `<id>.<timestamp>.<body>`), as the sandbox sends its events."""
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    ts = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        "Content-Type": "application/json",
    }, body


def hubspot_v3_delivery(secret: str, url: str, events: Any) -> tuple[dict[str, str], bytes]:
    """Headers and body of a HubSpot v3 delivery: base64 HMAC-SHA256 over method, URI, body
    and the millisecond timestamp."""
    body = json.dumps(events).encode()
    ts = str(int(time.time() * 1000))
    mac = hmac.new(secret.encode(), b"POST" + url.encode() + body + ts.encode(), hashlib.sha256)
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(mac.digest()).decode(),
        "X-HubSpot-Request-Timestamp": ts,
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
