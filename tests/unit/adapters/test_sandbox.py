"""The sandbox behaves like a real SaaS API, over real HTTP on loopback."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.errors import AuthError, PreconditionFailedError, RetryableError
from integration_core.sync.watermark import advance
from tests.harness.sandbox import seeded_account, served_adapter

pytestmark = pytest.mark.unit


def test_pages_through_every_record_once_in_modification_order() -> None:
    account = seeded_account("crm", contacts=25)
    with served_adapter(account) as adapter:
        seen, position, pages = [], None, 0
        while True:
            page = adapter.read_changes("contact", position, page_size=10)
            seen.extend(page.changes)
            position, pages = advance(position, page.changes), pages + 1
            if not page.has_more:
                break
    assert pages == 3
    assert len({c.external_id for c in seen}) == 25
    assert [c.modified_at for c in seen] == sorted(c.modified_at for c in seen)


def test_records_sharing_a_timestamp_across_a_page_boundary_are_all_read() -> None:
    account = seeded_account("crm")
    account.clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(7):
        account.create("contacts", {"email": f"p{i}@example.com"})
    with served_adapter(account) as adapter:
        first = adapter.read_changes("contact", None, page_size=4)
        rest = adapter.read_changes("contact", advance(None, first.changes), page_size=4)
    ids = [c.external_id for c in [*first.changes, *rest.changes]]
    assert first.has_more
    assert not rest.has_more
    assert sorted(ids) == sorted(r.id for r in account.records("contacts"))


def test_reads_are_incremental_and_see_later_edits_and_archives() -> None:
    account = seeded_account("crm", contacts=3)
    with served_adapter(account) as adapter:
        first = adapter.read_changes("contact", None)
        mark = advance(None, first.changes)
        assert adapter.read_changes("contact", mark).changes == []
        target = first.changes[0].external_id
        account.update("contacts", target, {"city": "Paris"})
        account.archive("contacts", first.changes[1].external_id)
        later = adapter.read_changes("contact", mark)
    assert [c.external_id for c in later.changes] == [target, first.changes[1].external_id]
    assert later.changes[0].values["city"] == "Paris"
    assert later.changes[0].version == "2"
    assert later.changes[1].deleted


def test_update_with_a_stale_version_is_refused() -> None:
    account = seeded_account("crm", contacts=1)
    record = account.records("contacts")[0]
    with served_adapter(account) as adapter:
        written = adapter.write("contact", record.id, {"city": "Oslo"}, expected_version="1")
        assert written.version == "2"
        with pytest.raises(PreconditionFailedError):
            adapter.write("contact", record.id, {"city": "Rome"}, expected_version="1")
    assert account.records("contacts")[0].properties["city"] == "Oslo"


def test_create_with_the_same_idempotency_key_creates_once() -> None:
    account = seeded_account("crm")
    with served_adapter(account) as adapter:
        first = adapter.write("contact", None, {"email": "a@example.com"}, idempotency_key="k1")
        again = adapter.write("contact", None, {"email": "a@example.com"}, idempotency_key="k1")
    assert first.external_id == again.external_id
    assert (first.created, again.created) == (True, False)  # the second made nothing
    assert len(account.records("contacts")) == 1


def test_injected_429_carries_retry_after_then_recovers() -> None:
    account = seeded_account("crm", contacts=1)
    account.inject_fault(429, count=1, retry_after=7)
    with served_adapter(account) as adapter:
        with pytest.raises(RetryableError) as caught:
            adapter.read_changes("contact", None)
        assert caught.value.retry_after == 7
        assert len(adapter.read_changes("contact", None).changes) == 1


def test_injected_5xx_is_retryable() -> None:
    account = seeded_account("crm")
    account.inject_fault(503, count=2)
    with served_adapter(account) as adapter:
        for _ in range(2):
            with pytest.raises(RetryableError):
                adapter.health()
        adapter.health()


def test_wrong_key_is_an_auth_error_and_rate_headers_are_sent() -> None:
    account = seeded_account("crm")
    with SandboxServer(account) as server:
        response = httpx.get(
            f"{server.base_url}/v1/objects/contacts", headers={"Authorization": "Bearer nope"}
        )
        assert response.status_code == 401
        assert response.headers["X-RateLimit-Limit"] == str(account.rate_limit_per_second)
    with served_adapter(account) as adapter:
        adapter.client.headers["Authorization"] = "Bearer nope"
        with pytest.raises(AuthError):
            adapter.health()


def test_malformed_requests_get_400() -> None:
    account = seeded_account("crm")
    with SandboxServer(account) as server:
        auth = {"Authorization": f"Bearer {account.api_key}"}
        bad_json = httpx.post(
            f"{server.base_url}/v1/objects/contacts", content=b"{nope", headers=auth
        )
        bad_limit = httpx.get(f"{server.base_url}/v1/objects/contacts?limit=0", headers=auth)
        bad_time = httpx.get(f"{server.base_url}/v1/objects/contacts?after_time=soon", headers=auth)
    assert bad_json.status_code == 400
    assert bad_limit.status_code == 400
    assert bad_time.status_code == 400
