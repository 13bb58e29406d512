"""Local HTTP receivers standing in for a Slack incoming webhook and a Teams workflow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.http_servers import RecordingServer


@pytest.fixture
def slack() -> Iterator[RecordingServer]:
    """Answers as Slack's incoming webhooks do: 200 with the text `ok`."""
    with RecordingServer(body=b"ok", headers={"Content-Type": "text/plain"}) as server:
        yield server


@pytest.fixture
def teams() -> Iterator[RecordingServer]:
    """Answers as a Teams Workflows webhook does: 202 with no body."""
    with RecordingServer(status=202, body=b"") as server:
        yield server
