"""httpx clients that obey the OutboundPolicy on every connection they open.

The check sits in the network backend, where the connection is made: the host is resolved
once, every address is checked, and the socket connects to a checked address, never to
the name again — so a DNS answer that changes between check and connect (rebinding)
cannot slip through, and each redirect hop is checked like a first request. TLS still
verifies the certificate against the host name.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterable
from typing import Any, Literal

import httpcore
import httpx

from integration_core.net.policy import OutboundPolicy, OutboundPolicyError

__all__ = ["GuardedTransport", "outbound_client", "outbound_options"]

Scheme = Literal["http", "https"]
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


@functools.cache
def _verified_context() -> ssl.SSLContext:
    """The default client TLS context. Loading the CA bundle takes a tenth of a second, and a
    client is built per message: one context, never changed once built, serves them all."""
    return httpx.create_ssl_context(trust_env=False)


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, policy: OutboundPolicy, *, plain_http: bool) -> None:
        self._policy = policy
        self._plain_http = plain_http
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._policy.addresses(host, port, plain_http=self._plain_http)
        except OSError as err:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {err}") from err
        failure: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                failure = err
        assert failure is not None  # addresses() never returns an empty list
        raise failure


class GuardedTransport(httpx.HTTPTransport):
    """An `httpx.HTTPTransport` for one scheme whose connections the policy checks."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        scheme: Scheme = "https",
        verify: ssl.SSLContext | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        # HTTPTransport's constructor only builds its httpcore pool, and offers no way to
        # pass a network backend: build the same pool here with the guarded one.
        self._policy = policy
        self._scheme = scheme
        self._pool = httpcore.ConnectionPool(
            ssl_context=verify or _verified_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy, plain_http=scheme == "http"),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._policy.check_scheme(request.url)
        if request.url.scheme != self._scheme:
            raise OutboundPolicyError(f"refused {request.url.scheme} on the {self._scheme} pool")
        return super().handle_request(request)


def outbound_options(
    policy: OutboundPolicy, *, verify: ssl.SSLContext | None = None
) -> dict[str, Any]:
    """The `httpx.Client` options that make it obey `policy`: guarded transports for https
    and http, and no proxies from the environment (the policy decides where requests go).
    For clients that subclass `httpx.Client`, e.g. authlib's `OAuth2Client`.
    """
    return {
        "transport": GuardedTransport(policy, scheme="https", verify=verify),
        "mounts": {"http://": GuardedTransport(policy, scheme="http")},
        "trust_env": False,
    }


def outbound_client(
    policy: OutboundPolicy, *, verify: ssl.SSLContext | None = None, **options: Any
) -> httpx.Client:
    """An `httpx.Client` whose every request, redirect and connection obeys `policy`.

    `verify` is the TLS context when not the default (e.g. one presenting a client
    certificate; certificates are always verified); `options`
    go to `httpx.Client` (base_url, auth, timeout, event_hooks...).
    """
    return httpx.Client(**outbound_options(policy, verify=verify), **options)
