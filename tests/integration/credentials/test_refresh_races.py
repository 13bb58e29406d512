"""Race-free refresh across instances against a real Redis: threads, processes, outages."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from integration_core.credentials import RefreshLock
from integration_core.credentials.local import LocalSecretStore
from integration_core.errors import RetryableError
from tests.harness.oauth_server import OAuthServer
from tests.harness.redis_server import RedisServer, redis_client
from tests.unit.credentials.support import TENANT, Stack, race_worker

pytestmark = pytest.mark.integration

RACERS = 20


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer(delay_seconds=0.05) as srv:
        yield srv


def _stored_token(stack: Stack, credential_id: str) -> str:
    return stack.access_token(credential_id)


def test_twenty_threads_as_separate_instances_cause_one_token_call(
    server: OAuthServer, redis_server_url: str, lock_prefix: str, tmp_path: Path
) -> None:
    key = LocalSecretStore.generate_key()
    stacks = [
        Stack(tmp_path, key, redis_client=redis_client(redis_server_url), lock_prefix=lock_prefix)
        for _ in range(RACERS)
    ]
    credential_id = stacks[0].store_auth_code(server)  # no access token: due at once
    barrier = threading.Barrier(RACERS)

    def racer(stack: Stack) -> str:
        barrier.wait()
        return stack.access_token(credential_id)

    with ThreadPoolExecutor(RACERS) as pool:
        tokens = list(pool.map(racer, stacks))
    assert len(server.calls) == 1
    assert len(set(tokens)) == 1
    assert tokens[0] == _stored_token(stacks[0], credential_id)
    record = stacks[0].service.get_record(TENANT, credential_id)
    assert record.refresh_count == 1
    assert record.fence >= 1
    for stack in stacks:
        stack.close()


def test_twenty_processes_cause_one_token_call(
    server: OAuthServer, redis_server_url: str, lock_prefix: str, tmp_path: Path
) -> None:
    key = LocalSecretStore.generate_key()
    stack = Stack(
        tmp_path, key, redis_client=redis_client(redis_server_url), lock_prefix=lock_prefix
    )
    credential_id = stack.store_auth_code(server)
    context = multiprocessing.get_context("fork")
    go = context.Event()
    results = context.Queue()
    workers = [
        context.Process(
            target=race_worker,
            args=(str(tmp_path), key, redis_server_url, lock_prefix, credential_id, go, results),
        )
        for _ in range(RACERS)
    ]
    for worker in workers:
        worker.start()
    go.set()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert [o for o in outcomes if o[0] != "ok"] == []
    tokens = {o[1] for o in outcomes}
    assert len(server.calls) == 1
    assert tokens == {_stored_token(stack, credential_id)}
    stack.close()


def test_redis_down_still_refreshes_serialized_per_instance(
    server: OAuthServer,
    own_redis: RedisServer,
    lock_prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = Stack(
        tmp_path,
        LocalSecretStore.generate_key(),
        redis_client=own_redis.client(),
        lock_prefix=lock_prefix,
    )
    credential_id = stack.store_auth_code(server)
    own_redis.stop()  # Redis dies after start-up
    barrier = threading.Barrier(10)

    def racer(_: int) -> str:
        barrier.wait()
        return stack.access_token(credential_id)

    with caplog.at_level(logging.WARNING), ThreadPoolExecutor(10) as pool:
        tokens = set(pool.map(racer, range(10)))
    assert len(server.calls) == 1
    assert len(tokens) == 1
    assert any("Redis unavailable" in r.getMessage() for r in caplog.records)
    stack.close()


def test_without_redis_rotation_races_never_look_like_dead_grants(
    server: OAuthServer, tmp_path: Path
) -> None:
    key = LocalSecretStore.generate_key()
    stacks = [Stack(tmp_path, key) for _ in range(8)]  # separate instances, no Redis
    credential_id = stacks[0].store_auth_code(server)
    barrier = threading.Barrier(len(stacks))

    def racer(stack: Stack) -> str:
        barrier.wait()
        return stack.access_token(credential_id)

    with ThreadPoolExecutor(len(stacks)) as pool:
        tokens = set(pool.map(racer, stacks))
    assert len(tokens) == 1  # every instance ends on the committed token
    assert stacks[0].service.get_record(TENANT, credential_id).status.value == "active"
    assert stacks[0].notable_events() == []
    for stack in stacks:
        stack.close()


def test_slow_endpoint_keeps_the_lease_alive_past_its_ttl(
    redis_server_url: str, lock_prefix: str, tmp_path: Path
) -> None:
    key = LocalSecretStore.generate_key()
    with OAuthServer(delay_seconds=1.0) as server:
        stacks = [
            Stack(
                tmp_path,
                key,
                redis_client=redis_client(redis_server_url),
                lock_prefix=lock_prefix,
                lock_ttl_seconds=0.3,  # far shorter than the endpoint: renewal must hold it
            )
            for _ in range(5)
        ]
        credential_id = stacks[0].store_auth_code(server)
        barrier = threading.Barrier(len(stacks))

        def racer(stack: Stack) -> str:
            barrier.wait()
            return stack.access_token(credential_id)

        with ThreadPoolExecutor(len(stacks)) as pool:
            tokens = set(pool.map(racer, stacks))
        assert len(server.calls) == 1
        assert len(tokens) == 1
        for stack in stacks:
            stack.close()


def test_waiters_give_up_after_the_lock_wait_without_a_second_call(
    redis_server_url: str, lock_prefix: str, tmp_path: Path
) -> None:
    key = LocalSecretStore.generate_key()
    with OAuthServer(delay_seconds=1.0) as server:
        holder = Stack(
            tmp_path, key, redis_client=redis_client(redis_server_url), lock_prefix=lock_prefix
        )
        impatient = Stack(
            tmp_path,
            key,
            redis_client=redis_client(redis_server_url),
            lock_prefix=lock_prefix,
            lock_wait_seconds=0.1,
        )
        credential_id = holder.store_auth_code(server)
        client = redis_client(redis_server_url)
        lock_key = f"{lock_prefix}lock:{credential_id}"
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(holder.access_token, credential_id)
            deadline = time.monotonic() + 5
            while not client.exists(lock_key):
                assert time.monotonic() < deadline, "holder never took the lock"
                time.sleep(0.01)
            with pytest.raises(RetryableError):
                impatient.access_token(credential_id)
            token = held.result(timeout=10)
        assert impatient.access_token(credential_id) == token
        assert len(server.calls) == 1
        holder.close()
        impatient.close()


def test_fencing_tokens_increase_and_a_stolen_lease_is_noticed(
    redis_server_url: str, lock_prefix: str
) -> None:
    client = redis_client(redis_server_url)
    lock = RefreshLock(client, prefix=lock_prefix, ttl_seconds=0.3, wait_seconds=1)
    with lock.hold("cred") as first:
        assert first.distributed
    with lock.hold("cred") as second:
        assert second.fence is not None
        assert first.fence is not None
        assert second.fence > first.fence
        client.delete(f"{lock_prefix}lock:cred")  # the lease expires behind our back
        assert second.lost.wait(2)
    other = RefreshLock(client, prefix=lock_prefix, ttl_seconds=5, wait_seconds=0.2)
    with lock.hold("cred"), pytest.raises(RetryableError):  # noqa: SIM117
        with other.hold("cred"):
            pass
