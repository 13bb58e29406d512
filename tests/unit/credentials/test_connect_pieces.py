"""The connect flow's pieces on their own: the harness's authorization endpoint and code
grant (kept honest: it refuses what a real server refuses), the deployment's OAuth client
setting, and the single-use state under concurrent callbacks.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from integration_core.clock import utcnow
from integration_core.connect import (
    ConnectState,
    OAuthClient,
    StateProblem,
    StateRefusedError,
    consume_state,
    endpoints_for,
    issue_state,
    parse_clients,
)
from integration_core.errors import ConfigurationError
from integration_core.observability import redact
from integration_core.ports.oauth import OAuthSpec, oauth_spec
from integration_core.runtime import build_runtime
from integration_core.storage import DocumentStore
from integration_core.storage.sqlite import SqliteDocumentStore
from tests.harness.embedded import embedded_settings
from tests.harness.oauth_connect import authorize, query_of
from tests.harness.oauth_server import OAuthServer, s256

pytestmark = pytest.mark.unit

REDIRECT = "http://127.0.0.1:7071/api/connect/callback"


def authorize_url(server: OAuthServer, challenge: str, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": server.client_id,
        "redirect_uri": REDIRECT,
        "state": "s-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "contacts",
    } | extra
    return str(httpx.URL(server.authorize_url, params=params))


def exchange(server: OAuthServer, code: str, verifier: str, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
    } | extra
    return httpx.post(server.token_url, data=form, timeout=10)


# -- the harness's authorization server ------------------------------------------------


def test_s256_is_rfc_7636_appendix_b() -> None:
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_the_code_grant_checks_verifier_redirect_client_and_single_use() -> None:
    verifier = base64.urlsafe_b64encode(b"v" * 48).rstrip(b"=").decode()
    with OAuthServer() as server:
        code = query_of(authorize(authorize_url(server, s256(verifier))))["code"]
        assert exchange(server, code, verifier + "x").json()["error"] == "invalid_grant"
        # The code died with the failed attempt, as single-use codes do.
        assert exchange(server, code, verifier).json()["error"] == "invalid_grant"

        code = query_of(authorize(authorize_url(server, s256(verifier))))["code"]
        other = {"redirect_uri": "http://127.0.0.1:1/elsewhere"}
        assert exchange(server, code, verifier, **other).json()["error"] == "invalid_grant"

        code = query_of(authorize(authorize_url(server, s256(verifier))))["code"]
        assert exchange(server, code, verifier, client_secret="no").status_code == 401

        code = query_of(authorize(authorize_url(server, s256(verifier))))["code"]
        granted = exchange(server, code, verifier)
        assert granted.status_code == 200
        body = granted.json()
        assert body["refresh_token"] in server.valid_refresh_tokens()
        assert body["scope"] == "contacts"
        assert exchange(server, code, verifier).json()["error"] == "invalid_grant"


def test_the_authorize_endpoint_requires_pkce_and_a_known_client() -> None:
    with OAuthServer() as server:
        plain = authorize(authorize_url(server, "abc", code_challenge_method="plain"))
        assert query_of(plain) == {
            "error": "invalid_request",
            "error_description": "PKCE S256 is required",
            "state": "s-1",
        }
        unknown = httpx.get(authorize_url(server, "abc", client_id="who"), timeout=10)
        assert unknown.status_code == 400  # no redirect to an unverified client's URI
        server.consent = "deny"
        assert query_of(authorize(authorize_url(server, "abc")))["error"] == "access_denied"


# -- OAUTH_CLIENTS ----------------------------------------------------------------------


def test_oauth_clients_errors_name_the_system_and_field_never_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sandbox: client_id") as caught:
        parse_clients(json.dumps({"sandbox": {"client_secret": "s3cr3t-value"}}))
    assert "s3cr3t-value" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="OAUTH_CLIENTS: not a JSON object") as raised:
        embedded_settings(tmp_path, oauth_clients='{"sandbox": "s3cr3t-value"')
    assert "s3cr3t-value" not in str(raised.value)
    with pytest.raises(ConfigurationError, match="OAUTH_REDIRECT_URL"):
        embedded_settings(tmp_path, oauth_redirect_url="https://x.example/cb#frag")


def test_relative_endpoints_are_placed_by_the_client_s_base_url() -> None:
    sandbox = oauth_spec("sandbox")
    assert sandbox is not None
    client = OAuthClient(client_id="c", base_url="https://sandbox.example/root")
    placed = endpoints_for(sandbox, client)
    assert placed.authorize_url == "https://sandbox.example/root/oauth/authorize"
    assert placed.token_url == "https://sandbox.example/root/oauth/token"
    with pytest.raises(ValueError, match="relative"):
        endpoints_for(sandbox, OAuthClient(client_id="c"))
    hubspot = oauth_spec("hubspot")
    assert hubspot is not None
    overridden = endpoints_for(
        hubspot, OAuthClient(client_id="c", scopes=["crm.objects.contacts.read"])
    )
    assert overridden.token_url == "https://api.hubapi.com/oauth/v1/token"
    assert overridden.scopes == ("crm.objects.contacts.read",)
    assert endpoints_for(OAuthSpec("https://a.example/auth", "https://a.example/token"), client)


def test_client_secrets_are_redacted_from_logs(tmp_path: Path) -> None:
    secret = "oauth-client-secret-" + "q" * 20
    settings = embedded_settings(
        tmp_path, oauth_clients=json.dumps({"sandbox": {"client_id": "c", "client_secret": secret}})
    )
    build_runtime(settings).close()
    assert secret not in redact(f"the token endpoint echoed {secret} back")


# -- the state ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("cosmos", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "cosmos":
        yield request.getfixturevalue("cosmos_store")
        return
    sqlite = SqliteDocumentStore(tmp_path / "s.sqlite3")
    yield sqlite
    sqlite.close()


def test_of_concurrent_callbacks_with_one_state_exactly_one_wins(store: DocumentStore) -> None:
    state, issued = issue_state(
        store, "t1", "crm", system="sandbox", redirect_uri=REDIRECT, actor="key:k"
    )
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def callback() -> None:
        barrier.wait()
        try:
            consume_state(store, state)
            outcomes.append("won")
        except StateRefusedError as err:
            outcomes.append(err.problem.value)

    threads = [threading.Thread(target=callback) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["used"] * 7 + ["won"]
    stored = ConnectState.from_document(store.get(ConnectState.container, "t1", issued.id))
    assert stored.used_at is not None


def test_a_state_expires_after_its_ttl(store: DocumentStore) -> None:
    state, issued = issue_state(
        store, "t1", "crm", system="sandbox", redirect_uri=REDIRECT, actor="key:k"
    )
    with pytest.raises(StateRefusedError) as refused:
        consume_state(store, state, now=issued.expires_at + timedelta(microseconds=1))
    assert refused.value.problem is StateProblem.EXPIRED
    assert consume_state(store, state, now=utcnow()).connection_id == "crm"
    with pytest.raises(StateRefusedError, match="unknown"):
        consume_state(store, state[:-1] + ("A" if state[-1] != "A" else "B"))


def test_no_log_line_of_a_flow_carries_its_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = SqliteDocumentStore(tmp_path / "s.sqlite3")
    state, _ = issue_state(store, "t1", "crm", system="sandbox", redirect_uri=REDIRECT, actor="a")
    consume_state(store, state)
    assert state not in caplog.text
    store.close()
