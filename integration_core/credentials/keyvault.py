"""SecretStore on Azure Key Vault (`azure-keyvault-secrets`).

In Azure the identity is `DefaultAzureCredential` (managed identity on the Function App,
developer sign-in locally); tests inject their own credential and TLS settings. Key Vault
secret names allow letters, digits and dashes only; callers use names of that shape.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.secrets import SecretClient

from integration_core.credentials.base import SecretVersion
from integration_core.errors import (
    AuthError,
    ConflictError,
    LockstepError,
    NotFoundError,
    RetryableError,
)

__all__ = ["KeyVaultSecretStore"]

_log = logging.getLogger(__name__)
_PING_NAME = "lockstep-ping-probe"


def _translate(err: Exception, what: str) -> LockstepError:
    if isinstance(err, ResourceNotFoundError):
        return NotFoundError(f"{what}: not found")
    if isinstance(err, ResourceExistsError):
        return ConflictError(f"{what}: conflict (a deleted secret may still hold the name)")
    if isinstance(err, ClientAuthenticationError):
        return AuthError(f"{what}: Key Vault refused our identity")
    if isinstance(err, ServiceRequestError | ServiceResponseError):
        return RetryableError(f"{what}: Key Vault unreachable ({type(err).__name__})")
    if isinstance(err, HttpResponseError):
        status = err.status_code or 0
        if status == 409:
            return ConflictError(f"{what}: conflict (HTTP 409)")
        if status in (401, 403):
            return AuthError(f"{what}: Key Vault refused our identity (HTTP {status})")
        if status == 429 or status >= 500:
            return RetryableError(f"{what}: Key Vault returned HTTP {status}")
        return LockstepError(f"{what}: Key Vault returned HTTP {status}")
    return LockstepError(f"{what}: {type(err).__name__}")


class KeyVaultSecretStore:
    """A SecretStore on one Key Vault.

    Args:
        vault_url: e.g. ``https://my-vault.vault.azure.net``.
        credential: an Azure token credential; default `DefaultAzureCredential()`.
        purge_on_delete: after a (soft) delete, also purge, so the name can be reused at
            once. Needs the purge permission; off by default.
        client_options: passed to `SecretClient` (e.g. ``connection_verify`` or
            ``verify_challenge_resource`` for a local stand-in).
    """

    def __init__(
        self,
        vault_url: str,
        *,
        credential: TokenCredential | None = None,
        purge_on_delete: bool = False,
        delete_poll_interval: float = 2.0,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self._client = SecretClient(vault_url, credential, **(client_options or {}))
        self._purge = purge_on_delete
        self._poll = delete_poll_interval

    def close(self) -> None:
        self._client.close()

    def ping(self) -> None:
        try:
            self._client.get_secret(_PING_NAME)
        except ResourceNotFoundError:
            return
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as err:
            raise _translate(err, "ping") from err

    def get(self, name: str, *, version: str | None = None) -> str:
        try:
            secret = self._client.get_secret(name, version)
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as err:
            raise _translate(err, f"get secret {name!r}") from err
        if secret.value is None:
            raise NotFoundError(f"secret {name!r} has no value")
        return secret.value

    def set(self, name: str, value: str) -> str:
        try:
            secret = self._client.set_secret(name, value, content_type="application/json")
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as err:
            raise _translate(err, f"set secret {name!r}") from err
        version = secret.properties.version
        if version is None:
            raise LockstepError(f"Key Vault returned no version for {name!r}")
        _log.debug("stored secret version", extra={"secret_name": name, "version": version})
        return version

    def delete(self, name: str) -> None:
        try:
            poller = self._client.begin_delete_secret(name, _polling_interval=self._poll)
            if self._purge:
                poller.wait()
                self._client.purge_deleted_secret(name)
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as err:
            raise _translate(err, f"delete secret {name!r}") from err
        _log.debug("deleted secret", extra={"secret_name": name, "purged": self._purge})

    def list_versions(self, name: str) -> list[SecretVersion]:
        epoch = datetime.fromtimestamp(0, UTC)
        try:
            found = [
                SecretVersion(
                    name=name,
                    version=props.version or "",
                    created_at=props.created_on or epoch,
                    enabled=bool(props.enabled),
                )
                for props in self._client.list_properties_of_secret_versions(name)
            ]
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as err:
            raise _translate(err, f"list versions of {name!r}") from err
        if not found:
            raise NotFoundError(f"secret {name!r} not found")
        found.sort(key=lambda v: v.created_at, reverse=True)
        return found
