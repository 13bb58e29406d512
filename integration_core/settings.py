"""Every app setting Lockstep reads, in one pydantic Settings object.

Values come from the environment (Azure app settings, local.settings.json under
`func start`, or the shell). `load_settings()` turns any problem into one
ConfigurationError that names the setting, so a bad deployment fails at start.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from integration_core import _setting_checks as checks
from integration_core.connect.clients import OAuthClient, parse_clients
from integration_core.errors import ConfigurationError
from integration_core.net.policy import parse_cidrs

__all__ = [
    "StoreBackend",
    "QueueBackend",
    "SecretBackend",
    "Settings",
    "load_settings",
    "load_host_settings",
]

# Field -> the check its value must pass when set (the SDKs would fail on the first call).
_CHECKS: dict[str, Callable[[str], None]] = {
    "cosmos_endpoint": checks.check_cosmos_endpoint,
    "cosmos_key": checks.check_cosmos_key,
    "azurewebjobsstorage": checks.check_storage_connection_string,
    "servicebusconnection": checks.check_servicebus_connection_string,
    "key_vault_url": checks.check_key_vault_url,
    "local_secrets_key": checks.check_local_secrets_key,
    "redis_url": checks.check_redis_url,
    "applicationinsights_connection_string": checks.check_applicationinsights_connection_string,
}


class StoreBackend(StrEnum):
    COSMOS = "cosmos"
    SQLITE = "sqlite"


class QueueBackend(StrEnum):
    SERVICEBUS = "servicebus"
    STORAGE = "storage"
    INLINE = "inline"


class SecretBackend(StrEnum):
    KEYVAULT = "keyvault"
    LOCAL = "local"


class Settings(BaseSettings):
    """App settings; the environment variable of each field is its name in capitals."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    store_backend: StoreBackend = StoreBackend.COSMOS
    cosmos_endpoint: str | None = None
    cosmos_key: SecretStr | None = None
    cosmos_database: str = "lockstep"
    cosmos_verify_tls: bool = True
    cosmos_ca_file: str | None = None
    cosmos_create_resources: bool = True
    sqlite_path: str = ".lockstep/lockstep.sqlite3"

    queue_backend: QueueBackend = QueueBackend.STORAGE
    azurewebjobsstorage: SecretStr | None = Field(default=None, alias="AzureWebJobsStorage")
    # Or the queue endpoint of an identity-based AzureWebJobsStorage (managed identity).
    storage_queue_service_uri: str | None = Field(
        default=None, alias="AzureWebJobsStorage__queueServiceUri"
    )
    # And its blob endpoint: the claim-check store for large webhook bodies.
    storage_blob_service_uri: str | None = Field(
        default=None, alias="AzureWebJobsStorage__blobServiceUri"
    )
    servicebusconnection: SecretStr | None = Field(default=None, alias="ServiceBusConnection")
    servicebus_namespace: str | None = Field(
        default=None, alias="ServiceBusConnection__fullyQualifiedNamespace"
    )

    secret_backend: SecretBackend = SecretBackend.KEYVAULT
    key_vault_url: str | None = None
    local_secrets_path: str = ".lockstep/secrets.enc"
    local_secrets_key: SecretStr | None = None

    redis_url: SecretStr | None = None
    # Or an Azure Redis reached with Microsoft Entra ID (the managed identity), not a key.
    redis_host: str | None = None
    redis_port: int = Field(default=10000, gt=0, lt=65536)
    redis_tls: bool = True
    ratelimit_instances: int = Field(default=4, gt=0)
    ratelimit_timeout_ms: int = Field(default=100, gt=0)
    tenant_requests_per_minute: int = Field(default=6000, gt=0)
    webhook_requests_per_minute: int = Field(default=1200, gt=0)
    # Missed webhooks (pipelines/reconcile.py): changes younger than the grace are not
    # judged; a registration's day count reaching the threshold emits an event.
    webhook_missed_grace_seconds: float = Field(default=300.0, ge=0, le=86400, allow_inf_nan=False)
    webhook_missed_threshold: int = Field(default=5, gt=0)
    # Finite, and well within host.json's functionTimeout (10 min).
    throttle_max_wait_seconds: float = Field(default=2.0, ge=0, le=300, allow_inf_nan=False)
    max_reschedules: int = Field(default=50, ge=0)
    # How long a push's stand-in waits for the batch that carries it (pipelines/pushes.py).
    push_safety_net_seconds: float = Field(default=300.0, ge=0, le=3600, allow_inf_nan=False)
    # Bounded: a day's window or cooling-off at most, a week between digests at most.
    breaker_failures: int = Field(default=5, gt=0, le=1000)
    breaker_window_seconds: float = Field(default=60.0, gt=0, le=86400, allow_inf_nan=False)
    breaker_cooldown_seconds: float = Field(default=60.0, gt=0, le=86400, allow_inf_nan=False)
    notify_schedule: str = "0 */1 * * * *"
    notify_digest_minutes: int = Field(default=15, gt=0, le=7 * 24 * 60)
    rate_limit_alert_minutes: int = Field(default=15, gt=0, le=7 * 24 * 60)
    mass_delete_share: float = Field(default=0.2, gt=0, le=1, allow_inf_nan=False)
    mass_delete_min_records: int = Field(default=10, ge=0)
    applicationinsights_connection_string: SecretStr | None = None
    otel_console: bool = False

    token_refresh_window_minutes: int = Field(default=60, gt=0)
    token_refresh_concurrency: int = Field(default=8, gt=0)
    sync_schedule: str = "0 */5 * * * *"
    token_refresh_schedule: str = "0 */10 * * * *"  # noqa: S105 (a schedule)
    sync_page_size: int = Field(default=100, gt=0, le=1000)
    max_tasks_per_tick: int = Field(default=500, gt=0)
    log_level: str = "INFO"
    # Private networks outbound requests may reach (local development only; empty in Azure).
    outbound_allow_private_cidrs: str = ""
    # The deployment's OAuth apps by system (JSON; integration_core/connect/clients.py).
    oauth_clients: SecretStr | None = None
    # Where providers send the browser back; empty: /api/connect/callback on the host the
    # start request came to.
    oauth_redirect_url: str = ""
    _oauth_clients: dict[str, OAuthClient] = PrivateAttr(default_factory=dict)

    @field_validator("sync_schedule", "token_refresh_schedule", "notify_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return checks.check_schedule(value)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        return checks.check_log_level(value)

    @field_validator(*_CHECKS)
    @classmethod
    def _usable(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            _CHECKS[str(info.field_name)](raw)
        return value

    @model_validator(mode="after")
    def _backend_requirements(self) -> Self:
        required: list[tuple[bool, str, str]] = [
            (
                self.store_backend is StoreBackend.COSMOS and not self.cosmos_endpoint,
                "COSMOS_ENDPOINT",
                "STORE_BACKEND=cosmos",
            ),
            (
                self.queue_backend is QueueBackend.STORAGE
                and self.azurewebjobsstorage is None
                and not self.storage_queue_service_uri,
                "AzureWebJobsStorage (or AzureWebJobsStorage__queueServiceUri)",
                "QUEUE_BACKEND=storage",
            ),
            (
                self.queue_backend is QueueBackend.SERVICEBUS
                and self.servicebusconnection is None
                and not self.servicebus_namespace,
                "ServiceBusConnection (or ServiceBusConnection__fullyQualifiedNamespace)",
                "QUEUE_BACKEND=servicebus",
            ),
            (
                self.secret_backend is SecretBackend.KEYVAULT and not self.key_vault_url,
                "KEY_VAULT_URL",
                "SECRET_BACKEND=keyvault",
            ),
            (
                self.secret_backend is SecretBackend.LOCAL and self.local_secrets_key is None,
                "LOCAL_SECRETS_KEY",
                "SECRET_BACKEND=local",
            ),
        ]
        for missing, name, because in required:
            if missing:
                raise ValueError(f"{name} is required when {because}")
        try:
            parse_cidrs(self.outbound_allow_private_cidrs)
        except ConfigurationError as err:
            raise ValueError(f"OUTBOUND_ALLOW_PRIVATE_CIDRS: {err}") from err
        if self.store_backend is StoreBackend.SQLITE:
            try:
                checks.check_sqlite_path(self.sqlite_path)
            except ValueError as err:
                raise ValueError(f"SQLITE_PATH: {err}") from None
        if self.redis_url is not None and self.redis_host:
            raise ValueError("set REDIS_URL or REDIS_HOST (Entra ID), not both")
        if self.oauth_clients is not None:
            try:
                self._oauth_clients = parse_clients(self.oauth_clients.get_secret_value())
            except ValueError as err:
                raise ValueError(f"OAUTH_CLIENTS: {err}") from None
        if self.oauth_redirect_url:
            try:
                checks.check_redirect_url(self.oauth_redirect_url)
            except ValueError as err:
                raise ValueError(f"OAUTH_REDIRECT_URL: {err}") from None
        return self

    def oauth_client(self, system: str) -> OAuthClient | None:
        """The deployment's OAuth app for `system` (OAUTH_CLIENTS), if it has one."""
        return self._oauth_clients.get(system)

    def oauth_client_secrets(self) -> list[str]:
        """Every client secret in OAUTH_CLIENTS, for the log redaction."""
        return [
            c.client_secret.get_secret_value()
            for c in self._oauth_clients.values()
            if c.client_secret is not None
        ]

    @property
    def sqlite_file(self) -> Path | str:
        return self.sqlite_path if self.sqlite_path == ":memory:" else Path(self.sqlite_path)


def _setting_name(field: str | int) -> str:
    """The app setting a validation error is about, spelled as it is set."""
    for name, info in Settings.model_fields.items():
        if str(field) in (name, info.alias):
            return info.alias or name.upper()
    return str(field).upper()


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings, or raise ConfigurationError naming what is wrong."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        problems = []
        for error in err.errors():
            where = ".".join(_setting_name(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        # `from None`: a ValidationError repeats the raw input, which may be a secret.
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


def load_host_settings() -> Settings:
    """Settings for the Functions host: `load_settings`, and a queue the host's triggers read.

    `QUEUE_BACKEND=inline` keeps messages in one process's memory: fine for the CLI and
    the demo, but under the host nothing would ever trigger the workers.
    """
    settings = load_settings()
    if settings.queue_backend is QueueBackend.INLINE:
        raise ConfigurationError(
            "invalid settings: QUEUE_BACKEND: the Functions app needs storage or servicebus"
            " (inline is for the CLI and the demo)"
        )
    return settings
