"""The OAuth connect flow through the function host, against the loopback OAuth server
(tests/harness/oauth_server.py) and a sandbox served over loopback HTTP, on the embedded
stack: start → authorize → callback → the first sync with the stored token, and every
way it must refuse — denied consent, a forged, replayed or expired state, a wrong PKCE
verifier, a failing token endpoint, another tenant's key.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.admin import AuditEntry
from integration_core.clock import utcnow
from integration_core.connect import ConnectState
from integration_core.credentials.records import CredentialRecord
from integration_core.credentials.types import OAuth2AuthorizationCode
from integration_core.models import Connection
from integration_core.pipelines.drain import drain_queues
from integration_core.storage import ETAG
from tests.harness.function_host import FunctionHost, embedded_app_settings
from tests.harness.oauth_connect import authorize, oauth_clients, query_of
from tests.harness.oauth_server import OAuthServer, s256
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit

TENANT, OTHER = "t1", "t2"


@dataclass
class Provider:
    oauth: OAuthServer
    sandbox: SandboxServer


@pytest.fixture
def provider() -> Iterator[Provider]:
    account = seeded_account("crm", contacts=3)
    # The sandbox's API accepts its one key: the OAuth server issues that as access token.
    with (
        SandboxServer(account) as sandbox,
        OAuthServer(fixed_access_token=account.api_key) as oauth,
    ):
        yield Provider(oauth, sandbox)


@pytest.fixture
def host(tmp_path: Path, provider: Provider) -> Iterator[FunctionHost]:
    settings = embedded_app_settings(tmp_path) | {"OAUTH_CLIENTS": oauth_clients(provider.oauth)}
    host = FunctionHost(settings, inline_queue=True, tenant=TENANT)
    yield host
    host.runtime().close()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_body()
    return json.loads(response.get_body()) if response.get_body() else None


def create_connection(host: FunctionHost, provider: Provider, name: str = "crm") -> None:
    body = {"id": name, "system": "sandbox", "config": {"base_url": provider.sandbox.base_url}}
    ok(host.http("POST", "/api/admin/connections", body=json.dumps(body).encode()), 201)


def start(host: FunctionHost, name: str = "crm") -> dict[str, Any]:
    found: dict[str, Any] = ok(host.http("POST", f"/api/admin/connections/{name}/oauth/start"))
    return found


def callback(host: FunctionHost, location: str) -> Any:
    parts = urlsplit(location)
    assert parts.path == "/api/connect/callback", location
    return host.http("GET", f"{parts.path}?{parts.query}")


def page(response: Any, status: int) -> str:
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    text: str = response.get_body().decode()
    assert "Traceback" not in text
    return text


def connection(host: FunctionHost, name: str = "crm") -> Connection:
    return Connection.from_document(host.runtime().store.get(Connection.container, TENANT, name))


def the_state(host: FunctionHost) -> dict[str, Any]:
    (document,) = host.runtime().store.query(ConnectState.container, partition_key=TENANT)
    return document


def code_grants(oauth: OAuthServer) -> list[int]:
    return [c.status for c in oauth.calls if c.grant_type == "authorization_code"]


def assert_no_secret_in(text: str, provider: Provider, *extra: str) -> None:
    for secret in (*provider.oauth.issued_tokens(), provider.oauth.client_secret, *extra):
        assert secret not in text


def test_connecting_stores_the_tokens_activates_the_connection_and_the_first_sync_runs(
    host: FunctionHost, provider: Provider
) -> None:
    create_connection(host, provider)
    started = start(host)
    assert started["connectionId"] == "crm"
    assert started["redirectUri"] == "http://localhost/api/connect/callback"
    params = query_of(started["authorizeUrl"])
    assert started["authorizeUrl"].startswith(provider.oauth.authorize_url + "?")
    assert params["response_type"] == "code"
    assert params["client_id"] == provider.oauth.client_id
    assert params["redirect_uri"] == started["redirectUri"]
    assert params["scope"] == "contacts companies"
    assert params["code_challenge_method"] == "S256"
    state = the_state(host)
    # The verifier stays here; what the provider sees is its S256 hash. The state is
    # stored only as its hash.
    assert params["code_challenge"] == s256(state["codeVerifier"])
    assert state["codeVerifier"] not in started["authorizeUrl"]
    assert params["state"] not in json.dumps(state)

    location = authorize(started["authorizeUrl"])
    assert query_of(location)["state"] == params["state"]
    text = page(callback(host, location), 200)
    assert "Connected" in text
    assert "crm" in text
    assert_no_secret_in(text, provider, query_of(location)["code"], params["state"])
    assert code_grants(provider.oauth) == [200]

    connected = connection(host)
    assert connected.status.value == "active"
    assert connected.credential_id is not None
    rt = host.runtime()
    _, payload = rt.credentials.fresh_credential(TENANT, connected.credential_id)
    assert isinstance(payload, OAuth2AuthorizationCode)
    assert payload.client_id == provider.oauth.client_id
    assert payload.token_url == provider.oauth.token_url
    assert payload.refresh_token.get_secret_value() in provider.oauth.valid_refresh_tokens()
    assert payload.scope == "contacts companies"
    record = rt.store.get(CredentialRecord.container, TENANT, connected.credential_id)
    assert record["expiresAt"] is not None  # from expires_in: refreshed before it ends
    assert_no_secret_in(json.dumps(record), provider)
    audit = [a for a in rt.store.query(AuditEntry.container, partition_key=TENANT)]
    assert [(a["action"], a["resourceId"]) for a in audit if a["action"] == "connect"] == [
        ("connect", "crm")
    ]

    # The first sync reads the sandbox with the token the flow stored.
    task = {"id": "crm-contacts", "connectionId": "crm", "entityType": "contact"}
    ok(host.http("POST", "/api/admin/tasks", body=json.dumps(task).encode()), 201)
    result_id = ok(host.http("POST", "/api/admin/tasks/crm-contacts/run"), 202)["resultId"]
    drain_queues(rt)
    result = ok(host.http("GET", f"/api/admin/results/{result_id}"))
    assert (result["status"], result["recordsRead"], result["created"]) == ("success", 3, 3)


def test_a_replayed_callback_is_refused_and_the_code_is_not_exchanged_twice(
    host: FunctionHost, provider: Provider
) -> None:
    create_connection(host, provider)
    location = authorize(start(host)["authorizeUrl"])
    page(callback(host, location), 200)
    text = page(callback(host, location), 400)
    assert "already used" in text
    assert code_grants(provider.oauth) == [200]


def test_denied_consent_is_a_clear_page_and_connects_nothing(
    host: FunctionHost, provider: Provider
) -> None:
    create_connection(host, provider)
    provider.oauth.consent = "deny"
    location = authorize(start(host)["authorizeUrl"])
    assert query_of(location)["error"] == "access_denied"
    text = page(callback(host, location), 400)
    assert "Access was not granted" in text
    assert "crm" in text
    assert connection(host).credential_id is None
    assert code_grants(provider.oauth) == []
    # The flow is over: its state cannot be used for a code afterwards.
    forged = location.replace("error=access_denied", "code=ac-guessed")
    assert "already used" in page(callback(host, forged), 400)


@pytest.mark.parametrize(
    "query",
    [
        f"code=ac-x&state={secrets.token_urlsafe(32)}",  # well formed, never issued
        "code=ac-x&state=not%20a%20state",
        "code=ac-x",  # no state at all
        "error=access_denied",
    ],
)
def test_a_state_this_deployment_did_not_issue_is_refused(
    host: FunctionHost, provider: Provider, query: str
) -> None:
    create_connection(host, provider)
    start(host)
    text = page(host.http("GET", f"/api/connect/callback?{query}"), 400)
    assert "This link is not valid" in text
    assert code_grants(provider.oauth) == []
    assert connection(host).credential_id is None


def test_an_expired_state_is_refused(host: FunctionHost, provider: Provider) -> None:
    create_connection(host, provider)
    location = authorize(start(host)["authorizeUrl"])
    store = host.runtime().store
    state = the_state(host)
    past = (utcnow() - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    store.upsert(ConnectState.container, state | {"expiresAt": past}, if_match=state[ETAG])
    text = page(callback(host, location), 400)
    assert "expired" in text
    assert code_grants(provider.oauth) == []
    assert connection(host).credential_id is None


def test_a_verifier_that_does_not_match_the_challenge_is_refused_by_the_provider(
    host: FunctionHost, provider: Provider
) -> None:
    create_connection(host, provider)
    location = authorize(start(host)["authorizeUrl"])
    store = host.runtime().store
    state = the_state(host)
    wrong = secrets.token_urlsafe(64)
    store.upsert(ConnectState.container, state | {"codeVerifier": wrong}, if_match=state[ETAG])
    text = page(callback(host, location), 502)
    assert "refused" in text
    assert "invalid_grant" in text
    assert_no_secret_in(text, provider, wrong, query_of(location)["code"])
    assert code_grants(provider.oauth) == [400]
    assert connection(host).credential_id is None


def test_a_failing_token_endpoint_is_a_try_again_page(
    host: FunctionHost, provider: Provider
) -> None:
    create_connection(host, provider)
    location = authorize(start(host)["authorizeUrl"])
    provider.oauth.fail_next(503, {"error": "temporarily_unavailable"})
    response = callback(host, location)
    text = page(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    assert "not answering" in text
    assert "503" in text
    assert connection(host).credential_id is None
    assert connection(host).status.value == "active"  # untouched: it was never connected


def test_a_key_of_another_tenant_cannot_start_the_connect_flow(
    host: FunctionHost, provider: Provider
) -> None:
    create_connection(host, provider)
    response = host.http("POST", "/api/admin/connections/crm/oauth/start", tenant=OTHER)
    assert response.status_code == 404, response.get_body()
    assert response.mimetype == "application/problem+json"
    assert host.runtime().store.query(ConnectState.container) == []
    assert (
        host.http(
            "POST",
            "/api/admin/connections/crm/oauth/start",
            headers={"Authorization": "Bearer nope"},
        ).status_code
        == 401
    )


def test_a_connection_that_cannot_use_oauth_is_refused_with_the_reason(
    host: FunctionHost, provider: Provider
) -> None:
    body = {"id": "hs", "system": "hubspot", "config": {}}
    ok(host.http("POST", "/api/admin/connections", body=json.dumps(body).encode()), 201)
    response = host.http("POST", "/api/admin/connections/hs/oauth/start")
    assert response.status_code == 422, response.get_body()
    assert "no OAuth app for hubspot" in json.loads(response.get_body())["detail"]
    assert host.http("POST", "/api/admin/connections/nope/oauth/start").status_code == 404


def test_the_connection_s_scopes_replace_the_provider_s(
    host: FunctionHost, provider: Provider
) -> None:
    body = {
        "id": "crm",
        "system": "sandbox",
        "config": {"base_url": provider.sandbox.base_url, "oauth_scopes": ["contacts"]},
    }
    ok(host.http("POST", "/api/admin/connections", body=json.dumps(body).encode()), 201)
    location = authorize(start(host)["authorizeUrl"])
    assert provider.oauth.authorize_requests[-1].scope == "contacts"
    page(callback(host, location), 200)


def test_an_oversized_callback_query_is_a_400(host: FunctionHost) -> None:
    response = host.http("GET", f"/api/connect/callback?state={'a' * 600}&code=x")
    assert response.status_code == 400


def test_concurrent_callbacks_with_one_state_connect_once(
    host: FunctionHost, provider: Provider
) -> None:
    create_connection(host, provider)
    location = authorize(start(host)["authorizeUrl"])
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(
            r.status_code for r in pool.map(lambda _: callback(host, location), range(4))
        )
    assert statuses == [200, 400, 400, 400]
    assert code_grants(provider.oauth) == [200]


def test_the_token_endpoint_is_called_through_the_outbound_policy(
    tmp_path: Path, provider: Provider
) -> None:
    """An OAuth app whose token endpoint is a cloud metadata address: refused, whatever
    the allow-list says, before any request leaves."""
    clients = {
        "sandbox": {
            "client_id": provider.oauth.client_id,
            "client_secret": provider.oauth.client_secret,
            "authorize_url": provider.oauth.authorize_url,
            "token_url": "http://169.254.169.254/oauth/token",
        }
    }
    settings = embedded_app_settings(tmp_path) | {"OAUTH_CLIENTS": json.dumps(clients)}
    host = FunctionHost(settings, inline_queue=True, tenant=TENANT)
    try:
        create_connection(host, provider)
        text = page(callback(host, authorize(start(host)["authorizeUrl"])), 502)
        assert "cannot reach the provider" in text
        assert connection(host).credential_id is None
    finally:
        host.runtime().close()
