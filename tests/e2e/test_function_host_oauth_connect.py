"""The OAuth connect flow end to end on the local stack (Cosmos emulator, Azurite queues,
Redis) through the function host: start → the provider's consent (the harness OAuth
server) → the callback → the first sync, which reads the source with the stored token and
writes every contact to the target through the real queues.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.connect import ConnectState
from integration_core.credentials.records import CredentialRecord
from integration_core.models import Connection
from tests.harness.function_host import FunctionHost
from tests.harness.oauth_connect import authorize, oauth_clients
from tests.harness.oauth_server import OAuthServer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

Systems = dict[str, tuple[SandboxAccount, SandboxServer]]


@pytest.fixture
def oauth(systems: Systems) -> Iterator[OAuthServer]:
    crm, _ = systems["crm"]
    with OAuthServer(fixed_access_token=crm.api_key) as server:
        yield server


@pytest.fixture
def extra_settings(oauth: OAuthServer) -> dict[str, str]:
    return {"OAUTH_CLIENTS": oauth_clients(oauth)}


def post(host: FunctionHost, path: str, body: object = None) -> dict[str, object]:
    raw = b"" if body is None else json.dumps(body).encode()
    response = host.http("POST", f"/api/admin/{path}", body=raw)
    assert response.status_code in (200, 201, 202), response.get_body()
    found: dict[str, object] = json.loads(response.get_body())
    return found


def test_a_connection_connected_with_oauth_syncs_with_its_stored_token(
    host: FunctionHost, systems: Systems, oauth: OAuthServer
) -> None:
    (_, crm_server), (mkt, mkt_server) = systems["crm"], systems["mkt"]
    post(
        host,
        "connections",
        {"id": "crm", "system": "sandbox", "config": {"base_url": crm_server.base_url}},
    )
    post(
        host,
        "connections",
        {
            "id": "mkt",
            "system": "sandbox",
            "config": {"base_url": mkt_server.base_url},
            "credential": {"type": "bearer_token", "token": mkt.api_key},
        },
    )
    task = {
        "id": "crm-contacts",
        "connectionId": "crm",
        "entityType": "contact",
        "targetConnectionIds": ["mkt"],
    }
    post(host, "tasks", task)

    started = post(host, "connections/crm/oauth/start")
    location = urlsplit(authorize(str(started["authorizeUrl"])))
    callback = host.http("GET", f"{location.path}?{location.query}")
    assert callback.status_code == 200, callback.get_body()
    replayed = host.http("GET", f"{location.path}?{location.query}")
    assert replayed.status_code == 400

    store = host.module.runtime().store
    connection = Connection.from_document(store.get(Connection.container, "t1", "crm"))
    assert connection.status.value == "active"
    assert connection.credential_id is not None
    record = store.get(CredentialRecord.container, "t1", connection.credential_id)
    stored = json.dumps([record, *store.query(ConnectState.container, partition_key="t1")])
    for secret in (*oauth.issued_tokens(), oauth.client_secret):
        assert secret not in stored  # the store holds metadata; the secrets, Key Vault

    result_id = post(host, "tasks/crm-contacts/run")["resultId"]
    host.drain(("InboundWorker", "OutboundWorker"))
    result = json.loads(host.http("GET", f"/api/admin/results/{result_id}").get_body())
    assert (result["status"], result["recordsRead"]) == ("success", 15)
    assert len(mkt.records("contacts")) == 15
