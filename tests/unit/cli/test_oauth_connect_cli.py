"""The OAuth connect flow as a user runs it: `lockstep serve` in a subprocess driven over
loopback HTTP (start → the provider's consent → the callback → the first sync), and
`lockstep connections connect` printing the authorize URL.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from adapters.sandbox_server import SandboxServer
from tests.harness.oauth_connect import authorize, oauth_clients, query_of
from tests.harness.oauth_server import OAuthServer
from tests.harness.sandbox import seeded_account
from tests.unit.cli.conftest import lockstep
from tests.unit.cli.test_serve import wait_for

pytestmark = [pytest.mark.unit, pytest.mark.slow]


def test_serve_connects_a_connection_with_oauth_and_syncs_with_the_stored_token(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    account = seeded_account("crm", contacts=3)
    with (
        SandboxServer(account) as crm,
        OAuthServer(fixed_access_token=account.api_key) as oauth,
    ):
        monkeypatch.setenv("OAUTH_CLIENTS", oauth_clients(oauth))
        process, base = request.getfixturevalue("served")
        issued = lockstep(
            "--tenant", "t1", "--json", "keys", "issue", "--name", "t", workdir=tmp_path / "data"
        )
        assert issued.returncode == 0, issued.stderr
        key = json.loads(issued.stdout)["key"]
        with httpx.Client(
            base_url=base + "/", headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            created = client.post(
                "admin/connections",
                json={"id": "crm", "system": "sandbox", "config": {"base_url": crm.base_url}},
            )
            assert created.status_code == 201, created.text
            started = client.post("admin/connections/crm/oauth/start")
            assert started.status_code == 200, started.text
            # The callback on the address the request came to: this server's.
            assert started.json()["redirectUri"] == base + "/connect/callback"

            oauth.consent = "deny"
            denied = httpx.get(authorize(started.json()["authorizeUrl"]), timeout=30)
            assert denied.status_code == 400
            assert "Access was not granted" in denied.text

            oauth.consent = "approve"
            location = authorize(
                client.post("admin/connections/crm/oauth/start").json()["authorizeUrl"]
            )
            assert location.startswith(base + "/connect/callback?")
            connected = httpx.get(location, timeout=30)
            assert connected.status_code == 200, connected.text
            assert connected.headers["content-type"].startswith("text/html")
            assert "Connected" in connected.text
            assert query_of(location)["code"] not in connected.text
            replayed = httpx.get(location, timeout=30)
            assert replayed.status_code == 400
            assert "already used" in replayed.text
            forged = httpx.get(base + "/connect/callback?code=x&state=" + "A" * 43, timeout=30)
            assert forged.status_code == 400

            assert client.get("admin/connections/crm").json()["status"] == "active"
            task = {"id": "crm-contacts", "connectionId": "crm", "entityType": "contact"}
            assert client.post("admin/tasks", json=task).status_code == 201
            result_id = client.post("admin/tasks/crm-contacts/run").json()["resultId"]
            result = wait_for(client, f"admin/results/{result_id}")
            assert result.status_code == 200, result.text
            assert (result.json()["status"], result.json()["created"]) == ("success", 3)

        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    serve_log = (tmp_path / "serve.log").read_text()
    assert process.returncode == 0, serve_log
    for secret in (*oauth.issued_tokens(), oauth.client_secret, query_of(location)["state"]):
        assert secret not in serve_log


def test_the_cli_prints_the_authorize_url_of_a_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with OAuthServer() as oauth:
        monkeypatch.setenv("OAUTH_CLIENTS", oauth_clients(oauth))
        data = tmp_path / "data"
        data.mkdir()
        created = lockstep(
            "--tenant",
            "t1",
            "connections",
            "create",
            "crm",
            "--system",
            "sandbox",
            "--config",
            '{"base_url": "https://crm.example"}',
            workdir=data,
        )
        assert created.returncode == 0, created.stderr
        printed = lockstep("--tenant", "t1", "connections", "connect", "crm", workdir=data)
        assert printed.returncode == 0, printed.stderr
        url = printed.stdout.strip()
        assert url.startswith(oauth.authorize_url + "?")
        params = query_of(url)
        assert params["redirect_uri"] == "http://127.0.0.1:7071/api/connect/callback"
        assert params["code_challenge_method"] == "S256"
        assert "crm" in printed.stderr  # the hint goes to stderr, the URL alone to stdout

        as_json = lockstep(
            "--tenant",
            "t1",
            "--json",
            "connections",
            "connect",
            "crm",
            "--redirect-url",
            "https://lockstep.example/api/connect/callback",
            workdir=data,
        )
        assert as_json.returncode == 0, as_json.stderr
        started = json.loads(as_json.stdout)
        assert started["redirectUri"] == "https://lockstep.example/api/connect/callback"
        assert query_of(started["authorizeUrl"])["redirect_uri"] == started["redirectUri"]

        missing = lockstep("--tenant", "t1", "connections", "connect", "nope", workdir=data)
        assert missing.returncode == 3
        other = lockstep("--tenant", "t2", "connections", "connect", "crm", workdir=data)
        assert other.returncode == 3
        bad = lockstep(
            "--tenant", "t1", "connections", "connect", "crm", "--redirect-url", "x", workdir=data
        )
        assert bad.returncode == 2
    assert oauth.client_secret not in printed.stdout + printed.stderr + as_json.stdout
