"""The sandbox behaves like a real SaaS API, over real HTTP on loopback.

What every adapter must do is in tests/contract/test_adapter_contract.py; these are the
sandbox server's own rules.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.errors import AuthError
from tests.harness.sandbox import seeded_account, served_adapter

pytestmark = pytest.mark.unit


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


def test_a_listing_older_than_the_retention_is_gone_but_page_tokens_still_work() -> None:
    account = seeded_account("crm", contacts=3)
    with SandboxServer(account) as server:
        auth = {"Authorization": f"Bearer {account.api_key}"}
        url = f"{server.base_url}/v1/objects/contacts"
        first = httpx.get(url, params={"limit": 1}, headers=auth).json()
        account.retention = timedelta(0)
        expired = httpx.get(url, params={"after_time": "2020-01-01T00:00:00Z"}, headers=auth)
        paged = httpx.get(url, params={"limit": 1, **first["paging"]["next"]}, headers=auth)
        bad_token = httpx.get(url, params={"after": "!!"}, headers=auth)
    assert (expired.status_code, expired.json()["code"]) == (410, "CURSOR_EXPIRED")
    assert paged.status_code == 200
    assert paged.json()["results"][0]["id"] != first["results"][0]["id"]
    assert bad_token.status_code == 400
