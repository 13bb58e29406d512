"""The function host on the local stack, shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.credentials.local import LocalSecretStore
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from integration_core.runtime import Runtime
from tests.conftest import LocalStack, unique_name
from tests.harness.embedded import connect_sandbox
from tests.harness.function_host import FunctionHost, sample_settings
from tests.harness.sandbox import seeded_account


@pytest.fixture
def systems() -> Iterator[dict[str, tuple[SandboxAccount, SandboxServer]]]:
    crm, mkt = seeded_account("crm", contacts=15), seeded_account("mkt")
    with SandboxServer(crm) as crm_server, SandboxServer(mkt) as mkt_server:
        yield {"crm": (crm, crm_server), "mkt": (mkt, mkt_server)}


@pytest.fixture
def extra_settings() -> dict[str, str]:
    """App settings a test module adds to the host's (override this fixture)."""
    return {}


@pytest.fixture
def host(
    local_stack: LocalStack,
    storage_connection_string: str,
    redis_url: str,
    tmp_path: Path,
    extra_settings: dict[str, str],
) -> Iterator[FunctionHost]:
    settings = (
        sample_settings()
        | {
            "COSMOS_ENDPOINT": local_stack.cosmos_endpoint,
            "COSMOS_KEY": local_stack.cosmos_key,
            "COSMOS_CA_FILE": local_stack.cosmos_ca_file or "",
            "COSMOS_VERIFY_TLS": str(local_stack.cosmos_verify_tls).lower(),
            "COSMOS_DATABASE": unique_name("lockstep-e2e-"),
            "AzureWebJobsStorage": storage_connection_string,
            "REDIS_URL": redis_url,
            "LOCAL_SECRETS_PATH": str(tmp_path / "secrets.enc"),
            "LOCAL_SECRETS_KEY": LocalSecretStore.generate_key(),
            "SYNC_PAGE_SIZE": "4",
            "WEBHOOK_REQUESTS_PER_MINUTE": "20",
        }
        | extra_settings
    )
    host = FunctionHost(settings, visibility_timeout=0, tenant="t1")
    for queue in (INBOUND_QUEUE, OUTBOUND_QUEUE):
        for name in (queue, f"{queue}-poison"):
            client = QueueClient.from_connection_string(storage_connection_string, name)
            try:
                client.create_queue()
            except ResourceExistsError:
                client.clear_messages()
    yield host
    rt = runtime(host)
    rt.store.drop_database()  # type: ignore[attr-defined]
    rt.close()


def runtime(host: FunctionHost) -> Runtime:
    rt: Runtime = host.module.runtime()
    return rt


@pytest.fixture
def rt(host: FunctionHost, systems: dict[str, tuple[SandboxAccount, SandboxServer]]) -> Runtime:
    rt = runtime(host)
    for name, target in (("crm", "mkt"), ("mkt", "crm")):
        account, server = systems[name]
        connect_sandbox(rt, name, account, base_url=server.base_url, targets=(target,))
    return rt
