"""The Slack adapter against the Slack-shaped fake, for the adapter contract suite; with
`via`, behind Prism on Slack's own OpenAPI file, which checks every request and answer."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from adapters.sandbox_server import SandboxServer
from adapters.slack import SlackAdapter
from adapters.toolkit import select
from integration_core.clock import utcnow
from integration_core.models import Connection
from integration_core.ports import IntegrationAdapter
from tests.harness.adapters import StaticBearer
from tests.harness.fakes.slack import SlackFake
from tests.harness.http_faults import FaultyTransport
from tests.harness.prism import SwitchableApp, provider_spec

__all__ = ["SlackHarness", "bearer_only_spec", "slack_adapter"]


def bearer_only_spec(directory: Path) -> Path:
    """Slack's Web API spec as Slack answers today, written into `directory`.

    Two changes, nothing loosened: (1) the published file (2020) still requires a `token`
    query or header parameter on many methods; Slack no longer takes tokens in query
    strings from apps made since 2021 (api.slack.com/changelog/2020-11-no-more-tokens-in-
    querystrings-for-newly-created-apps) and documents `Authorization: Bearer` for every
    method (api.slack.com/web#basics), which is what the adapter sends: the `token`
    parameters go. (2) Slack answers errors with HTTP 200 (api.slack.com/web#responses),
    which the file describes as its `default` answer: a 200 must be the method's success
    schema or its error schema (with the method's own list of error codes).
    """
    spec = json.loads(provider_spec("slack/slack_web_openapi_v2.json").read_text())
    for operations in spec["paths"].values():
        for operation in operations.values():
            operation["parameters"] = [
                p for p in operation.get("parameters", []) if p.get("name") != "token"
            ]
            answers = operation.get("responses", {})
            ok, error = answers.get("200", {}), answers.get("default", {})
            if "schema" in ok and "schema" in error:
                ok["schema"] = {"anyOf": [ok["schema"], error["schema"]]}
    path = directory / "slack_web_openapi_v2.bearer.json"
    path.write_text(json.dumps(spec))
    return path


def slack_adapter(
    base_url: str, *, auth: httpx.Auth, transport: httpx.BaseTransport | None = None
) -> SlackAdapter:
    """A Slack adapter for a workspace whose Web API is at `base_url` (…/api)."""
    connection = Connection(
        id="c-slack", tenant_id="t1", system="slack", config={"base_url": base_url}
    )
    client = httpx.Client(
        base_url=SlackAdapter.base_url(connection.config), auth=auth, transport=transport
    )
    return SlackAdapter(connection, client=client)


class SlackHarness:
    name = "slack"
    entity_type = "contact"
    records_path = "members"
    writable = False  # users are read; Lockstep writes no Slack user
    expires_changes = False  # every cycle is a full scan: nothing to expire
    deletes_listed: Literal["always", "incremental", "never"] = "always"  # deactivated users

    def change(self, text: str) -> dict[str, Any]:
        return {"profile.title": text}  # `edit` takes dotted paths

    def probe(self, values: Mapping[str, Any]) -> Any:
        return select(values, "profile.title")

    def is_create(self, request: httpx.Request) -> bool:
        return False  # read-only: the suite's write tests are skipped

    def __init__(self, *, via: tuple[str, SwitchableApp] | None = None) -> None:
        self._frozen: datetime | None = None
        self.fake = SlackFake(clock=lambda: self._frozen or utcnow())
        self.faults = FaultyTransport(httpx.HTTPTransport())
        self._via = via

    @contextmanager
    def adapter(self, *, auth: httpx.Auth | None = None) -> Iterator[IntegrationAdapter]:
        auth = auth or StaticBearer(self.fake.token)
        if self._via is not None:
            url, switch = self._via
            switch.app = self.fake
            # Prism serves the spec's paths at its root (its basePath, /api, left out).
            with slack_adapter(url, auth=auth, transport=self.faults) as adapter:
                yield adapter
            return
        with (
            SandboxServer(self.fake) as server,
            slack_adapter(f"{server.base_url}/api", auth=auth, transport=self.faults) as adapter,
        ):
            yield adapter

    def create(self, values: dict[str, Any]) -> str:
        return self.fake.add_user(values)

    def edit(self, external_id: str, values: dict[str, Any]) -> None:
        self.fake.edit(
            external_id, {key.removeprefix("profile."): value for key, value in values.items()}
        )

    def remove(self, external_id: str) -> None:
        self.fake.deactivate(external_id)

    def ids(self) -> set[str]:
        return self.fake.active_ids()

    def sample(self, i: int) -> dict[str, Any]:
        return {
            "first_name": f"Ada{i}",
            "last_name": "Lovelace",
            "email": f"ada{i}@example.com",
            "title": "Engineer",
            "phone": f"+3312345{i:04d}",
        }

    def same_time(self, on: bool) -> None:
        self._frozen = utcnow() if on else None

    def forget_changes(self) -> None:
        raise AssertionError("Slack keeps no change log to forget")

    def bad_token(self) -> str:
        return "xoxb-wrong"

    def good_token(self) -> str:
        return self.fake.token
