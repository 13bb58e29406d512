"""Permanent failures through the function app's queue triggers on Azurite and Cosmos.

A body that can never be handled is completed on its first delivery (dequeue count 1),
recorded once in `dead-letters` with its reason, and never reaches the poison queue. A
provider refusing a static key pauses the connection instead of failing on every tick.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.clock import to_iso, utcnow
from integration_core.models import (
    Connection,
    ConnectionStatus,
    MessageKind,
    SyncMessage,
    SyncTask,
)
from integration_core.pipelines.dead_letters import DEAD_LETTERS, UNPARSED_TENANT
from integration_core.runtime import Runtime
from tests.harness.function_host import FunctionHost

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _envelope(**changes: Any) -> dict[str, Any]:
    message = SyncMessage(
        message_id="m-" + "-".join(f"{k}={v}" for k, v in sorted(changes.items()))[:80],
        tenant_id="t1",
        connection_id="crm",
        kind=MessageKind.PULL,
        correlation_id="c1",
        payload={"task_id": "crm-contact"},
    )
    return message.model_dump(mode="json", by_alias=True) | changes


BODIES: dict[str, tuple[bytes, str]] = {
    "invalid JSON": (b"{not json", "Invalid JSON"),
    "not UTF-8": (b"\xff\xfe{", "not a SyncMessage"),
    "no tenant": (
        json.dumps({k: v for k, v in _envelope().items() if k != "tenantId"}).encode(),
        "tenantId",
    ),
    "unknown kind": (json.dumps(_envelope(kind="teleport")).encode(), "kind"),
    "push on inbound": (json.dumps(_envelope(kind="push")).encode(), "push"),
    "no task_id": (json.dumps(_envelope(payload={})).encode(), "task_id"),
    "unknown task": (json.dumps(_envelope(payload={"task_id": "nope"})).encode(), "nope"),
    "unknown tenant": (json.dumps(_envelope(tenantId="nobody")).encode(), "nobody"),
    "negative attempt": (json.dumps(_envelope(attempt=-3)).encode(), "attempt"),
    "huge attempt": (json.dumps(_envelope(attempt=10**30)).encode(), "attempt"),
}


@pytest.mark.parametrize("case", sorted(BODIES))
def test_a_permanently_bad_message_is_completed_once_and_dead_lettered_with_its_reason(
    host: FunctionHost, rt: Runtime, case: str
) -> None:
    body, mentioned = BODIES[case]
    inbound = host.queue_client("InboundWorker")
    inbound.send_message(base64.b64encode(body).decode())
    run = host.run_queue_once("InboundWorker")
    assert (run.succeeded, run.failed) == (1, 0), "completed on its first delivery"
    assert inbound.peek_messages(max_messages=32) == []
    assert host.poison_client("InboundWorker").peek_messages(max_messages=32) == []

    (letter,) = rt.store.query(DEAD_LETTERS)
    assert mentioned in letter["reason"]
    assert letter["dequeueCount"] == 1
    assert letter["queue"] == "sync-inbound"
    assert letter["deliveryId"]
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if letter["tenantId"] == UNPARSED_TENANT:
        assert letter["bodyBytes"] == len(body)
    else:
        assert letter["messageId"] == parsed["messageId"]

    # The same body delivered again is recorded once.
    inbound.send_message(base64.b64encode(body).decode())
    assert host.run_queue_once("InboundWorker").succeeded == 1
    assert len(rt.store.query(DEAD_LETTERS)) == 1


def test_a_401_on_a_static_key_pauses_the_connection_instead_of_failing_every_tick(
    host: FunctionHost, rt: Runtime, systems: dict[str, tuple[SandboxAccount, SandboxServer]]
) -> None:
    systems["crm"][0].api_key = "revoked-at-the-provider"  # noqa: S105 - a test value
    host.fire_timer("SyncScheduler")
    host.drain(("InboundWorker", "OutboundWorker"))
    assert host.poison_client("InboundWorker").peek_messages(max_messages=32) == []
    connection = Connection.from_document(rt.store.get(Connection.container, "t1", "crm"))
    assert connection.status is ConnectionStatus.NEEDS_REAUTH
    assert connection.paused_task_ids == ["crm-contact"]

    for task_id in ("crm-contact", "mkt-contact"):
        document = rt.store.get(SyncTask.container, "t1", task_id)
        rt.store.upsert(SyncTask.container, document | {"nextDueAt": to_iso(utcnow())})
    host.fire_timer("SyncScheduler")
    queued = host.queue_client("InboundWorker").peek_messages(max_messages=32)
    assert [SyncMessage.from_json(base64.b64decode(m.content)).connection_id for m in queued] == [
        "mkt"
    ]
