"""Builds the adapter for a connection: its HTTP client, credentials and transport.

The adapter class comes from the lazy registry by the connection's `system`; it validates
the connection's config and names the base URL (for Salesforce, the `instance_url` its
credential's last token answer named, the config's until then). The client's auth and TLS context (a
client certificate, for mTLS) come from the credential service, and its every connection
obeys the OutboundPolicy (`integration_core.net`). `transports` (httpx transports by host
name) are injected by the demo and the tests to reach in-process sandboxes, so the same
HTTP code runs with or without a network; production passes none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import httpx

from integration_core.credentials.auth import HttpOptions
from integration_core.models import Connection
from integration_core.net import OutboundPolicy, outbound_client
from integration_core.ports import IntegrationAdapter, adapter_factory

__all__ = ["CredentialOptions", "Connectors", "RequestHook", "ResponseHook"]

ResponseHook = Callable[[Connection, httpx.Response], None]
RequestHook = Callable[[IntegrationAdapter, httpx.Request], None]


class CredentialOptions(Protocol):
    def http_options(self, tenant_id: str, connection_id: str) -> HttpOptions:
        """What a connection's client needs from its credential: auth and TLS context."""


class Connectors:
    def __init__(
        self,
        credentials: CredentialOptions,
        *,
        policy: OutboundPolicy | None = None,
        transports: Mapping[str, httpx.BaseTransport] | None = None,
        on_response: ResponseHook | None = None,
        on_request: RequestHook | None = None,
        timeout: float = 30.0,
    ) -> None:
        """`on_request` runs before each request an adapter sends (it may raise to refuse
        it: a spent request budget)."""
        self._credentials = credentials
        self._policy = policy or OutboundPolicy()
        self._transports = dict(transports or {})
        self._on_response = on_response
        self._on_request = on_request
        self._timeout = timeout

    @property
    def policy(self) -> OutboundPolicy:
        """Where clients built here may connect; other tenant-supplied URLs obey it too."""
        return self._policy

    def adapter_for(self, connection: Connection) -> IntegrationAdapter:
        factory = adapter_factory(connection.system)
        client = self.client_for(connection)
        adapter = factory(connection, client=client)
        if self._on_request is not None:
            hook = self._on_request
            client.event_hooks["request"] = [lambda request: hook(adapter, request)]
        return adapter

    def client_for(self, connection: Connection) -> httpx.Client:
        factory = adapter_factory(connection.system)
        factory.validate_config(connection.config)  # a bad config is refused before any token
        options = self._credentials.http_options(connection.tenant_id, connection.id)
        base_url = httpx.URL(factory.base_url(connection.config, instance_url=options.instance_url))
        hooks: dict[str, list[Callable[[httpx.Response], None]]] = {}
        if self._on_response is not None:
            hook = self._on_response
            hooks["response"] = [lambda response: hook(connection, response)]
        transport = self._transports.get(base_url.host)
        if transport is not None:
            # An in-process system (the demo's and tests' sandboxes): no network to guard.
            return httpx.Client(
                base_url=base_url,
                auth=options.auth,
                transport=transport,
                timeout=self._timeout,
                event_hooks=hooks,
            )
        self._policy.check_scheme(base_url)
        return outbound_client(
            self._policy,
            verify=options.verify,
            base_url=base_url,
            auth=options.auth,
            timeout=self._timeout,
            event_hooks=hooks,
        )
