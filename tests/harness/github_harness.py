"""The GitHub adapter against the GitHub-shaped fake, for the adapter contract suite.

One loopback port for the harness's life: GitHub's `Link` next-page URLs are absolute, so
a cursor made by one adapter must reach the same server from the next one.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

import httpx

from adapters.github import GitHubAdapter
from adapters.sandbox_server import SandboxServer
from integration_core.clock import utcnow
from integration_core.models import Connection
from integration_core.ports import IntegrationAdapter
from tests.harness.adapters import StaticBearer
from tests.harness.fakes.github import GitHubFake
from tests.harness.http_faults import FaultyTransport

__all__ = ["GitHubHarness", "github_adapter"]


def github_adapter(
    base_url: str, *, auth: httpx.Auth, transport: httpx.BaseTransport | None = None
) -> GitHubAdapter:
    """A GitHub adapter for the fake's repository at `base_url` (the API root)."""
    connection = Connection(
        id="c-github",
        tenant_id="t1",
        system="github",
        config={"base_url": base_url, "owner": "octo-org", "repo": "hello-world"},
    )
    client = httpx.Client(
        base_url=GitHubAdapter.base_url(connection.config), auth=auth, transport=transport
    )
    return GitHubAdapter(connection, client=client)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GitHubHarness:
    name = "github"
    entity_type = "task"
    records_path = ""  # the answer is the list itself
    writable = True
    expires_changes = False  # `since` reaches back forever
    # Closed as not planned (REST cannot delete an issue): listed, as tombstones, by every
    # listing (state=all).
    deletes_listed: Literal["always", "incremental", "never"] = "always"

    def change(self, text: str) -> dict[str, Any]:
        return {"title": text}

    def probe(self, values: Mapping[str, Any]) -> Any:
        return values["title"]

    def is_create(self, request: httpx.Request) -> bool:
        return request.method == "POST" and request.url.path.endswith("/issues")

    def __init__(self) -> None:
        self._frozen: datetime | None = None
        self.fake = GitHubFake(clock=lambda: self._frozen or utcnow())
        self.faults = FaultyTransport(httpx.HTTPTransport(), writes_lose_answers=True)
        self._port = _free_port()

    @contextmanager
    def adapter(self, *, auth: httpx.Auth | None = None) -> Iterator[IntegrationAdapter]:
        with (
            SandboxServer(self.fake, port=self._port) as server,
            github_adapter(
                server.base_url,
                auth=auth or StaticBearer(self.fake.token),
                transport=self.faults,
            ) as adapter,
        ):
            yield adapter

    def create(self, values: dict[str, Any]) -> str:
        fields = dict(values)
        return self.fake.create_issue(fields.pop("title"), **fields)

    def edit(self, external_id: str, values: dict[str, Any]) -> None:
        self.fake.edit(external_id, **values)

    def remove(self, external_id: str) -> None:
        """Closed as not planned: GitHub's delete as far as a sync sees (REST deletes none)."""
        self.fake.edit(external_id, state="closed", state_reason="not_planned")

    def ids(self) -> set[str]:
        return {
            str(i.number)
            for i in self.fake.issues()
            if not (i.state == "closed" and i.state_reason == "not_planned")
        }

    def sample(self, i: int) -> dict[str, Any]:
        return {
            "title": f"Task {i}",
            "body": f"What task {i} is about",
            "labels": [f"area-{i % 3}"],
        }

    def same_time(self, on: bool) -> None:
        self._frozen = utcnow() if on else None

    def forget_changes(self) -> None:
        raise AssertionError("GitHub keeps every issue's updated_at: nothing to forget")

    def bad_token(self) -> str:
        return "ghp_wrong"

    def good_token(self) -> str:
        return self.fake.token
