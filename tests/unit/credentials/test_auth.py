"""The httpx.Auth adapters get: on-use refresh, and exactly one refresh + retry on 401."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from integration_core.clock import utcnow
from integration_core.credentials.local import LocalSecretStore
from tests.harness.oauth_server import OAuthServer
from tests.unit.credentials.support import CONNECTION, TENANT, Stack, get_resource

pytestmark = pytest.mark.unit


def test_auth_for_sends_the_current_token(server: OAuthServer, stack: Stack) -> None:
    token = server.issue_access_token()
    stack.store_auth_code(server, access_token=token, expires_at=utcnow() + timedelta(hours=1))
    auth = stack.service.auth_for(TENANT, CONNECTION)
    assert get_resource(auth, server.resource_url).status_code == 200
    assert server.calls == []


def test_a_401_triggers_exactly_one_refresh_and_one_retry(
    server: OAuthServer, stack: Stack
) -> None:
    stack.store_auth_code(
        server, access_token=server.issue_access_token(), expires_at=utcnow() + timedelta(hours=1)
    )
    auth = stack.service.auth_for(TENANT, CONNECTION)
    server.revoke_all_access_tokens()  # the provider revoked the token early
    response = get_resource(auth, server.resource_url)
    assert response.status_code == 200
    assert len(server.calls) == 1
    # The refreshed token is reused by the next request.
    assert get_resource(auth, server.resource_url).status_code == 200
    assert len(server.calls) == 1


def test_a_second_401_is_returned_without_another_refresh(
    server: OAuthServer, stack: Stack
) -> None:
    stack.store_auth_code(
        server, access_token="at-unknown", expires_at=utcnow() + timedelta(hours=1)
    )
    auth = stack.service.auth_for(TENANT, CONNECTION)
    retries = []

    def revoke_after_refresh(request: httpx.Request) -> None:
        retries.append(request.headers.get("Authorization"))
        server.revoke_all_access_tokens()

    with httpx.Client(auth=auth, event_hooks={"request": [revoke_after_refresh]}) as client:
        response = client.get(server.resource_url)
    assert response.status_code == 401
    assert len(retries) == 2
    assert len(server.calls) == 1


def test_a_401_after_another_worker_refreshed_does_not_call_the_endpoint(
    server: OAuthServer, tmp_path: Path
) -> None:
    key = LocalSecretStore.generate_key()
    one, two = Stack(tmp_path, key), Stack(tmp_path, key)
    one.store_auth_code(
        server, access_token=server.issue_access_token(), expires_at=utcnow() + timedelta(hours=1)
    )
    auth_one = one.service.auth_for(TENANT, CONNECTION)
    auth_two = two.service.auth_for(TENANT, CONNECTION)
    server.revoke_all_access_tokens()
    assert get_resource(auth_one, server.resource_url).status_code == 200
    assert len(server.calls) == 1
    # Instance two still holds the revoked token; its 401 finds the newer version stored.
    assert get_resource(auth_two, server.resource_url).status_code == 200
    assert len(server.calls) == 1
    one.close()
    two.close()


def test_token_expiring_within_the_margin_is_refreshed_before_the_request(
    server: OAuthServer, stack: Stack
) -> None:
    stack.store_auth_code(
        server,
        access_token=server.issue_access_token(),
        expires_at=utcnow() + timedelta(minutes=4),
    )
    auth = stack.service.auth_for(TENANT, CONNECTION)
    assert len(server.calls) == 1  # within the 5 minute margin: refreshed on use
    assert get_resource(auth, server.resource_url).status_code == 200


def test_async_client_gets_the_same_flow(server: OAuthServer, stack: Stack) -> None:
    stack.store_auth_code(
        server, access_token=server.issue_access_token(), expires_at=utcnow() + timedelta(hours=1)
    )
    auth = stack.service.auth_for(TENANT, CONNECTION)
    server.revoke_all_access_tokens()

    async def call() -> int:
        async with httpx.AsyncClient(auth=auth) as client:
            return (await client.get(server.resource_url)).status_code

    assert asyncio.run(call()) == 200
    assert len(server.calls) == 1


def test_static_credentials_do_not_retry_on_401(server: OAuthServer, stack: Stack) -> None:
    stack.service.store_credential(TENANT, CONNECTION, {"type": "bearer_token", "token": "nope"})
    auth = stack.service.auth_for(TENANT, CONNECTION)
    assert get_resource(auth, server.resource_url).status_code == 401
    assert server.calls == []
