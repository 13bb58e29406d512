"""Builds the adapter for a connection: its HTTP client, credentials and transport.

Every adapter gets an `httpx.Client` whose base URL comes from the connection's config and
whose auth comes from the credential service. A base URL of the form `sandbox://NAME`
reaches an in-process sandbox account (the embedded demo) through `httpx.WSGITransport`,
so the same HTTP code runs with or without a network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import httpx

from adapters.base import BaseIntegrationAdapter
from adapters.registry import adapter_class
from adapters.sandbox_server import SandboxAccount
from integration_core.errors import ConfigurationError
from integration_core.models import Connection

__all__ = ["AuthProvider", "Connectors", "ResponseHook"]

ResponseHook = Callable[[Connection, httpx.Response], None]
SANDBOX_SCHEME = "sandbox://"


class AuthProvider(Protocol):
    def auth_for(self, tenant_id: str, connection_id: str) -> httpx.Auth | None:
        """The auth flow an adapter uses for this connection (None: no credentials)."""


class Connectors:
    def __init__(
        self,
        auth: AuthProvider,
        *,
        sandboxes: Mapping[str, SandboxAccount] | None = None,
        on_response: ResponseHook | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._auth = auth
        self._sandboxes = dict(sandboxes or {})
        self._on_response = on_response
        self._timeout = timeout

    def adapter_for(self, connection: Connection) -> BaseIntegrationAdapter:
        cls = adapter_class(connection.system)
        return cls(connection, client=self.client_for(connection))

    def client_for(self, connection: Connection) -> httpx.Client:
        base_url = connection.config.get("base_url")
        if not isinstance(base_url, str) or not base_url:
            raise ConfigurationError(f"connection {connection.id} has no base_url in its config")
        transport: httpx.BaseTransport | None = None
        if base_url.startswith(SANDBOX_SCHEME):
            name = base_url.removeprefix(SANDBOX_SCHEME)
            account = self._sandboxes.get(name)
            if account is None:
                raise ConfigurationError(f"no in-process sandbox named {name!r}")
            transport = httpx.WSGITransport(app=account)
            base_url = f"http://{name}.sandbox.invalid"
        hooks: dict[str, list[Callable[[httpx.Response], None]]] = {}
        if self._on_response is not None:
            hook = self._on_response
            hooks["response"] = [lambda response: hook(connection, response)]
        return httpx.Client(
            base_url=base_url,
            auth=self._auth.auth_for(connection.tenant_id, connection.id),
            transport=transport,
            timeout=self._timeout,
            event_hooks=hooks,
        )
