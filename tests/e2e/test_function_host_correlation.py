"""One correlation id and the tenant on every log line of a sync, through the functions.

SyncScheduler → sync-inbound → InboundWorker → sync-outbound → OutboundWorker, driven by the
test host on the real registrations: no call site passes the id, yet every line Lockstep
writes while the sync runs carries it.
"""

from __future__ import annotations

import base64
import logging

import pytest

from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.models import SyncMessage, SyncTask
from integration_core.runtime import Runtime
from tests.harness.function_host import FunctionHost

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
OURS = ("integration_core", "adapters", "function_app", "blueprints")


def test_every_log_line_of_a_sync_carries_its_correlation_id_and_tenant(
    host: FunctionHost,
    rt: Runtime,
    systems: dict[str, tuple[SandboxAccount, SandboxServer]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = rt.store.get(SyncTask.container, "t1", "mkt-contact")
    rt.store.upsert(SyncTask.container, task | {"enabled": False})
    caplog.set_level(logging.DEBUG)

    host.fire_timer("SyncScheduler")
    (queued,) = host.queue_client("InboundWorker").peek_messages(max_messages=32)
    sync_id = SyncMessage.from_json(base64.b64decode(queued.content)).correlation_id
    host.drain(("InboundWorker", "OutboundWorker"))

    ours = [r for r in caplog.records if r.name.startswith(OURS)]
    tick = [r for r in ours if r.getMessage().startswith("SyncScheduler:")]
    sync = [r for r in ours if r not in tick]
    assert len(tick) == 1
    assert tick[0].correlation_id not in ("-", sync_id)  # type: ignore[attr-defined]
    assert {(r.correlation_id, r.tenant) for r in sync} == {(sync_id, "t1")}  # type: ignore[attr-defined]
    # The lines cover the whole way: the scheduler, both workers and the write to mkt.
    messages = [r.getMessage() for r in sync]
    assert any(m.startswith("enqueued pull") for m in messages)
    assert {r.name for r in sync} >= {
        "integration_core.pipelines.scheduler",
        "integration_core.pipelines.results",
    }
    assert len(systems["mkt"][0].records("contacts")) == 15
    assert sum("outbound" in m or "push" in m for m in messages) > 0, messages
