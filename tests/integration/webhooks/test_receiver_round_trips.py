"""The receiver against a real redis-server: rate limit and dedup cost one Redis round trip
per delivery, together. The limit is the limiter's one script call; dedup is the durable
inbox's create-if-absent in the document store, which must be written before the 2xx
anyway, so a Redis dedup key would add a second, non-durable answer to the same question
(set, then an inbox or queue failure, and the provider's retry would be taken for a
duplicate and lost)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import WebhookRegistrations
from tests.harness.embedded import embedded_runtime
from tests.harness.redis_server import RedisServer
from tests.harness.webhooks import github_delivery

pytestmark = pytest.mark.integration


@pytest.fixture
def rt(tmp_path: Path, own_redis: RedisServer) -> Iterator[Runtime]:
    runtime = embedded_runtime(tmp_path, {}, redis_url=own_redis.url, ratelimit_timeout_ms=2000)
    yield runtime
    runtime.close()


def _round_trips(client: redis.Redis) -> int:
    """Requests the server has answered since CONFIG RESETSTAT, less that one's own answer
    (a pipeline of commands is one request: one read, one write)."""
    answered: int = client.info("stats")["total_writes_processed"]
    return answered - 1


def test_each_delivery_new_or_duplicate_costs_one_round_trip(
    rt: Runtime, own_redis: RedisServer
) -> None:
    registration, secret = WebhookRegistrations(rt.store, rt.credentials).register(
        "t1", "gh", "github"
    )
    assert secret is not None
    deliveries = [github_delivery(secret, {"n": n}) for n in range(10)]
    # The first delivery loads the limiter's script and finds the registration.
    assert receive_webhook(rt, registration.id, headers=deliveries[0][0], body=deliveries[0][1])
    client = own_redis.client()
    client.config_resetstat()
    statuses = [
        receive_webhook(rt, registration.id, headers=headers, body=body).status
        for headers, body in [*deliveries[1:], deliveries[1]]
    ]
    assert statuses == [202] * 9 + [200]
    assert _round_trips(client) == 10
    assert client.info("commandstats")["cmdstat_evalsha"]["calls"] == 10
