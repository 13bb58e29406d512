"""Shared fixtures: the local stack's endpoints, and stores and queues on each backend.

Service-backed fixtures read `.local-stack/env` (written by `infra/local/stack.sh start`);
environment variables of the same names override it. With LOCKSTEP_SKIP_SERVICES=1 they
skip (the fast unit lane); otherwise a service that does not answer is an error that says
how to start the stack.
"""

from __future__ import annotations

import os
import shlex
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlparse

import pytest
from hypothesis import settings as hypothesis_settings

from integration_core.errors import LockstepError
from integration_core.messaging.inline import InlineMessageQueue
from integration_core.messaging.storage_queue import StorageQueueMessageQueue
from integration_core.storage.cosmos import CosmosDocumentStore
from integration_core.storage.sqlite import SqliteDocumentStore
from tests.harness.redis_server import RedisServer

# CI tests the same examples on every run (derived from each test), so a red CI is a
# regression, not a new random find; a developer's run explores new examples each time.
# HYPOTHESIS_PROFILE=explore in CI, or =ci locally, switches.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore")
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "explore")
)

ROOT = Path(__file__).resolve().parents[1]
STACK_ENV_FILE = ROOT / ".local-stack" / "env"
SKIP_SERVICES = "LOCKSTEP_SKIP_SERVICES"
# Subprocesses the tests start (`lockstep serve`, the CLI, the demo) import this checkout's
# code, not that of the checkout the virtualenv's editable install names (another worktree).
os.environ["PYTHONPATH"] = os.pathsep.join(
    path for path in (str(ROOT), os.environ.get("PYTHONPATH")) if path
)
START_HINT = "start the local stack with `infra/local/stack.sh start` (`make test` does it for you)"

# The emulators' published development credentials (not secrets).
_COSMOS_EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
_AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
)


@dataclass(frozen=True)
class LocalStack:
    """Where the local stack's services answer."""

    cosmos_endpoint: str
    cosmos_key: str
    cosmos_ca_file: str | None
    cosmos_verify_tls: bool
    storage_connection_string: str
    redis_url: str


def read_env_file(path: Path) -> dict[str, str]:
    """KEY='value' lines (shell syntax, as stack.sh writes them); comments ignored."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        parts = shlex.split(raw, comments=False, posix=True)
        values[key.strip()] = parts[0] if parts else ""
    return values


def services_skipped() -> bool:
    return os.environ.get(SKIP_SERVICES, "") == "1"


def skip_if_services_skipped(service: str) -> None:
    if services_skipped():
        pytest.skip(f"{service}: {SKIP_SERVICES}=1 (unit lane without the local stack)")


def service_unavailable(service: str, where: str, err: BaseException) -> NoReturn:
    pytest.fail(
        f"{service} does not answer at {where} ({type(err).__name__}: {err}); {START_HINT}."
        f" Set {SKIP_SERVICES}=1 to skip service tests instead.",
        pytrace=False,
    )


def tcp_check(service: str, url: str) -> None:
    """Fail fast (instead of after the SDK's retries) when nothing listens at `url`."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "localhost", port), timeout=2).close()
    except OSError as err:
        service_unavailable(service, url, err)


def load_local_stack() -> LocalStack:
    found = read_env_file(STACK_ENV_FILE)

    def value(key: str, default: str) -> str:
        return os.environ.get(key) or found.get(key) or default

    ca_file = value("COSMOS_CA_FILE", "")
    return LocalStack(
        cosmos_endpoint=value("COSMOS_ENDPOINT", "https://localhost:8081/"),
        cosmos_key=value("COSMOS_KEY", _COSMOS_EMULATOR_KEY),
        cosmos_ca_file=ca_file or None,
        cosmos_verify_tls=value("COSMOS_VERIFY_TLS", "true").lower() not in ("0", "false", "no"),
        storage_connection_string=value(
            "AZURE_STORAGE_CONNECTION_STRING",
            value("AzureWebJobsStorage", _AZURITE_CONNECTION_STRING),
        ),
        redis_url=value("REDIS_URL", "redis://127.0.0.1:6379/0"),
    )


@pytest.fixture(scope="session")
def local_stack() -> LocalStack:
    """The stack's endpoints (no check that anything answers: see the service fixtures)."""
    skip_if_services_skipped("local stack")
    return load_local_stack()


def unique_name(prefix: str) -> str:
    """A short unique lowercase name (valid for queues, databases and key prefixes)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# --- documents --------------------------------------------------------------------------------


@pytest.fixture
def sqlite_store() -> Iterator[SqliteDocumentStore]:
    store = SqliteDocumentStore(":memory:")
    yield store
    store.close()


@pytest.fixture(scope="session")
def make_cosmos_store(local_stack: LocalStack) -> Iterator[Callable[[], CosmosDocumentStore]]:
    """Makes CosmosDocumentStores, each on a fresh database; all are dropped at the end."""
    tcp_check("Cosmos DB emulator", local_stack.cosmos_endpoint)
    made: list[CosmosDocumentStore] = []

    def make() -> CosmosDocumentStore:
        try:
            store = CosmosDocumentStore(
                local_stack.cosmos_endpoint,
                local_stack.cosmos_key,
                database=unique_name("lockstep-test-"),
                ca_file=local_stack.cosmos_ca_file,
                verify_tls=local_stack.cosmos_verify_tls,
            )
        except LockstepError as err:
            service_unavailable("Cosmos DB emulator", local_stack.cosmos_endpoint, err)
        made.append(store)
        return store

    yield make
    for store in made:
        store.drop_database()
        store.close()


@pytest.fixture
def cosmos_store(make_cosmos_store: Callable[[], CosmosDocumentStore]) -> CosmosDocumentStore:
    """A CosmosDocumentStore on a fresh database on the emulator."""
    return make_cosmos_store()


# --- queues -----------------------------------------------------------------------------------


@pytest.fixture
def inline_queue() -> InlineMessageQueue:
    return InlineMessageQueue()


@pytest.fixture(scope="session")
def storage_connection_string(local_stack: LocalStack) -> str:
    """Azurite's connection string, once its queue service has answered."""
    from azure.core.exceptions import AzureError
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(
        local_stack.storage_connection_string, retry_total=0, connection_timeout=3
    )
    try:
        service.get_service_properties()
    except AzureError as err:
        service_unavailable("Azurite queue service", service.url, err)
    finally:
        service.close()
    return local_stack.storage_connection_string


@pytest.fixture
def storage_queue(storage_connection_string: str) -> Iterator[StorageQueueMessageQueue]:
    """Storage queues on Azurite under a unique prefix; those queues are deleted afterwards."""
    from azure.storage.queue import QueueServiceClient

    prefix = unique_name("t")
    queue = StorageQueueMessageQueue.from_connection_string(
        storage_connection_string, queue_prefix=prefix
    )
    yield queue
    queue.close()
    service = QueueServiceClient.from_connection_string(storage_connection_string)
    for found in service.list_queues(name_starts_with=prefix):
        service.delete_queue(found.name)
    service.close()


# --- redis ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(local_stack: LocalStack) -> str:
    """REDIS_URL of the stack's Redis, once it has answered PING."""
    import redis

    client = redis.Redis.from_url(local_stack.redis_url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as err:
        service_unavailable("Redis", local_stack.redis_url, err)
    finally:
        client.close()
    return local_stack.redis_url


# --- throwaway redis-server -------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Our own redis-server on a free port, else the stack's Redis (`redis_url`)."""
    skip_if_services_skipped("Redis")
    if RedisServer.available():
        with RedisServer() as server:
            yield server.url
        return
    url: str = request.getfixturevalue("redis_url")  # a missing Redis is an error, not a skip
    yield url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server this test may kill, pause and restart."""
    skip_if_services_skipped("Redis")
    if not RedisServer.available():
        pytest.skip("redis-server binary not found: cannot kill and restart a shared Redis")
    with RedisServer() as server:
        yield server
