"""Builds the adapter for a connection: its HTTP client, credentials and transport.

The adapter class comes from the lazy registry by the connection's `system`; it validates
the connection's config and names the base URL. The client's auth comes from the
credential service. `transports` (httpx transports by host name) are injected by the demo
and the tests to reach in-process sandboxes; production passes none and goes over the
network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import httpx

from integration_core.models import Connection
from integration_core.ports import IntegrationAdapter, adapter_factory

__all__ = ["AuthProvider", "Connectors", "ResponseHook"]

ResponseHook = Callable[[Connection, httpx.Response], None]


class AuthProvider(Protocol):
    def auth_for(self, tenant_id: str, connection_id: str) -> httpx.Auth | None:
        """The auth flow an adapter uses for this connection (None: no credentials)."""


class Connectors:
    def __init__(
        self,
        auth: AuthProvider,
        *,
        transports: Mapping[str, httpx.BaseTransport] | None = None,
        on_response: ResponseHook | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._auth = auth
        self._transports = dict(transports or {})
        self._on_response = on_response
        self._timeout = timeout

    def adapter_for(self, connection: Connection) -> IntegrationAdapter:
        factory = adapter_factory(connection.system)
        return factory(connection, client=self.client_for(connection))

    def client_for(self, connection: Connection) -> httpx.Client:
        base_url = adapter_factory(connection.system).base_url(connection.config)
        hooks: dict[str, list[Callable[[httpx.Response], None]]] = {}
        if self._on_response is not None:
            hook = self._on_response
            hooks["response"] = [lambda response: hook(connection, response)]
        return httpx.Client(
            base_url=base_url,
            auth=self._auth.auth_for(connection.tenant_id, connection.id),
            transport=self._transports.get(httpx.URL(base_url).host),
            timeout=self._timeout,
            event_hooks=hooks,
        )
