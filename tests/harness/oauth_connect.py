"""Driving the OAuth connect flow in tests: the deployment's client entry for an
`OAuthServer`, and the person's browser at the provider (reusable by any test host).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.harness.oauth_server import OAuthServer

__all__ = ["authorize", "oauth_clients", "query_of"]


def oauth_clients(server: OAuthServer, system: str = "sandbox") -> str:
    """`OAUTH_CLIENTS` naming `server` as `system`'s OAuth app (its endpoints placed by
    `base_url`, as the sandbox's relative ones are)."""
    entry = {
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "base_url": server.base_url,
    }
    return json.dumps({system: entry})


def authorize(authorize_url: str) -> str:
    """Open the authorize URL as the person's browser would and return where the provider
    sends it back (its 302 Location), without following it."""
    response = httpx.get(authorize_url, follow_redirects=False, timeout=10)
    assert response.status_code == 302, (response.status_code, response.text)
    return response.headers["Location"]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
