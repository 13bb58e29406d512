"""The API host a token answer names (Salesforce's `instance_url`).

Salesforce answers every token call with the org's own API host, and it changes when the
org moves. It is kept with the credential's metadata (it is no secret) and the
connection's calls go there. The token endpoint is tenant input, so the host it names is
too: it must pass the outbound policy like any connection URL. Names are checked when
connected to, as every URL a client is built with; literal addresses are refused here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import httpx

from integration_core.net import OutboundPolicy, OutboundPolicyError

__all__ = ["INSTANCE_URL", "checked_instance_url"]

INSTANCE_URL = "instance_url"


def checked_instance_url(extras: Mapping[str, str], policy: OutboundPolicy) -> str | None:
    """The `instance_url` a token answer's fields name, None if none.

    Raises:
        OutboundPolicyError: it is no URL Lockstep may send requests to.
    """
    named = extras.get(INSTANCE_URL)
    if named is None:
        return None
    try:
        url = httpx.URL(named)
        policy.check_scheme(url)
        try:
            ipaddress.ip_address(url.host)
        except ValueError:
            return named  # a name: checked on every connection (net.GuardedTransport)
        policy.addresses(url.host, url.port or 443, plain_http=url.scheme == "http")
    except (httpx.InvalidURL, OutboundPolicyError) as err:
        raise OutboundPolicyError(
            f"the token answer's instance_url {named!r} is refused: {err}"
        ) from err
    return named
