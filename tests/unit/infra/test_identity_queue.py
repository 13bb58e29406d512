"""The storage account as deployed: queue and blob endpoints with the managed identity, no key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from integration_core import runtime
from integration_core.messaging.storage_queue import StorageQueueMessageQueue
from integration_core.runtime import build_runtime
from integration_core.webhooks.blob_bodies import BlobBodyStore
from integration_core.webhooks.bodies import BODY_CONTAINER
from tests.harness.embedded import embedded_settings

pytestmark = pytest.mark.unit

QUEUE_URI = "https://stexample.queue.core.windows.net/"


def test_storage_queues_with_the_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.delenv("AZUREWEBJOBSSTORAGE", raising=False)
    settings = embedded_settings(
        tmp_path, queue_backend="storage", AzureWebJobsStorage__queueServiceUri=QUEUE_URI
    )
    rt = build_runtime(settings)
    try:
        assert isinstance(rt.queue, StorageQueueMessageQueue)
        service = rt.queue._service
        assert service.url == QUEUE_URI
        assert callable(getattr(service.credential, "get_token", None))  # a token, not a key
    finally:
        rt.close()


BLOB_URI = "https://stexample.blob.core.windows.net/"


def test_the_claim_check_store_with_the_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployed account has shared keys off: large webhook bodies go to its blob
    endpoint, signed in with the managed identity, not to a file on one instance."""
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.delenv("AZUREWEBJOBSSTORAGE", raising=False)
    settings = embedded_settings(
        tmp_path,
        store_backend="cosmos",
        cosmos_endpoint="https://cosmos-x.documents.azure.com:443/",
        AzureWebJobsStorage__blobServiceUri=BLOB_URI,
    )
    closers: list[Callable[[], None]] = []
    # The store alone: a whole runtime would sign in to Cosmos DB.
    bodies = runtime._bodies(settings, closers)
    try:
        assert isinstance(bodies, BlobBodyStore)
        service = bodies._service
        assert service.url == BLOB_URI
        assert callable(getattr(service.credential, "get_token", None))  # a token, not a key
        assert bodies._container.container_name == BODY_CONTAINER
    finally:
        for close in closers:
            close()
