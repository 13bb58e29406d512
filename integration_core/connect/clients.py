"""The deployment's OAuth apps: one client per provider, from the `OAUTH_CLIENTS` setting.

A provider's consent screen names an OAuth app (client id, client secret, registered
redirect URLs). That app belongs to whoever runs Lockstep, not to a tenant, so it is an
app setting (in Azure, a Key Vault reference), a JSON object by system:

    {"hubspot": {"client_id": "…", "client_secret": "…"},
     "sandbox": {"client_id": "…", "client_secret": "…", "base_url": "http://127.0.0.1:9000"}}

`base_url` places a provider's relative endpoints (one without a fixed host, like the
sandbox); `authorize_url`, `token_url` and `scopes` override what the adapter declares.
The token endpoint receives the client secret, so only this setting — never a tenant's
connection config — decides where it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from integration_core.ports.oauth import ClientAuthMethod, OAuthSpec

__all__ = ["OAuthClient", "OAuthEndpoints", "endpoints_for", "parse_clients"]


def _absolute(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as err:
        raise ValueError("must be an absolute http(s) URL") from err
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http(s) URL")
    return value


class OAuthClient(BaseModel):
    """One provider's OAuth app, as the deployment registered it."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    client_id: str = Field(min_length=1, max_length=500)
    client_secret: SecretStr | None = None
    base_url: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    scopes: list[str] | None = None
    token_endpoint_auth_method: ClientAuthMethod | None = None

    _urls = field_validator("base_url", "authorize_url", "token_url")(_absolute)


@dataclass(frozen=True)
class OAuthEndpoints:
    """What one connect flow uses: the adapter's spec completed by the deployment's client."""

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    token_endpoint_auth_method: ClientAuthMethod
    authorize_params: Mapping[str, str]


def parse_clients(text: str) -> dict[str, OAuthClient]:
    """`OAUTH_CLIENTS` as clients by system; ValueError naming the system and field, never a
    value (the setting holds client secrets)."""
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("not a JSON object of clients by system") from None
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object of clients by system")
    clients: dict[str, OAuthClient] = {}
    for system, entry in raw.items():
        try:
            clients[str(system)] = OAuthClient.model_validate(entry)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}"
                for e in err.errors(include_input=False, include_url=False, include_context=False)
            )
            raise ValueError(f"{system}: {problems}") from None
    return clients


def endpoints_for(spec: OAuthSpec, client: OAuthClient) -> OAuthEndpoints:
    """The adapter's endpoints and scopes, with the client's overrides; a relative endpoint
    is resolved against the client's `base_url`.

    Raises:
        ValueError: a relative endpoint and no `base_url` to place it.
    """

    def place(declared: str, override: str | None) -> str:
        if override is not None:
            return override
        if _is_absolute(declared):
            return declared
        if client.base_url is None:
            raise ValueError(f"the endpoint {declared!r} is relative and there is no base_url")
        return urljoin(client.base_url.rstrip("/") + "/", declared.lstrip("/"))

    return OAuthEndpoints(
        authorize_url=place(spec.authorize_url, client.authorize_url),
        token_url=place(spec.token_url, client.token_url),
        scopes=tuple(client.scopes) if client.scopes is not None else spec.scopes,
        token_endpoint_auth_method=client.token_endpoint_auth_method
        or spec.token_endpoint_auth_method,
        authorize_params=spec.authorize_params,
    )


def _is_absolute(url: str) -> bool:
    try:
        return bool(httpx.URL(url).scheme)
    except httpx.InvalidURL:
        return False
