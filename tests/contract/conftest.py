"""The backends each contract suite runs against: one test, every backend."""

from __future__ import annotations

import pytest

from integration_core.messaging import MessageQueue
from integration_core.storage import DocumentStore
from tests.harness.adapters import AdapterHarness, HubSpotHarness, SandboxHarness


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
    params=[
        pytest.param("inline", marks=pytest.mark.unit),
        pytest.param("storage", marks=pytest.mark.integration),
    ]
)
def message_queue(request: pytest.FixtureRequest) -> MessageQueue:
    queue: MessageQueue = request.getfixturevalue(f"{request.param}_queue")
    return queue


@pytest.fixture(
    params=[
        pytest.param("sandbox", marks=pytest.mark.unit),
        pytest.param("hubspot", marks=pytest.mark.unit),
    ]
)
def adapter_harness(request: pytest.FixtureRequest) -> AdapterHarness:
    harnesses = {"sandbox": SandboxHarness, "hubspot": HubSpotHarness}
    harness: AdapterHarness = harnesses[request.param]()
    return harness
