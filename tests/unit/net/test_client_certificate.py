"""A `client_certificate` credential is presented (mTLS) by the adapters' clients.

The server is a real HTTPS server on loopback that requires a client certificate; the
certificates are made with `cryptography` for each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Served:
    """The server, a runtime with connection c1 to it, and the certificates involved."""

    server: MutualTlsServer
    rt: Runtime
    server_cert: str
    client_cert: str
    client_key: str

    def store_certificate(self, *, key_pem: str) -> Connection:
        self.rt.credentials.store_credential(
            TENANT,
            "c1",
            {
                "type": "client_certificate",
                "certificate_pem": self.client_cert,
                "private_key_pem": key_pem,
                "ca_bundle_pem": self.server_cert,
            },
        )
        return Connection.from_document(self.rt.store.get(Connection.container, TENANT, "c1"))

    def whoami(self, connection: Connection) -> object:
        with self.rt.connectors.client_for(connection) as client:
            answer = client.get("/whoami")
        assert answer.status_code == 200
        return answer.json()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server_cert, server_key = self_signed_certificate(("127.0.0.1",))
    client_cert, client_key = self_signed_certificate(("lockstep-client",))
    with MutualTlsServer(
        certificate_pem=server_cert, key_pem=server_key, client_ca_pem=client_cert
    ) as server:
        rt = embedded_runtime(tmp_path, {})
        connect_sandbox(rt, "c1", seeded_account("c1"), base_url=server.url)
        yield Served(server, rt, server_cert, client_cert, client_key)
        rt.close()


def test_the_client_certificate_is_presented(served: Served) -> None:
    connection = served.store_certificate(key_pem=served.client_key)
    assert served.whoami(connection) == {"client": "lockstep-client"}


def test_an_unusable_certificate_marks_the_connection_until_a_working_one_is_stored(
    served: Served,
) -> None:
    _, other_key = self_signed_certificate(("someone-else",))
    served.store_certificate(key_pem=other_key)  # not the certificate's key
    run_scheduler(served.rt)
    drained = drain_queues(served.rt)
    marked = Connection.from_document(served.rt.store.get(Connection.container, TENANT, "c1"))
    assert served.server.received == []
    assert drained.failures == 0
    assert drained.poisoned == []
    assert marked.status is ConnectionStatus.MISCONFIGURED
    (result,) = drained.results
    assert any("client certificate cannot be used" in error for error in result.errors)
    assert other_key not in " ".join(result.errors)

    fixed = served.store_certificate(key_pem=served.client_key)
    assert fixed.status is ConnectionStatus.ACTIVE
    assert served.whoami(fixed) == {"client": "lockstep-client"}
