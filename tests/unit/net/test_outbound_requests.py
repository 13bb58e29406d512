"""Outbound requests go only where the policy allows, over real loopback servers.

The app's own clients are used: the adapters' (Connectors, through an embedded Runtime)
and the token endpoint's (CredentialService). A refused request must never arrive.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from integration_core.credentials import CredentialService
from integration_core.credentials.local import LocalSecretStore
from integration_core.errors import (
    ConfigurationError,
    ConnectionConfigurationError,
    PermanentError,
)
from integration_core.models import Connection, ConnectionStatus, SyncResult
from integration_core.net import OutboundPolicy, OutboundPolicyError, outbound_client
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.ports import validate_connection
from integration_core.runtime import Runtime
from integration_core.storage.sqlite import SqliteDocumentStore
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.http_servers import RecordingServer
from tests.harness.oauth_server import OAuthServer
from tests.harness.outbound import LOOPBACK
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit

TENANT = "t1"


def _runtime(tmp_path: Path, *, allow: str) -> Runtime:
    return embedded_runtime(tmp_path, {}, outbound_allow_private_cidrs=allow)


def _connect(rt: Runtime, base_url: str, *, token: str = "tok-4f9a1c2b7e") -> Connection:  # noqa: S107
    connect_sandbox(rt, "c1", seeded_account("c1", api_key=token), base_url=base_url)
    return Connection.from_document(rt.store.get(Connection.container, TENANT, "c1"))


def test_a_connection_to_loopback_is_refused_before_any_request(tmp_path: Path) -> None:
    with RecordingServer() as server:
        rt = _runtime(tmp_path, allow="")
        connection = _connect(rt, server.url)
        with (
            pytest.raises(ConfigurationError, match="not a public address"),
            rt.connectors.adapter_for(connection) as adapter,
        ):
            adapter.read_changes("contact", None, page_size=10)
        rt.close()
    assert server.received == []  # the bearer token never left


@pytest.mark.parametrize(
    "base_url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/_x"]
)
def test_other_schemes_are_a_configuration_error_not_a_retry(tmp_path: Path, base_url: str) -> None:
    rt = _runtime(tmp_path, allow="127.0.0.0/8")
    connection = Connection(
        id="c1", tenant_id=TENANT, system="sandbox", config={"base_url": base_url}
    )
    with pytest.raises(ConnectionConfigurationError, match="base_url"):
        validate_connection(connection)  # refused when it is made
    with pytest.raises(ConnectionConfigurationError, match="base_url"):
        rt.connectors.adapter_for(connection)  # and when one made before the check is used
    rt.close()


def test_a_refused_connection_is_marked_and_its_syncs_stop(tmp_path: Path) -> None:
    with RecordingServer() as server:
        rt = _runtime(tmp_path, allow="")
        _connect(rt, server.url)
        run_scheduler(rt)
        drained = drain_queues(rt)
        connection = Connection.from_document(rt.store.get(Connection.container, TENANT, "c1"))
        later = run_scheduler(rt, now=connection.created_at.replace(year=2999))
        rt.close()
    assert server.received == []
    assert drained.poisoned == []
    assert drained.failures == 0
    assert connection.status is ConnectionStatus.MISCONFIGURED
    (result,) = drained.results
    assert isinstance(result, SyncResult)
    assert any("not a public address" in error for error in result.errors)
    assert later.enqueued == []
    assert "misconfigured" in later.skipped["c1-contact"]


def _credential_service(tmp_path: Path) -> CredentialService:
    secrets = LocalSecretStore(tmp_path / "secrets.enc", LocalSecretStore.generate_key())
    return CredentialService(SqliteDocumentStore(":memory:"), secrets)


def test_a_token_url_on_loopback_is_refused_and_never_called(tmp_path: Path) -> None:
    service = _credential_service(tmp_path)  # the default policy, as in Azure
    with OAuthServer() as server:
        record = service.store_credential(
            TENANT,
            "c1",
            {
                "type": "oauth2_client_credentials",
                "token_url": server.token_url,
                "client_id": server.client_id,
                "client_secret": server.client_secret,
            },
        )
        with pytest.raises(ConfigurationError, match="not a public address"):
            service.fresh_credential(TENANT, record.id)
        assert server.calls == []
    service.close()


@pytest.mark.parametrize("token_url", ["file:///etc/passwd", "gopher://idp.example/_x", "/token"])
def test_a_token_url_that_is_not_http_is_refused_when_stored(
    tmp_path: Path, token_url: str
) -> None:
    service = _credential_service(tmp_path)
    with pytest.raises(ConfigurationError, match="token_url"):
        service.store_credential(
            TENANT,
            "c1",
            {
                "type": "oauth2_client_credentials",
                "token_url": token_url,
                "client_id": "id",
                "client_secret": "secret-value-1",
            },
        )
    service.close()


def test_every_redirect_hop_is_checked() -> None:
    policy = OutboundPolicy.from_setting("127.0.0.1/32")
    with RecordingServer(host="127.0.0.2") as inside:
        for target in (inside.url + "/admin", "file:///etc/passwd"):
            with (
                RecordingServer(status=302, headers={"Location": target}) as outside,
                outbound_client(policy, follow_redirects=True) as client,
                pytest.raises(OutboundPolicyError),
            ):
                client.get(outside.url + "/start")
            assert len(outside.received) == 1
    assert inside.received == []


def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    """DNS rebinding: each connection resolves once and connects to what it checked."""
    answers = iter(["127.0.0.1", "127.0.0.2"])
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return [next(answers)]

    policy = OutboundPolicy.from_setting("127.0.0.1/32")
    policy = OutboundPolicy(allowed=policy.allowed, resolve=resolve)
    with RecordingServer() as server:
        url = f"http://rebinding.test:{httpx.URL(server.url).port}/"
        with outbound_client(policy) as client:
            assert client.get(url, headers={"Connection": "close"}).status_code == 200
        with (
            outbound_client(policy) as client,
            pytest.raises(OutboundPolicyError, match="127.0.0.2"),
        ):
            client.get(url)
    assert lookups == ["rebinding.test", "rebinding.test"]
    assert len(server.received) == 1
    assert server.received[0].headers["Host"].startswith("rebinding.test")


def test_error_texts_carry_the_status_and_a_short_redacted_excerpt(tmp_path: Path) -> None:
    token = "tok-8d1e55c0a9"
    echo = {
        "message": "invalid property",
        "request": {"url": "/v1/objects/contacts?api_key=ak-77aa99", "auth": f"Bearer {token}"},
        "client_secret": "cs-1234567",
        "padding": "x" * 10_000,
    }
    with RecordingServer(status=422, body=json.dumps(echo).encode()) as server:
        rt = embedded_runtime(tmp_path, {})  # loopback allowed, as in development
        connection = _connect(rt, server.url, token=token)
        with (
            pytest.raises(PermanentError) as caught,
            rt.connectors.adapter_for(connection) as adapter,
        ):
            adapter.read_changes("contact", None, page_size=10)
        rt.close()
    text = str(caught.value)
    assert "HTTP 422" in text
    assert "invalid property" in text
    assert len(text) < 250
    for secret in (token, "ak-77aa99", "cs-1234567"):
        assert secret not in text


def test_loopback_allowed_for_development_still_works(tmp_path: Path) -> None:
    with RecordingServer() as server, outbound_client(LOOPBACK) as client:
        assert client.get(server.url).status_code == 200
