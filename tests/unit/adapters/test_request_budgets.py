"""Budgets of some requests only: HubSpot's search is limited apart from its other calls
(five a second), spent request by request through the runtime's client hook."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from adapters.toolkit import CursorState
from integration_core.clock import utcnow
from integration_core.errors import RetryableError
from integration_core.models import Connection
from integration_core.ports import IntegrationAdapter
from integration_core.runtime import Runtime, build_runtime
from integration_core.sync.watermark import Watermark
from tests.harness.embedded import embedded_settings
from tests.harness.fakes.hubspot import HubSpotFake
from tests.harness.sandbox import contact

pytestmark = pytest.mark.unit

HOST = "portal.hubspot.invalid"


def _adapter_in_runtime(
    tmp_path: Path, fake: HubSpotFake, **config: object
) -> tuple[Runtime, IntegrationAdapter]:
    rt = build_runtime(
        embedded_settings(tmp_path, throttle_max_wait_seconds=0),
        transports={HOST: httpx.WSGITransport(app=fake)},
    )
    connection = Connection(
        id="hs", tenant_id="t1", system="hubspot", config={"base_url": f"http://{HOST}", **config}
    )
    rt.credentials.store_credential("t1", "hs", {"type": "bearer_token", "token": fake.token})
    return rt, rt.connectors.adapter_for(connection)


def test_searches_spend_their_own_budget_and_lists_do_not(tmp_path: Path) -> None:
    fake = HubSpotFake(token="pat")
    fake.create("contacts", contact(1))
    since = Watermark(utcnow() - timedelta(days=1), "")
    searching = CursorState(watermark=since).encode()
    rt, adapter = _adapter_in_runtime(tmp_path, fake)
    with adapter:
        assert [limit.max_requests for limit in adapter.rate_limits()] == [100]  # burst only
        for _ in range(8):
            adapter.read_changes("contact", None, page_size=10)  # lists: no search budget
        for _ in range(5):
            adapter.read_changes("contact", searching, page_size=10)
        searches = sum(1 for method, _ in fake.requests if method == "POST")
        with pytest.raises(RetryableError, match="request budget") as caught:
            adapter.read_changes("contact", searching, page_size=10)
    assert searches == 5
    assert sum(1 for method, _ in fake.requests if method == "POST") == 5  # refused unsent
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 1.0
    rt.close()


def test_a_connection_may_name_another_search_budget(tmp_path: Path) -> None:
    fake = HubSpotFake(token="pat")
    budgets = [{"bucket": "search", "max_requests": 2, "window_seconds": 1.0}]
    rt, adapter = _adapter_in_runtime(tmp_path, fake, rate_limits=budgets)
    with adapter:
        limits = adapter.request_limits("POST", "/crm/v3/objects/contacts/search")
        assert [(limit.max_requests, limit.window_seconds) for limit in limits] == [(2, 1.0)]
        assert adapter.request_limits("GET", "/crm/v3/objects/contacts") == []
        assert adapter.rate_limits() == []  # the override names no budget of every call
    rt.close()
