"""Builds the adapter for a connection: its HTTP client, credentials and transport.

Every adapter gets an `httpx.Client` whose base URL comes from the connection's config and
whose auth and TLS context (a client certificate, for mTLS) come from the credential
service. Its every connection obeys the OutboundPolicy (`integration_core.net`). A base
URL of the form `sandbox://NAME` reaches an in-process sandbox account (the embedded demo)
through `httpx.WSGITransport`, so the same HTTP code runs with or without a network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import httpx

from adapters.base import BaseIntegrationAdapter
from adapters.registry import adapter_class
from adapters.sandbox_server import SandboxAccount
from integration_core.credentials.auth import HttpOptions
from integration_core.errors import ConnectionConfigurationError
from integration_core.models import Connection
from integration_core.net import OutboundPolicy, outbound_client

__all__ = ["CredentialOptions", "Connectors", "ResponseHook"]

ResponseHook = Callable[[Connection, httpx.Response], None]
SANDBOX_SCHEME = "sandbox://"


class CredentialOptions(Protocol):
    def http_options(self, tenant_id: str, connection_id: str) -> HttpOptions:
        """What a connection's client needs from its credential: auth and TLS context."""


class Connectors:
    def __init__(
        self,
        credentials: CredentialOptions,
        *,
        policy: OutboundPolicy | None = None,
        sandboxes: Mapping[str, SandboxAccount] | None = None,
        on_response: ResponseHook | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._credentials = credentials
        self._policy = policy or OutboundPolicy()
        self._sandboxes = dict(sandboxes or {})
        self._on_response = on_response
        self._timeout = timeout

    @property
    def policy(self) -> OutboundPolicy:
        """Where clients built here may connect; other tenant-supplied URLs obey it too."""
        return self._policy

    def adapter_for(self, connection: Connection) -> BaseIntegrationAdapter:
        cls = adapter_class(connection.system)
        return cls(connection, client=self.client_for(connection))

    def client_for(self, connection: Connection) -> httpx.Client:
        base_url = connection.config.get("base_url")
        if not isinstance(base_url, str) or not base_url:
            raise ConnectionConfigurationError(
                f"connection {connection.id} has no base_url in its config"
            )
        hooks: dict[str, list[Callable[[httpx.Response], None]]] = {}
        if self._on_response is not None:
            hook = self._on_response
            hooks["response"] = [lambda response: hook(connection, response)]
        if base_url.startswith(SANDBOX_SCHEME):
            name = base_url.removeprefix(SANDBOX_SCHEME)
            account = self._sandboxes.get(name)
            if account is None:
                raise ConnectionConfigurationError(f"no in-process sandbox named {name!r}")
            return httpx.Client(
                base_url=f"http://{name}.sandbox.invalid",
                auth=self._credentials.http_options(connection.tenant_id, connection.id).auth,
                transport=httpx.WSGITransport(app=account),
                timeout=self._timeout,
                event_hooks=hooks,
            )
        self._policy.check_scheme(httpx.URL(base_url))
        options = self._credentials.http_options(connection.tenant_id, connection.id)
        return outbound_client(
            self._policy,
            verify=options.verify,
            base_url=base_url,
            auth=options.auth,
            timeout=self._timeout,
            event_hooks=hooks,
        )
