"""Where outbound requests may go: the rule every client built for a connection obeys.

A connection's `base_url`, an OAuth `token_url` or a GitHub `api_url` is tenant input. Sent
as is, a request could reach the cloud's metadata service, the app's own network or
loopback, carrying the tenant's credentials. The rule: https only; after DNS resolution,
every address must be public. `OUTBOUND_ALLOW_PRIVATE_CIDRS` lets a development setup
reach its own ranges (plain http included); the metadata addresses stay refused even then.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from integration_core.errors import ConfigurationError, ConnectionConfigurationError

__all__ = ["IPAddress", "OutboundPolicy", "OutboundPolicyError", "Resolver", "parse_cidrs"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

# Instance metadata and host agents: never reachable, whatever the allow-list says.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, Azure IMDS, GCP, OCI
        "169.254.170.2",  # AWS ECS task metadata
        "168.63.129.16",  # Azure WireServer (a public address)
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundPolicyError(ConnectionConfigurationError):
    """A connection's URL points where Lockstep must not send requests; never retried."""


def parse_cidrs(text: str) -> tuple[IPNetwork, ...]:
    """`OUTBOUND_ALLOW_PRIVATE_CIDRS`: comma-separated networks, e.g. `127.0.0.0/8,::1/128`."""
    try:
        return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise ConfigurationError(f"not a list of CIDR networks: {err}") from err


def _system_resolver(host: str, port: int) -> list[str]:
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address reaches through (mapped, 6to4, Teredo, NAT64)."""
    found = [address.ipv4_mapped, address.sixtofour]
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def _public(address: IPAddress) -> bool:
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


@dataclass(frozen=True)
class OutboundPolicy:
    """The outbound rule; the default refuses every non-public address.

    Args:
        allowed: networks a development setup may reach (also over plain http).
        resolve: host, port -> addresses; raises OSError when the name does not resolve
            (the system resolver; tests pass their own).
    """

    allowed: tuple[IPNetwork, ...] = ()
    resolve: Resolver = field(default=_system_resolver, compare=False)

    @classmethod
    def from_setting(cls, text: str) -> OutboundPolicy:
        return cls(allowed=parse_cidrs(text))

    def _allowed(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allowed)

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be connected to, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if self._allowed(address):
            return None
        embedded = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else []
        if not _public(address) or any(not _public(a) for a in embedded):
            return "not a public address"
        return None

    def check_scheme(self, url: httpx.URL) -> None:
        """Refuse anything but http(s) with a host; plain http is checked per address."""
        if url.scheme not in ("http", "https") or not url.host:
            raise OutboundPolicyError(
                f"refused URL scheme {url.scheme or '(none)'!r} for {url.host or 'no host'}:"
                " only https is allowed"
            )

    def addresses(self, host: str, port: int, *, plain_http: bool) -> list[str]:
        """The addresses to connect to for `host`, all of them checked, or a refusal.

        One refused address refuses the host: a name that resolves both inside and outside
        is not trusted. Plain http is allowed only into the allowed networks.
        """
        resolved = self.resolve(host, port)
        if not resolved:
            raise OSError(f"{host!r} resolves to no address")
        for text in resolved:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            reason = self.refusal(address)
            if reason is None and plain_http and not self._allowed(address):
                reason = "plain http outside OUTBOUND_ALLOW_PRIVATE_CIDRS (https only)"
            if reason is not None:
                raise OutboundPolicyError(f"refused {host} ({address}): {reason}")
        return resolved
