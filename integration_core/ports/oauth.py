"""How a provider is connected with OAuth 2.0: its endpoints and scopes, as data.

An adapter declares an `OAuthSpec` (`oauth` on its class); the connect flow
(integration_core/connect/) reads it through `oauth_spec(system)`. Endpoints are absolute
for providers with one host (HubSpot); a provider that runs wherever it is deployed (the
sandbox, a self-hosted system) gives paths, and the deployment's OAuth client entry names
the host (`OAUTH_CLIENTS`, see connect/clients.py) — never the tenant's connection config,
since the token endpoint receives the deployment's client secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from integration_core.ports.registry import adapter_factory

__all__ = ["ClientAuthMethod", "OAuthSpec", "oauth_spec"]

ClientAuthMethod = Literal["client_secret_post", "client_secret_basic"]


@dataclass(frozen=True)
class OAuthSpec:
    """A provider's authorization-code endpoints (RFC 6749 §3.1, §3.2) and default scopes.

    `authorize_params` are extra query parameters the provider wants on the authorize URL
    (e.g. Google's `access_type=offline` to get a refresh token).
    """

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...] = ()
    token_endpoint_auth_method: ClientAuthMethod = "client_secret_post"  # noqa: S105
    authorize_params: Mapping[str, str] = field(default_factory=dict)


def oauth_spec(system: str) -> OAuthSpec | None:
    """The OAuth spec of `system`'s adapter, or None when it is not connected with OAuth.

    Raises:
        ConfigurationError: no adapter for `system`.
    """
    found = getattr(adapter_factory(system), "oauth", None)
    return found if isinstance(found, OAuthSpec) else None
