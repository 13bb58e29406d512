"""A 401 on a credential that cannot be refreshed (API key, basic, bearer token).

Nothing Lockstep can do makes a refused static credential work again: it is marked
`needs_reauth` with an event, as a dead OAuth grant is, and the connection's syncs pause
(the pipelines' subscriber) instead of failing on every scheduler tick.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from integration_core.credentials import CredentialEventKind, CredentialStatus
from integration_core.models import Connection, ConnectionStatus, SyncTask
from tests.harness.oauth_server import OAuthServer
from tests.unit.credentials.support import CONNECTION, TENANT, Stack, get_resource

pytestmark = pytest.mark.unit


def _connection(stack: Stack) -> Connection:
    return Connection.from_document(stack.documents.get(Connection.container, TENANT, CONNECTION))


def test_a_401_on_a_bearer_token_marks_it_needs_reauth_once(
    server: OAuthServer, stack: Stack
) -> None:
    record = stack.service.store_credential(
        TENANT, CONNECTION, {"type": "bearer_token", "token": "revoked-at-the-provider"}
    )
    auth = stack.service.auth_for(TENANT, CONNECTION)
    assert get_resource(auth, server.resource_url).status_code == 401
    assert get_resource(auth, server.resource_url).status_code == 401
    marked = stack.service.get_record(TENANT, record.id)
    assert marked.status is CredentialStatus.NEEDS_REAUTH
    assert marked.last_error == "unauthorized"
    assert [e.kind for e in stack.notable_events()] == [CredentialEventKind.NEEDS_REAUTH]
    assert _connection(stack).status is ConnectionStatus.NEEDS_REAUTH
    assert sorted(_connection(stack).paused_task_ids) == ["task-0", "task-1"]
    assert server.calls == []  # nothing to refresh: no token endpoint call


def test_the_async_flow_reports_a_401_too(server: OAuthServer, stack: Stack) -> None:
    record = stack.service.store_credential(
        TENANT, CONNECTION, {"type": "api_key", "key": "revoked", "header": "Authorization"}
    )
    auth = stack.service.auth_for(TENANT, CONNECTION)

    async def call() -> int:
        async with httpx.AsyncClient(auth=auth, timeout=10) as client:
            return (await client.get(server.resource_url)).status_code

    assert asyncio.run(call()) == 401
    assert stack.service.get_record(TENANT, record.id).status is CredentialStatus.NEEDS_REAUTH


def test_a_401_on_a_key_replaced_meanwhile_marks_nothing(server: OAuthServer, stack: Stack) -> None:
    old = server.issue_access_token()
    stack.service.store_credential(TENANT, CONNECTION, {"type": "bearer_token", "token": old})
    auth = stack.service.auth_for(TENANT, CONNECTION)
    assert get_resource(auth, server.resource_url).status_code == 200  # now holds the old key
    server.revoke_all_access_tokens()
    replaced = stack.service.store_credential(
        TENANT, CONNECTION, {"type": "bearer_token", "token": server.issue_access_token()}
    )
    assert get_resource(auth, server.resource_url).status_code == 401  # the old key
    assert stack.service.get_record(TENANT, replaced.id).status is CredentialStatus.ACTIVE
    assert stack.notable_events() == []
    assert _connection(stack).status is ConnectionStatus.ACTIVE


def test_reauthorizing_resumes_only_the_tasks_paused_for_it(
    server: OAuthServer, stack: Stack
) -> None:
    document = stack.documents.get(SyncTask.container, TENANT, "task-1")
    stack.documents.upsert(SyncTask.container, document | {"enabled": False})  # an admin's
    stack.service.store_credential(TENANT, CONNECTION, {"type": "bearer_token", "token": "bad"})
    auth = stack.service.auth_for(TENANT, CONNECTION)
    assert get_resource(auth, server.resource_url).status_code == 401
    assert _connection(stack).paused_task_ids == ["task-0"]

    stack.service.store_credential(
        TENANT, CONNECTION, {"type": "bearer_token", "token": server.issue_access_token()}
    )
    assert _connection(stack).status is ConnectionStatus.ACTIVE
    assert _connection(stack).paused_task_ids == []
    enabled = {
        n: stack.documents.get(SyncTask.container, TENANT, f"task-{n}")["enabled"] for n in (0, 1)
    }
    assert enabled == {0: True, 1: False}
