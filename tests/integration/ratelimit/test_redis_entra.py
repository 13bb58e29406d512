"""REDIS_HOST: the app signs in to Redis with an Entra ID token, as it does in Azure.

A real redis-server stands in for Azure Redis: an ACL user named after the token's `oid`
claim with the token as its password is what Azure's access-policy assignment amounts to.
The token comes from a fake azure-identity credential (no Entra ID here); everything after
it (redis-entraid, redis-py, the limiter's pool, the runtime's wiring) is the real path.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import jwt
import pytest
import redis
from azure.core.credentials import AccessToken

from integration_core.ratelimit import Limit, RateLimiter
from integration_core.ratelimit.entra import REDIS_SCOPE, entra_credential_provider
from integration_core.runtime import Runtime, build_runtime
from tests.harness.embedded import embedded_settings

pytestmark = pytest.mark.integration


class FakeTokenCredential:
    """An azure-identity TokenCredential that hands out a JWT for one object id."""

    def __init__(self, object_id: str) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.expires = int(time.time()) + 3600
        claims = {"oid": object_id, "exp": self.expires, "aud": "https://redis.azure.com"}
        self.token = jwt.encode(claims, "a-test-signing-key-that-is-not-entra", algorithm="HS256")

    def get_token(self, *scopes: str, **_: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, self.expires)


@pytest.fixture
def admin(redis_server_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server_url)
    yield client
    client.close()


def _runtime(tmp_path: Path, redis_url: str, credential: FakeTokenCredential) -> Runtime:
    address = urlparse(redis_url)
    settings = embedded_settings(
        tmp_path, redis_host=address.hostname, redis_port=address.port, redis_tls=False
    )
    return build_runtime(settings, redis_credential=credential)


def test_the_runtime_signs_in_with_the_identity_token(
    tmp_path: Path, redis_server_url: str, admin: redis.Redis
) -> None:
    object_id = str(uuid.uuid4())
    credential = FakeTokenCredential(object_id)
    # Azure's equivalent: the access policy assignment naming the identity's object id.
    admin.execute_command(
        "ACL", "SETUSER", object_id, "on", f">{credential.token}", "~*", "&*", "+@all"
    )
    rt = _runtime(tmp_path, redis_server_url, credential)
    try:
        assert rt.redis is not None
        assert rt.redis.execute_command("ACL", "WHOAMI").decode() == object_id
        decision = rt.limiter.acquire(Limit("conn:entra", 5, 60.0))
        assert decision.allowed
        assert not decision.degraded
        assert credential.scopes
        assert set(credential.scopes) == {(REDIS_SCOPE,)}
    finally:
        rt.close()
        admin.execute_command("ACL", "DELUSER", object_id)


def test_a_token_redis_does_not_know_is_refused(
    tmp_path: Path, redis_server_url: str, admin: redis.Redis
) -> None:
    stranger = FakeTokenCredential(str(uuid.uuid4()))  # no ACL user: no access policy
    rt = _runtime(tmp_path, redis_server_url, stranger)
    try:
        assert rt.redis is not None
        with pytest.raises(redis.AuthenticationError):
            rt.redis.ping()
        decision = rt.limiter.acquire(Limit("conn:entra", 5, 60.0))
        assert decision.degraded  # the limiter answers from its local share, never hangs
        assert stranger.token not in repr(rt.settings)
    finally:
        rt.close()


class RotatingTokenCredential:
    """Mints a new short-lived token on every request, as Entra ID does on renewal."""

    def __init__(self, object_id: str, on_mint: Callable[[str], None]) -> None:
        self.object_id = object_id
        self.tokens: list[str] = []
        self.renewed = threading.Event()
        self._on_mint = on_mint

    def get_token(self, *scopes: str, **_: object) -> AccessToken:
        expires = int(time.time()) + 4
        claims = {"oid": self.object_id, "exp": expires, "jti": str(uuid.uuid4())}
        token = jwt.encode(claims, "a-test-signing-key-that-is-not-entra", algorithm="HS256")
        self._on_mint(token)
        self.tokens.append(token)
        # redis-entraid fetches twice on first use (the token, then its renewal loop starts
        # with a fresh one); the third is the first scheduled renewal, the one it announces.
        if len(self.tokens) > 2:
            self.renewed.set()
        return AccessToken(token, expires)


def test_the_limiter_signs_in_again_after_a_token_renewal(
    redis_server_url: str, admin: redis.Redis
) -> None:
    object_id = str(uuid.uuid4())
    admin.execute_command("ACL", "SETUSER", object_id, "on", "~*", "&*", "+@all")

    active = threading.Event()
    active.set()

    def accept(token: str) -> None:  # Entra ID accepts every token it issued
        if active.is_set():  # renewals go on in the background after the test
            admin.execute_command("ACL", "SETUSER", object_id, f">{token}")

    credential = RotatingTokenCredential(object_id, accept)
    limiter = RateLimiter.from_url(
        redis_server_url,
        credential_provider=entra_credential_provider(credential),
        timeout_ms=1000,
    )
    try:
        limit = Limit("conn:renewal", 100, 60.0)
        assert not limiter.acquire(limit).degraded
        assert credential.renewed.wait(timeout=30), "the token was never renewed"
        # The server drops connections signed in with the first token once it expires.
        admin.execute_command("ACL", "SETUSER", object_id, f"<{credential.tokens[0]}")
        admin.execute_command("CLIENT", "KILL", "USER", object_id)
        decision = limiter.acquire(limit)
        assert decision.allowed
        assert not decision.degraded
    finally:
        active.clear()
        limiter.close()
        admin.execute_command("ACL", "DELUSER", object_id)
