"""QUEUE_BACKEND=storage as deployed: the queue endpoint and the managed identity, no key."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration_core.messaging.storage_queue import StorageQueueMessageQueue
from integration_core.runtime import build_runtime
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
