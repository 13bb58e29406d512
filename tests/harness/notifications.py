"""What the Slack and Teams stand-ins (RecordingServer) were sent: bodies and titles."""

from __future__ import annotations

import json
from typing import Any

from tests.harness.http_servers import RecordingServer

__all__ = ["alert_bodies", "alert_titles"]


def alert_bodies(server: RecordingServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.received]


def alert_titles(server: RecordingServer) -> list[str]:
    """Each message's title: a Slack body's `text`, a Teams card's first text block."""
    titles = []
    for body in alert_bodies(server):
        if "text" in body:
            titles.append(body["text"])
        else:
            titles.append(body["attachments"][0]["content"]["body"][0]["text"])
    return titles
