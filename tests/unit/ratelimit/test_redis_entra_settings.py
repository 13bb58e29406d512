"""REDIS_HOST settings: TLS except to loopback, and never together with REDIS_URL."""

from __future__ import annotations

import pytest

from integration_core.credentials.local import LocalSecretStore
from integration_core.errors import ConfigurationError
from integration_core.ratelimit.entra import redis_url_for_host
from integration_core.settings import load_settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("host", "port", "tls", "url"),
    [
        (
            "amr-x.westeurope.redis.azure.net",
            10000,
            True,
            "rediss://amr-x.westeurope.redis.azure.net:10000/0",
        ),
        ("127.0.0.1", 6379, False, "redis://127.0.0.1:6379/0"),
        ("::1", 6379, False, "redis://[::1]:6379/0"),
        ("localhost", 6380, True, "rediss://localhost:6380/0"),
    ],
)
def test_url_for_host(host: str, port: int, tls: bool, url: str) -> None:
    assert redis_url_for_host(host, port=port, tls=tls) == url


@pytest.mark.parametrize("host", ["amr-x.westeurope.redis.azure.net", "10.0.0.4", "127.example"])
def test_plain_tcp_to_a_remote_host_is_refused(host: str) -> None:
    with pytest.raises(ConfigurationError, match="REDIS_TLS=false"):
        redis_url_for_host(host, port=10000, tls=False)


def test_redis_url_and_redis_host_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="REDIS_URL or REDIS_HOST"):
        load_settings(
            store_backend="sqlite",
            secret_backend="local",
            local_secrets_key=LocalSecretStore.generate_key(),
            queue_backend="inline",
            redis_url="redis://127.0.0.1:6379/0",
            redis_host="amr-x.westeurope.redis.azure.net",
        )
