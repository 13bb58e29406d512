"""Per-connection health on the embedded stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from integration_core.pipelines.connection_health import connection_health
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    crm, mkt = seeded_account("crm", contacts=6), seeded_account("mkt")
    runtime = embedded_runtime(tmp_path, {"crm": crm, "mkt": mkt})
    connect_sandbox(runtime, "crm", crm, targets=("mkt",))
    connect_sandbox(runtime, "mkt", mkt)
    yield runtime
    runtime.close()


def test_each_connection_reports_auth_state_last_success_and_breaker(rt: Runtime) -> None:
    before = {c["id"]: c for c in connection_health(rt, "t1")}
    assert before["crm"]["lastSuccessAt"] is None
    run_scheduler(rt)
    drain_queues(rt)
    for _ in range(rt.breaker.config.failures):
        rt.breaker.record_status("t1", "mkt", 503)
    health = {c["id"]: c for c in connection_health(rt, "t1")}
    assert health["crm"]["status"] == "active"
    assert health["crm"]["lastSuccessAt"] is not None
    assert health["crm"]["breaker"]["state"] == "closed"
    assert health["mkt"]["breaker"]["state"] == "open"
