"""The backends each contract suite runs against: one test, every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.messaging import MessageQueue
from integration_core.storage import DocumentStore
from integration_core.storage.sqlite import SqliteDocumentStore
from tests.harness.adapters import (
    AdapterHarness,
    HubSpotHarness,
    SalesforceHarness,
    SandboxHarness,
)
from tests.harness.github_harness import GitHubHarness
from tests.harness.notion_google import GoogleHarness, NotionHarness
from tests.harness.prism import Prism, SwitchableApp, provider_spec
from tests.harness.slack_harness import SlackHarness, bearer_only_spec


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.unit),
        pytest.param("cosmos", marks=pytest.mark.integration),
    ]
)
def document_store(request: pytest.FixtureRequest) -> DocumentStore:
    store: DocumentStore = request.getfixturevalue(f"{request.param}_store")
    return store


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", marks=pytest.mark.unit),
        pytest.param("cosmos", marks=pytest.mark.integration),
    ],
)
def module_document_store(request: pytest.FixtureRequest) -> Iterator[DocumentStore]:
    """One store per backend for a whole module, for tests that only read or are refused."""
    if request.param == "cosmos":
        make: Callable[[], DocumentStore] = request.getfixturevalue("make_cosmos_store")
        yield make()  # dropped with the session's other databases
        return
    sqlite = SqliteDocumentStore(":memory:")
    yield sqlite
    sqlite.close()


@pytest.fixture(
    params=[
        pytest.param("inline", marks=pytest.mark.unit),
        pytest.param("storage", marks=pytest.mark.integration),
    ]
)
def message_queue(request: pytest.FixtureRequest) -> MessageQueue:
    queue: MessageQueue = request.getfixturevalue(f"{request.param}_queue")
    return queue


def _hubspot_behind_prism(spec: str) -> Iterator[tuple[str, SwitchableApp]]:
    switch = SwitchableApp()
    with (
        SandboxServer(switch) as server,
        Prism(provider_spec(spec), upstream=server.base_url) as prism,
    ):
        yield prism.base_url, switch


@pytest.fixture(scope="session")
def hubspot_via_prism() -> Iterator[tuple[str, SwitchableApp]]:
    """A HubSpot-shaped fake behind `prism proxy --errors` on HubSpot's contacts spec."""
    yield from _hubspot_behind_prism("hubspot/contacts.json")


@pytest.fixture(scope="session")
def hubspot_tasks_via_prism() -> Iterator[tuple[str, SwitchableApp]]:
    """The same for tasks, on HubSpot's tasks spec."""
    yield from _hubspot_behind_prism("hubspot/tasks.json")


@pytest.fixture(scope="session")
def slack_via_prism(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, SwitchableApp]]:
    """The Slack-shaped fake behind `prism proxy --errors` on Slack's Web API spec (its
    obsolete `token` parameters left out: see `bearer_only_spec`)."""
    switch = SwitchableApp()
    spec = bearer_only_spec(tmp_path_factory.mktemp("slack-spec"))
    with SandboxServer(switch) as server, Prism(spec, upstream=server.base_url) as prism:
        yield prism.base_url, switch


@pytest.fixture(
    params=[
        pytest.param("sandbox", marks=pytest.mark.unit),
        pytest.param("hubspot", marks=pytest.mark.unit),
        pytest.param("hubspot-task", marks=pytest.mark.unit),
        pytest.param("hubspot-via-prism", marks=pytest.mark.integration),
        pytest.param("salesforce", marks=pytest.mark.unit),
        pytest.param("notion", marks=pytest.mark.unit),
        pytest.param("google", marks=pytest.mark.unit),
        pytest.param("github", marks=pytest.mark.unit),
        pytest.param("slack", marks=pytest.mark.unit),
        pytest.param("slack-via-prism", marks=pytest.mark.integration),
        pytest.param("hubspot-task-via-prism", marks=pytest.mark.integration),
    ]
)
def adapter_harness(request: pytest.FixtureRequest) -> AdapterHarness:
    if request.param == "hubspot-via-prism":
        return HubSpotHarness(via=request.getfixturevalue("hubspot_via_prism"))
    if request.param == "slack-via-prism":
        return SlackHarness(via=request.getfixturevalue("slack_via_prism"))
    if request.param == "hubspot-task-via-prism":
        via = request.getfixturevalue("hubspot_tasks_via_prism")
        return HubSpotHarness(entity_type="task", via=via)
    if request.param == "hubspot-task":
        return HubSpotHarness(entity_type="task")
    harnesses: dict[str, type[AdapterHarness]] = {
        "sandbox": SandboxHarness,
        "hubspot": HubSpotHarness,
        "salesforce": SalesforceHarness,
        "notion": NotionHarness,
        "google": GoogleHarness,
        "github": GitHubHarness,
        "slack": SlackHarness,
    }
    harness: AdapterHarness = harnesses[request.param]()
    return harness
