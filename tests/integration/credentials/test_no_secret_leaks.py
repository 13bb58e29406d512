"""Every credential code path at DEBUG: no secret value in logs, exceptions or documents."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from integration_core.clock import utcnow
from integration_core.credentials import CredentialService, MemoryEventSink, WebhookSecret
from integration_core.credentials.keyvault import KeyVaultSecretStore
from integration_core.credentials.local import LocalSecretStore
from integration_core.errors import LockstepError
from integration_core.pipelines.token_refresh import run_token_refresh
from integration_core.storage.base import CONTAINERS
from integration_core.storage.sqlite import SqliteDocumentStore
from tests.harness.keyvault_standin import KeyVaultStandin, self_signed_certificate
from tests.harness.oauth_server import OAuthServer
from tests.harness.outbound import LOOPBACK
from tests.harness.redis_server import RedisServer, redis_client
from tests.unit.credentials.support import CONNECTION, FAST_RETRY, TENANT, Stack, rsa_keypair

pytestmark = pytest.mark.integration


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.getMessage(), repr(record.args), repr(vars(record))]
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        self.texts.append("\n".join(parts))


@pytest.fixture
def captured() -> Iterator[_Collect]:
    handler = _Collect()
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def test_no_secret_value_appears_anywhere(
    captured: _Collect,
    redis_server_url: str,
    own_redis: RedisServer,
    lock_prefix: str,
    tmp_path: Path,
) -> None:
    errors: list[str] = []
    secrets: set[str] = set()

    def expect_error(call: object) -> None:
        try:
            call()  # type: ignore[operator]
        except (LockstepError, httpx.HTTPError) as err:
            errors.append("".join(traceback.format_exception(err)))
        else:
            raise AssertionError("expected an error")

    private, _public = rsa_keypair()
    cert, cert_key = self_signed_certificate(("client.example.test",))
    with OAuthServer() as server, KeyVaultStandin() as kv:
        secrets |= {server.client_secret, private, cert_key, kv.token}
        # Redis-backed instance on the local encrypted store.
        stack = Stack(
            tmp_path,
            LocalSecretStore.generate_key(),
            redis_client=redis_client(redis_server_url),
            lock_prefix=lock_prefix,
        )
        stack.seed_connection()
        cred = stack.store_auth_code(server)
        auth = stack.service.auth_for(TENANT, CONNECTION)  # on-use refresh
        server.revoke_all_access_tokens()
        with httpx.Client(auth=auth) as client:
            assert client.get(server.resource_url).status_code == 200  # 401 -> refresh
        server.fail_next(503, times=1)
        stack.service.refresh(TENANT, cred, force=True)  # 5xx then success, rotation
        server.fail_next(500, times=5)
        expect_error(lambda: stack.service.refresh(TENANT, cred, force=True))
        # Every type stored, used and (where it applies) applied to a request.
        others = {
            "c-api": {"type": "api_key", "key": "api-key-value-1", "header": "X-Key"},
            "c-basic": {"type": "basic", "username": "u", "password": "basic-password-1"},
            "c-bearer": {"type": "bearer_token", "token": "bearer-token-value-1"},
            "c-hook": {"type": "webhook_secret", "secret": "webhook-secret-value-1"},
            "c-cert": {
                "type": "client_certificate",
                "certificate_pem": cert,
                "private_key_pem": cert_key,
            },
            "c-cc": {
                "type": "oauth2_client_credentials",
                "token_url": server.token_url,
                "client_id": server.client_id,
                "client_secret": server.client_secret,
            },
            "c-jwt": {
                "type": "oauth2_jwt_bearer",
                "token_url": server.token_url,
                "issuer": "svc@example",
                "private_key": private,
            },
        }
        secrets |= {
            "api-key-value-1",
            "basic-password-1",
            "bearer-token-value-1",
            "webhook-secret-value-1",
            "webhook-secret-value-2",
        }
        server.register_public_key("svc@example", _public)
        for connection, payload in others.items():
            stack.service.store_credential(TENANT, connection, payload)
            options = stack.service.http_options(TENANT, connection)
            with httpx.Client(**options.client_kwargs()) as client:
                client.post(server.resource_url, content=b"{}")
        hook = stack.service.credential_id_for(TENANT, "c-hook")
        stack.service.rotate(
            TENANT, hook, WebhookSecret(secret="webhook-secret-value-2"), overlap=timedelta(hours=1)
        )
        assert len(stack.service.webhook_secrets(TENANT, hook)) == 2
        expect_error(
            lambda: stack.service.store_credential(
                TENANT,
                "c-bad",
                {"type": "basic", "username": "u", "password": 5, "extra": "basic-password-1"},
            )
        )
        # The TokenRefresher, then a dead grant.
        stack.service.store_credential(
            TENANT,
            "c-expiring",
            {
                "type": "oauth2_authorization_code",
                "token_url": server.token_url,
                "client_id": server.client_id,
                "client_secret": server.client_secret,
                "refresh_token": server.issue_refresh_token(),
                "access_token": "at-old-1",
            },
            expires_at=utcnow() + timedelta(minutes=10),
        )
        secrets.add("at-old-1")
        run_token_refresh(stack.service)
        for token in server.valid_refresh_tokens():
            server.revoke(token)
        expect_error(lambda: stack.service.refresh(TENANT, cred, force=True))

        # Redis going down mid-life.
        down = Stack(
            tmp_path / "down",
            LocalSecretStore.generate_key(),
            redis_client=own_redis.client(),
            lock_prefix=lock_prefix,
        )
        down_cred = down.store_auth_code(server)
        own_redis.stop()
        down.access_token(down_cred)

        # Key Vault backend (the real SDK over HTTPS, challenge auth) and a slow endpoint.
        vault_docs = SqliteDocumentStore(":memory:")
        vault = KeyVaultSecretStore(
            kv.url,
            credential=kv.credential(),
            delete_poll_interval=0.02,
            purge_on_delete=True,
            client_options={"connection_verify": kv.ca_path, "verify_challenge_resource": False},
        )
        on_vault = CredentialService(
            vault_docs,
            vault,
            events=MemoryEventSink(),
            retry=FAST_RETRY,
            token_timeout_seconds=0.2,
            outbound=LOOPBACK,
        )
        kv_cred = on_vault.store_credential(
            TENANT,
            "c-kv",
            {
                "type": "oauth2_authorization_code",
                "token_url": server.token_url,
                "client_id": server.client_id,
                "client_secret": server.client_secret,
                "refresh_token": server.issue_refresh_token(),
            },
        ).id
        on_vault.fresh_credential(TENANT, kv_cred)
        server.delay_seconds = 0.5
        expect_error(lambda: on_vault.refresh(TENANT, kv_cred, force=True))
        server.delay_seconds = 0.0
        on_vault.delete_credential(TENANT, kv_cred)
        on_vault.close()
        vault.close()

        secrets |= server.issued_tokens()
        documents = [
            json.dumps(doc)
            for store in (stack.documents, down.documents, vault_docs)
            for container in CONTAINERS
            for doc in store.query(container)
        ]
        stack.close()
        down.close()

    assert len(secrets) > 20
    assert captured.texts
    assert documents
    assert errors
    for secret in secrets:
        assert all(secret not in text for text in captured.texts), "secret in a log record"
        leaked = [t for t in errors if secret in t]
        assert not leaked, f"secret in an exception: {leaked[0][-3000:] if leaked else None}"
        assert all(secret not in text for text in documents), "secret in a stored document"
