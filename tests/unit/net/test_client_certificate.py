"""A `client_certificate` credential is presented (mTLS) by the adapters' clients.

The server is a real HTTPS server on loopback that requires a client certificate; the
certificates are made with `cryptography` for each test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from integration_core.models import Connection, ConnectionStatus
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.http_servers import MutualTlsServer
from tests.harness.keyvault_standin import self_signed_certificate
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit

TENANT = "t1"


def _store_certificate(
    rt: Runtime, *, certificate_pem: str, key_pem: str, ca_pem: str
) -> Connection:
    rt.credentials.store_credential(
        TENANT,
        "c1",
        {
            "type": "client_certificate",
            "certificate_pem": certificate_pem,
            "private_key_pem": key_pem,
            "ca_bundle_pem": ca_pem,
        },
    )
    return Connection.from_document(rt.store.get(Connection.container, TENANT, "c1"))


def _connect_with_certificate(
    rt: Runtime, base_url: str, *, certificate_pem: str, key_pem: str, ca_pem: str
) -> Connection:
    connect_sandbox(rt, "c1", seeded_account("c1"), base_url=base_url)
    return _store_certificate(rt, certificate_pem=certificate_pem, key_pem=key_pem, ca_pem=ca_pem)


def test_the_client_certificate_is_presented(tmp_path: Path) -> None:
    server_cert, server_key = self_signed_certificate(("127.0.0.1",))
    client_cert, client_key = self_signed_certificate(("lockstep-client",))
    with MutualTlsServer(
        certificate_pem=server_cert, key_pem=server_key, client_ca_pem=client_cert
    ) as server:
        rt = embedded_runtime(tmp_path, {})
        connection = _connect_with_certificate(
            rt, server.url, certificate_pem=client_cert, key_pem=client_key, ca_pem=server_cert
        )
        with rt.connectors.client_for(connection) as client:
            answer = client.get("/whoami")
        rt.close()
    assert answer.status_code == 200
    assert answer.json() == {"client": "lockstep-client"}


def test_an_unusable_certificate_marks_the_connection_instead_of_retrying(
    tmp_path: Path,
) -> None:
    server_cert, server_key = self_signed_certificate(("127.0.0.1",))
    client_cert, _ = self_signed_certificate(("lockstep-client",))
    _, other_key = self_signed_certificate(("someone-else",))
    with MutualTlsServer(
        certificate_pem=server_cert, key_pem=server_key, client_ca_pem=client_cert
    ) as server:
        rt = embedded_runtime(tmp_path, {})
        _connect_with_certificate(
            rt, server.url, certificate_pem=client_cert, key_pem=other_key, ca_pem=server_cert
        )
        run_scheduler(rt)
        drained = drain_queues(rt)
        connection = Connection.from_document(rt.store.get(Connection.container, TENANT, "c1"))
        rt.close()
    assert server.received == []
    assert drained.failures == 0
    assert drained.poisoned == []
    assert connection.status is ConnectionStatus.MISCONFIGURED
    (result,) = drained.results
    assert any("client certificate cannot be used" in error for error in result.errors)
    assert other_key not in " ".join(result.errors)


def test_storing_a_working_certificate_reactivates_the_connection(tmp_path: Path) -> None:
    server_cert, server_key = self_signed_certificate(("127.0.0.1",))
    client_cert, client_key = self_signed_certificate(("lockstep-client",))
    _, other_key = self_signed_certificate(("someone-else",))
    with MutualTlsServer(
        certificate_pem=server_cert, key_pem=server_key, client_ca_pem=client_cert
    ) as server:
        rt = embedded_runtime(tmp_path, {})
        _connect_with_certificate(
            rt, server.url, certificate_pem=client_cert, key_pem=other_key, ca_pem=server_cert
        )
        run_scheduler(rt)
        drain_queues(rt)
        marked = Connection.from_document(rt.store.get(Connection.container, TENANT, "c1"))
        connection = _store_certificate(
            rt, certificate_pem=client_cert, key_pem=client_key, ca_pem=server_cert
        )
        with rt.connectors.client_for(connection) as client:
            answer = client.get("/whoami")
        rt.close()
    assert marked.status is ConnectionStatus.MISCONFIGURED
    assert connection.status is ConnectionStatus.ACTIVE
    assert answer.json() == {"client": "lockstep-client"}
