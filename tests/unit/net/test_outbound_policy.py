"""The outbound policy's address rule, its setting, and its scheme rule (no network)."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from integration_core.credentials.local import LocalSecretStore
from integration_core.errors import ConfigurationError
from integration_core.net import OutboundPolicy, OutboundPolicyError, parse_cidrs
from integration_core.settings import load_settings

pytestmark = pytest.mark.unit

REFUSED = [
    "127.0.0.1",  # loopback
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local: the metadata service
    "168.63.129.16",  # Azure WireServer: public, yet the host's agent
    "100.64.0.1",  # CGNAT
    "100.100.100.200",  # Alibaba metadata, in CGNAT
    "0.0.0.0",  # noqa: S104 - unspecified
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "198.18.0.1",  # benchmarking
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo reaching 192.0.2.45 / private client
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert OutboundPolicy().refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert OutboundPolicy().refusal(ipaddress.ip_address(address)) is None


def test_allowed_networks_open_only_themselves_and_never_the_metadata_service() -> None:
    policy = OutboundPolicy.from_setting("127.0.0.0/8, 169.254.0.0/16,::1/128")
    assert policy.refusal(ipaddress.ip_address("127.0.0.2")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("::1")) is None
    assert policy.refusal(ipaddress.ip_address("10.0.0.1")) is not None
    assert policy.refusal(ipaddress.ip_address("169.254.169.254")) == "a cloud metadata address"


def test_a_name_that_resolves_inside_and_outside_is_refused() -> None:
    policy = OutboundPolicy(resolve=lambda host, port: ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(OutboundPolicyError, match="10.0.0.7"):
        policy.addresses("split.example", 443, plain_http=False)


def test_plain_http_is_refused_outside_the_allowed_networks() -> None:
    public = OutboundPolicy(
        allowed=parse_cidrs("127.0.0.0/8"), resolve=lambda host, port: ["93.184.216.34"]
    )
    with pytest.raises(OutboundPolicyError, match="https only"):
        public.addresses("api.example", 80, plain_http=True)
    assert public.addresses("api.example", 443, plain_http=False) == ["93.184.216.34"]


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com:70/_x", "https:///nohost"],
)
def test_schemes_other_than_http_are_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        OutboundPolicy().check_scheme(httpx.URL(url))


def test_the_setting_names_itself_when_it_is_not_a_list_of_networks() -> None:
    with pytest.raises(ConfigurationError, match="OUTBOUND_ALLOW_PRIVATE_CIDRS"):
        load_settings(
            store_backend="sqlite",
            queue_backend="inline",
            secret_backend="local",
            local_secrets_key=LocalSecretStore.generate_key(),
            outbound_allow_private_cidrs="127.0.0.0/8,localhost",
        )
    assert parse_cidrs(" 10.0.0.0/8 ,, ::1/128 ") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
