"""Redis with Microsoft Entra ID: the app's identity signs in with a token, never a key.

Azure Managed Redis and Azure Cache for Redis accept an Entra ID access token for the
`https://redis.azure.com` resource as the password, with the token's `oid` claim (the
identity's object id) as the user name. `redis-entraid` (maintained by Redis, documented
by Microsoft for redis-py) fetches the token, re-fetches it before it expires, and
re-authenticates open connections, so a long-lived pool keeps working past token expiry.
"""

from __future__ import annotations

from ipaddress import ip_address

from azure.core.credentials import TokenCredential
from redis.auth.token_manager import RetryPolicy, TokenManagerConfig
from redis.credentials import CredentialProvider
from redis_entraid.cred_provider import EntraIdCredentialsProvider
from redis_entraid.identity_provider import DefaultAzureCredentialProvider

from integration_core.errors import ConfigurationError

__all__ = ["REDIS_SCOPE", "entra_credential_provider", "redis_url_for_host"]

REDIS_SCOPE = "https://redis.azure.com/.default"
_LOCAL_HOSTS = frozenset({"localhost"})


def entra_credential_provider(credential: TokenCredential) -> CredentialProvider:
    """Sign in to Redis as `credential`'s identity (a managed identity in Azure).

    The token is renewed at 70% of its lifetime; a failed request is retried three times.
    """
    # DefaultAzureCredentialProvider only calls `get_token(scope)`: any azure-identity
    # TokenCredential serves (ManagedIdentityCredential, DefaultAzureCredential, ...).
    identity = DefaultAzureCredentialProvider(credential, (REDIS_SCOPE,))
    config = TokenManagerConfig(
        expiration_refresh_ratio=0.7,
        lower_refresh_bound_millis=0,
        token_request_execution_timeout_in_ms=10_000,
        retry_policy=RetryPolicy(max_attempts=3, delay_in_ms=100),
    )
    provider: CredentialProvider = EntraIdCredentialsProvider(identity, config)
    return provider


def redis_url_for_host(host: str, *, port: int, tls: bool = True) -> str:
    """The URL of database 0 at `host:port` (no credentials: the provider signs in).

    Plain TCP is allowed only to a loopback host (tests, a local redis-server): an Azure
    Redis endpoint is TLS only, and a token must never cross a network in clear text.
    """
    if not tls and not _is_loopback(host):
        raise ConfigurationError(f"REDIS_TLS=false is only allowed for a local Redis, not {host!r}")
    bracketed = f"[{host}]" if ":" in host else host
    return f"{'rediss' if tls else 'redis'}://{bracketed}:{port}/0"


def _is_loopback(host: str) -> bool:
    if host in _LOCAL_HOSTS:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
