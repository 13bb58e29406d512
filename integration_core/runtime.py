"""Builds the object graph from settings: the only place that chooses a backend.

Backend modules are imported only when chosen, so the embedded demo does not load the
Azure SDKs it does not use.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import redis
from azure.core.credentials import TokenCredential
from pydantic import SecretStr
from redis.credentials import CredentialProvider

from integration_core.connectors import Connectors
from integration_core.credentials.base import SecretStore
from integration_core.credentials.events import Broadcast, LoggingEventSink
from integration_core.credentials.service import CredentialService
from integration_core.errors import RetryableError
from integration_core.messaging import MessageQueue
from integration_core.models import Connection
from integration_core.net import OutboundPolicy
from integration_core.observability import register_secrets
from integration_core.ports import IntegrationAdapter
from integration_core.ratelimit import RateLimiter, connection_key
from integration_core.ratelimit.limiter import LimiterOptions
from integration_core.resilience import BreakerConfig, CircuitBreaker
from integration_core.settings import QueueBackend, SecretBackend, Settings, StoreBackend
from integration_core.storage import DocumentStore
from integration_core.webhooks.bodies import BodyStore, FileBodyStore

__all__ = ["Runtime", "build_runtime"]

log = logging.getLogger(__name__)

_Client = TypeVar("_Client")


@dataclass
class Runtime:
    """Everything a pipeline needs, built once per process (or per test)."""

    settings: Settings
    store: DocumentStore
    queue: MessageQueue
    secrets: SecretStore
    credentials: CredentialService
    connectors: Connectors
    limiter: RateLimiter
    bodies: BodyStore
    redis: redis.Redis | None = None
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    # Told, per tenant, whether each budget was decided by the limiter's local fallback.
    limiter_watch: Callable[[str, bool], None] | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def health_probes(self) -> dict[str, Callable[[], None]]:
        probes: dict[str, Callable[[], None]] = {
            "store": self.store.ping,
            "queue": self.queue.ping,
            "secrets": self.secrets.ping,
        }
        if self.redis is not None:
            client = self.redis
            probes["redis"] = lambda: _ping_redis(client)
            probes["rate_limiter"] = self._limiter_shared
        return probes

    def _limiter_shared(self) -> None:
        if self.limiter.degraded:
            raise RetryableError("rate limiter is answering from its local fallback")

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()


def _ping_redis(client: redis.Redis) -> None:
    client.ping()


def build_runtime(
    settings: Settings,
    *,
    transports: Mapping[str, httpx.BaseTransport] | None = None,
    redis_credential: TokenCredential | None = None,
) -> Runtime:
    """Wire the backends `settings` name. `transports`: in-process ones by host (demo, tests).

    `redis_credential` signs in to REDIS_HOST (default: DefaultAzureCredential, which picks
    the managed identity named by AZURE_CLIENT_ID).
    """
    register_secrets(_secret_values(settings))
    closers: list[Callable[[], None]] = []
    store = _store(settings, closers)
    queue = _queue(settings, closers)
    secrets = _secrets(settings)
    redis_target = _redis_target(settings, redis_credential)
    redis_client = (
        redis.Redis.from_url(
            redis_target[0],
            socket_timeout=0.25,
            socket_connect_timeout=0.25,
            credential_provider=redis_target[1](),
        )
        if redis_target is not None
        else None
    )
    # Lazy: the pipelines import this module. The subscriber pauses a connection's syncs
    # when its credential needs re-authorization, and resumes them after it.
    from integration_core.notify.sources import (
        BreakerAlerts,
        CredentialAlerts,
        LimiterFallbackAlerts,
    )
    from integration_core.pipelines.reauth import PauseSyncsOnReauth

    policy = OutboundPolicy.from_setting(settings.outbound_allow_private_cidrs)
    credentials = CredentialService(
        store,
        secrets,
        redis_client=redis_client,
        events=Broadcast(PauseSyncsOnReauth(store), CredentialAlerts(store), LoggingEventSink()),
        outbound=policy,
    )
    closers.append(credentials.close)
    limiter = _limiter(settings, redis_target)
    closers.append(limiter.close)
    breaker = CircuitBreaker(
        config=BreakerConfig(
            failures=settings.breaker_failures,
            window_seconds=settings.breaker_window_seconds,
            cooldown_seconds=settings.breaker_cooldown_seconds,
        ),
        client=redis_client,
        # Deployments sharing one Redis keep their own breakers, as they keep their data.
        key_prefix=f"breaker:{settings.cosmos_database}",
        on_transition=BreakerAlerts(store),
    )

    def observe_response(connection: Connection, response: httpx.Response) -> None:
        limiter.record_response(
            connection_key(connection.tenant_id, connection.id),
            response.status_code,
            response.headers,
        )
        rt.breaker.record_status(connection.tenant_id, connection.id, response.status_code)

    def spend_request_budget(adapter: IntegrationAdapter, request: httpx.Request) -> None:
        """Budgets of some requests only (HubSpot's search): wait for a unit, or refuse
        the request as throttled; the pipeline postpones its work, as for a 429."""
        limits = adapter.request_limits(request.method, request.url.path)
        if not limits:
            return
        decision = limiter.wait(limits, 1, timeout=settings.throttle_max_wait_seconds)
        if not decision.allowed:
            raise RetryableError(
                f"{request.method} {request.url.path}: request budget spent for "
                f"connection {adapter.connection.id}",
                retry_after=decision.retry_after,
            )

    connectors = Connectors(
        credentials,
        policy=policy,
        transports=transports,
        on_response=observe_response,
        on_request=spend_request_budget,
    )
    rt = Runtime(
        settings=settings,
        store=store,
        queue=queue,
        secrets=secrets,
        credentials=credentials,
        connectors=connectors,
        limiter=limiter,
        bodies=_bodies(settings, closers),
        redis=redis_client,
        breaker=breaker,
        limiter_watch=LimiterFallbackAlerts(store),
        _closers=closers,
    )
    return rt


def _secret_values(settings: Settings) -> list[str]:
    """The settings' secrets, and the password inside any secret URL (e.g. REDIS_URL)."""
    values = [v.get_secret_value() for v in vars(settings).values() if isinstance(v, SecretStr)]
    passwords = [urlsplit(v).password for v in values if "://" in v]
    return values + [p for p in passwords if p] + settings.oauth_client_secrets()


def _redis_target(
    settings: Settings, credential: TokenCredential | None
) -> tuple[str, Callable[[], CredentialProvider | None]] | None:
    """The Redis URL and how to sign in: REDIS_URL as given, or REDIS_HOST with Entra ID.

    Each client gets its own provider: a token provider notifies one listener of renewals.
    """
    if settings.redis_url is not None:
        return settings.redis_url.get_secret_value(), lambda: None
    if not settings.redis_host:
        return None
    from integration_core.ratelimit.entra import entra_credential_provider, redis_url_for_host

    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    url = redis_url_for_host(settings.redis_host, port=settings.redis_port, tls=settings.redis_tls)
    token_credential = credential
    return url, lambda: entra_credential_provider(token_credential)


def _limiter(
    settings: Settings, target: tuple[str, Callable[[], CredentialProvider | None]] | None
) -> RateLimiter:
    if target is None:
        return RateLimiter.local()
    url, provider = target[0], target[1]()
    options: LimiterOptions = {
        "instances": settings.ratelimit_instances,
        "timeout_ms": settings.ratelimit_timeout_ms,
    }
    if provider is not None:
        options["credential_provider"] = provider
    return RateLimiter.from_url(url, **options)


def _store(settings: Settings, closers: list[Callable[[], None]]) -> DocumentStore:
    if settings.store_backend is StoreBackend.SQLITE:
        from integration_core.storage.sqlite import SqliteDocumentStore

        sqlite = SqliteDocumentStore(settings.sqlite_file)
        closers.append(sqlite.close)
        return sqlite
    from integration_core.storage.cosmos import CosmosDocumentStore

    assert settings.cosmos_endpoint is not None  # checked by Settings
    credential: str | TokenCredential
    if settings.cosmos_key is not None:
        credential = settings.cosmos_key.get_secret_value()
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    cosmos = CosmosDocumentStore(
        settings.cosmos_endpoint,
        credential,
        database=settings.cosmos_database,
        ca_file=settings.cosmos_ca_file,
        verify_tls=settings.cosmos_verify_tls,
        create_resources=settings.cosmos_create_resources,
    )
    closers.append(cosmos.close)
    return cosmos


def _bodies(settings: Settings, closers: list[Callable[[], None]]) -> BodyStore:
    """Large webhook bodies: Blob storage beside the Cosmos store (from AzureWebJobsStorage,
    or its blob endpoint with the managed identity), files beside SQLite."""
    blob_account = settings.azurewebjobsstorage is not None or settings.storage_blob_service_uri
    if settings.store_backend is StoreBackend.SQLITE or not blob_account:
        if settings.store_backend is StoreBackend.COSMOS:
            log.warning("no AzureWebJobsStorage: large webhook bodies stay on this instance")
        if settings.sqlite_path == ":memory:":
            return FileBodyStore(tempfile.mkdtemp(prefix="lockstep-webhook-bodies-"))
        return FileBodyStore(Path(settings.sqlite_path).parent / "webhook-bodies")
    from integration_core.webhooks.blob_bodies import BlobBodyStore

    blobs = _client(
        settings.azurewebjobsstorage,
        BlobBodyStore.from_connection_string,
        settings.storage_blob_service_uri,
        BlobBodyStore.from_account_url,
    )
    closers.append(blobs.close)
    return blobs


def _queue(settings: Settings, closers: list[Callable[[], None]]) -> MessageQueue:
    if settings.queue_backend is QueueBackend.INLINE:
        from integration_core.messaging.inline import InlineMessageQueue

        return InlineMessageQueue()
    if settings.queue_backend is QueueBackend.STORAGE:
        from integration_core.messaging.storage_queue import StorageQueueMessageQueue

        storage = _client(
            settings.azurewebjobsstorage,
            StorageQueueMessageQueue.from_connection_string,
            settings.storage_queue_service_uri,
            StorageQueueMessageQueue.from_account_url,
        )
        closers.append(storage.close)
        return storage
    from integration_core.messaging.servicebus import ServiceBusMessageQueue

    servicebus = _client(
        settings.servicebusconnection,
        ServiceBusMessageQueue.from_connection_string,
        settings.servicebus_namespace,
        ServiceBusMessageQueue.from_namespace,
    )
    closers.append(servicebus.close)
    return servicebus


def _client(
    connection_string: SecretStr | None,
    from_connection_string: Callable[[str], _Client],
    endpoint: str | None,
    from_endpoint: Callable[[str, TokenCredential], _Client],
) -> _Client:
    """From a connection string when one is set, else the endpoint and the managed identity."""
    if connection_string is not None:
        return from_connection_string(connection_string.get_secret_value())
    from azure.identity import DefaultAzureCredential

    assert endpoint is not None  # checked by Settings
    return from_endpoint(endpoint, DefaultAzureCredential())


def _secrets(settings: Settings) -> SecretStore:
    if settings.secret_backend is SecretBackend.LOCAL:
        from integration_core.credentials.local import LocalSecretStore

        assert settings.local_secrets_key is not None  # checked by Settings
        return LocalSecretStore(
            settings.local_secrets_path, settings.local_secrets_key.get_secret_value()
        )
    from integration_core.credentials.keyvault import KeyVaultSecretStore

    assert settings.key_vault_url is not None  # checked by Settings
    return KeyVaultSecretStore(settings.key_vault_url)
