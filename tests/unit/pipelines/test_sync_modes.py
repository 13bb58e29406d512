"""A sync task's mode through the real pipelines: `pull` (the hub reads the connection and
never writes to it), `push` (the hub writes to it and never reads it), `bidirectional`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.messaging import OUTBOUND_QUEUE
from integration_core.models import Entity, SyncMode, SyncResult, SyncTask
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.pushes import push_message
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime, sync_round
from tests.harness.sandbox import contact, seeded_account

pytestmark = pytest.mark.unit


class World:
    """crm (3 contacts) and mkt (1 contact of its own), each with a task of `modes`."""

    def __init__(self, tmp_path: Path, crm_mode: SyncMode, mkt_mode: SyncMode) -> None:
        self.crm, self.mkt = seeded_account("crm", contacts=3), seeded_account("mkt")
        self.mkt.create("contacts", contact(7))
        self.rt: Runtime = embedded_runtime(tmp_path, {"crm": self.crm, "mkt": self.mkt})
        connect_sandbox(self.rt, "crm", self.crm, targets=("mkt",), mode=crm_mode)
        mkt_targets = () if mkt_mode is SyncMode.PUSH else ("crm",)
        connect_sandbox(self.rt, "mkt", self.mkt, targets=mkt_targets, mode=mkt_mode)
        self.minutes = 0

    def sync(self) -> list[SyncResult]:
        self.minutes += 10
        return sync_round(self.rt, self.minutes)

    def results(self, connection_id: str, direction: str) -> list[SyncResult]:
        documents = self.rt.store.query("sync-results", partition_key="t1")
        return [
            SyncResult.from_document(d)
            for d in documents
            if (d["connectionId"], d["direction"]) == (connection_id, direction)
        ]


def emails(account: SandboxAccount) -> set[str]:
    return {str(r.properties["email"]) for r in account.records("contacts")}


def snapshot(account: SandboxAccount) -> list[tuple[str, int, dict[str, object]]]:
    return sorted((r.id, r.version, dict(r.properties)) for r in account.records("contacts"))


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    crm_mode, mkt_mode = request.param
    world = World(tmp_path, crm_mode, mkt_mode)
    yield world
    world.rt.close()


@pytest.mark.parametrize("world", [(SyncMode.PULL, SyncMode.BIDIRECTIONAL)], indirect=True)
def test_a_pull_only_connection_is_read_and_never_written_to(world: World) -> None:
    crm_before = snapshot(world.crm)
    world.sync()
    world.sync()
    assert emails(world.mkt) == emails(world.crm) | {contact(7)["email"]}
    # mkt's own contact reached the hub (its task targets crm) but not crm.
    hub = {e["values"]["email"] for e in world.rt.store.query(Entity.container)}
    assert contact(7)["email"] in hub
    assert snapshot(world.crm) == crm_before

    # An edit in mkt of a person crm holds changes the hub, not crm.
    (copy,) = [
        r for r in world.mkt.records("contacts") if r.properties["email"] == contact(0)["email"]
    ]
    world.mkt.update("contacts", copy.id, {"jobtitle": "CTO"})
    world.sync()
    world.sync()
    titles = {
        e["values"]["email"]: e["values"].get("title")
        for e in world.rt.store.query(Entity.container)
    }
    assert titles[contact(0)["email"]] == "CTO"
    assert snapshot(world.crm) == crm_before
    assert world.results("crm", "outbound") == []  # not even a push that did nothing
    assert world.results("crm", "inbound")


@pytest.mark.parametrize("world", [(SyncMode.BIDIRECTIONAL, SyncMode.PUSH)], indirect=True)
def test_a_push_only_connection_is_written_to_and_never_read(world: World) -> None:
    results = world.sync()
    assert emails(world.mkt) == emails(world.crm) | {contact(7)["email"]}
    # mkt's own contact was never read: neither the hub nor crm has it.
    hub = {e["values"]["email"] for e in world.rt.store.query(Entity.container)}
    assert hub == emails(world.crm)
    assert contact(7)["email"] not in emails(world.crm)
    (pushed,) = [
        r for r in world.mkt.records("contacts") if r.properties["email"] == contact(1)["email"]
    ]
    world.mkt.update("contacts", pushed.id, {"jobtitle": "CTO"})
    world.sync()
    assert all(r.properties["jobtitle"] == "Engineer" for r in world.crm.records("contacts"))
    assert world.results("mkt", "inbound") == []
    assert {r.connection_id for r in results if r.direction == "outbound"} == {"mkt"}


@pytest.mark.parametrize("world", [(SyncMode.BIDIRECTIONAL, SyncMode.BIDIRECTIONAL)], indirect=True)
def test_bidirectional_connections_are_read_and_written(world: World) -> None:
    world.sync()
    world.sync()
    assert emails(world.crm) == emails(world.mkt) == {contact(i)["email"] for i in (0, 1, 2, 7)}


@pytest.mark.parametrize("world", [(SyncMode.BIDIRECTIONAL, SyncMode.BIDIRECTIONAL)], indirect=True)
def test_a_push_queued_before_its_task_became_pull_only_is_dropped(world: World) -> None:
    world.sync()
    world.sync()
    crm_task = SyncTask.from_document(world.rt.store.get(SyncTask.container, "t1", "crm-contact"))
    crm_task.mode = SyncMode.PULL
    world.rt.store.upsert(SyncTask.container, crm_task.to_document())
    crm_before = snapshot(world.crm)
    document = world.rt.store.query(Entity.container, partition_key="t1")[0]
    entity = Entity.from_document(document)
    entity.values = entity.values | {"title": "Queued"}
    world.rt.store.upsert(Entity.container, entity.to_document())
    world.rt.queue.send(
        OUTBOUND_QUEUE, push_message("t1", entity, "crm", correlation_id="q", trigger=None)
    )
    (result,) = drain_queues(world.rt).results
    assert (result.connection_id, result.pushed, result.unchanged) == ("crm", 0, 1)
    assert snapshot(world.crm) == crm_before
