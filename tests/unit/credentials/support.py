"""Builders shared by the credential tests (unit and integration) and their worker processes."""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from integration_core.credentials import (
    Broadcast,
    CredentialEvent,
    CredentialEventKind,
    CredentialService,
    MemoryEventSink,
    OAuth2AuthorizationCode,
    RetryPolicy,
)
from integration_core.credentials.local import LocalSecretStore
from integration_core.models import Connection, SyncTask
from integration_core.pipelines.reauth import PauseSyncsOnReauth
from integration_core.storage.sqlite import SqliteDocumentStore
from tests.harness.oauth_server import OAuthServer
from tests.harness.outbound import LOOPBACK

TENANT = "tenant-a"
CONNECTION = "conn-hubspot"
FAST_RETRY = RetryPolicy(attempts=3, base_seconds=0.01, max_seconds=0.05)


@functools.cache
def rsa_keypair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class Stack:
    """One instance's view: its own store handles and service over shared files."""

    def __init__(
        self,
        folder: Path,
        key: str,
        *,
        redis_client: redis.Redis | None = None,
        lock_prefix: str = "lockstep:test:credlock:",
        **service_kwargs: Any,
    ) -> None:
        self.documents = SqliteDocumentStore(folder / "docs.sqlite")
        self.secrets = LocalSecretStore(folder / "secrets.json", key)
        self.events = MemoryEventSink()
        service_kwargs.setdefault("retry", FAST_RETRY)
        service_kwargs.setdefault("reauth_grace_seconds", 0.3)
        service_kwargs.setdefault("outbound", LOOPBACK)
        self.service = CredentialService(
            self.documents,
            self.secrets,
            redis_client=redis_client,
            events=Broadcast(PauseSyncsOnReauth(self.documents), self.events),
            lock_prefix=lock_prefix,
            **service_kwargs,
        )

    def notable_events(self) -> list[CredentialEvent]:
        """The events a test asserts on: all but the plain "stored" of each put."""
        return [e for e in self.events.events if e.kind is not CredentialEventKind.STORED]

    def close(self) -> None:
        self.service.close()
        self.documents.close()

    def seed_connection(self, *, tasks: int = 2) -> None:
        self.documents.upsert(
            Connection.container,
            Connection(id=CONNECTION, tenant_id=TENANT, system="hubspot").to_document(),
        )
        for n in range(tasks):
            self.documents.upsert(
                SyncTask.container,
                SyncTask(
                    id=f"task-{n}",
                    tenant_id=TENANT,
                    connection_id=CONNECTION,
                    entity_type="contact",
                ).to_document(),
            )

    def store_auth_code(
        self,
        server: OAuthServer,
        *,
        access_token: str | None = None,
        expires_at: datetime | None = None,
        refresh_token: str | None = None,
    ) -> str:
        payload: dict[str, Any] = {
            "type": "oauth2_authorization_code",
            "token_url": server.token_url,
            "client_id": server.client_id,
            "client_secret": server.client_secret,
            "refresh_token": refresh_token or server.issue_refresh_token(),
        }
        if access_token is not None:
            payload["access_token"] = access_token
        record = self.service.store_credential(TENANT, CONNECTION, payload, expires_at=expires_at)
        return record.id

    def access_token(self, credential_id: str) -> str:
        _, payload = self.service.fresh_credential(TENANT, credential_id)
        assert isinstance(payload, OAuth2AuthorizationCode)
        assert payload.access_token is not None
        return payload.access_token.get_secret_value()


def race_worker(
    folder: str,
    key: str,
    redis_url: str | None,
    lock_prefix: str,
    credential_id: str,
    go: Any,
    results: Any,
) -> None:
    """One racing process: wait for the start signal, then get a fresh token."""
    logging.basicConfig(level=logging.WARNING)
    client = redis.Redis.from_url(redis_url) if redis_url else None
    stack = Stack(Path(folder), key, redis_client=client, lock_prefix=lock_prefix)
    try:
        go.wait(30)
        results.put(("ok", stack.access_token(credential_id)))
    except Exception as err:  # noqa: BLE001 - reported to the parent test
        results.put(("error", f"{type(err).__name__}: {err}"))
    finally:
        stack.close()


def get_resource(auth: httpx.Auth, url: str) -> httpx.Response:
    with httpx.Client(auth=auth, timeout=10) as client:
        return client.get(url)
