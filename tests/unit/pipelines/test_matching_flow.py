"""Matching in the inbound pipeline: link the same person, hold the maybe, remember decisions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.clock import utcnow
from integration_core.models import DuplicateStatus, Entity, Link
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.matching import decide_duplicate, list_duplicates
from integration_core.pipelines.scheduler import run_scheduler
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.sandbox import GRACE, SteppingClock

pytestmark = pytest.mark.unit


class World:
    def __init__(self, tmp_path: Path) -> None:
        clock = SteppingClock()  # one clock: "crm edited later than mkt" is well defined
        self.crm = SandboxAccount(name="crm", api_key="k-crm", clock=clock)
        self.mkt = SandboxAccount(name="mkt", api_key="k-mkt", clock=clock)
        self.rt = embedded_runtime(tmp_path, {"crm": self.crm, "mkt": self.mkt})
        connect_sandbox(self.rt, "crm", self.crm, targets=("mkt",), priority=1)
        connect_sandbox(self.rt, "mkt", self.mkt, targets=("crm",))
        self.rounds = 0

    def sync(self) -> None:
        self.rounds += 1
        run_scheduler(self.rt, now=utcnow() + timedelta(minutes=10 * self.rounds))
        assert not drain_queues(self.rt).poisoned

    def live_entities(self) -> list[Entity]:
        documents = self.rt.store.query("entities", partition_key="t1")
        return [e for e in map(Entity.from_document, documents) if not e.deleted]

    def links_of(self, entity_id: str) -> set[str]:
        documents = self.rt.store.query(Link.container, partition_key="t1")
        return {d["connectionId"] for d in documents if d["entityId"] == entity_id}

    def graces(self, account: SandboxAccount) -> int:
        return sum(r.properties["firstname"] == "Grace" for r in account.records("contacts"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.rt.close()


def test_the_same_person_from_two_systems_with_a_typo_is_one_entity_with_two_links(
    world: World,
) -> None:
    world.mkt.create("contacts", GRACE | {"lastname": "Hoper", "email": GRACE["email"].upper()})
    world.crm.create("contacts", GRACE)
    world.sync()
    world.sync()
    (entity,) = world.live_entities()
    assert world.links_of(entity.id) == {"crm", "mkt"}
    assert entity.values["last_name"] == "Hopper"  # crm's edit is the later one
    assert (world.graces(world.crm), world.graces(world.mkt)) == (1, 1)
    assert [r.properties["lastname"] for r in world.mkt.records("contacts")] == ["Hopper"]


def test_a_probable_duplicate_waits_for_review_and_a_confirmation_merges_it(
    world: World,
) -> None:
    world.mkt.create("contacts", GRACE | {"email": "g.hopper@navy.example.org"})
    world.crm.create("contacts", GRACE)
    world.sync()
    (candidate,) = list_duplicates(world.rt, "t1")
    assert 0.5 <= candidate.score < 0.95
    assert candidate.explanation
    assert (world.graces(world.crm), world.graces(world.mkt)) == (1, 1)  # nothing copied yet

    decide_duplicate(world.rt, "t1", candidate.id, same=True, decided_by="admin")
    drain_queues(world.rt)
    world.sync()
    (entity,) = world.live_entities()
    assert world.links_of(entity.id) == {"crm", "mkt"}
    assert (world.graces(world.crm), world.graces(world.mkt)) == (1, 1)
    assert list_duplicates(world.rt, "t1") == []


def test_a_rejected_pair_is_released_and_never_proposed_again(world: World) -> None:
    world.mkt.create("contacts", GRACE | {"email": "g.hopper@navy.example.org"})
    world.crm.create("contacts", GRACE)
    world.sync()
    (candidate,) = list_duplicates(world.rt, "t1")
    decided = decide_duplicate(world.rt, "t1", candidate.id, same=False, decided_by="admin")
    assert decided.status is DuplicateStatus.REJECTED
    drain_queues(world.rt)
    world.sync()
    assert len(world.live_entities()) == 2
    assert (world.graces(world.crm), world.graces(world.mkt)) == (2, 2)
    mkt_grace = next(
        r for r in world.mkt.records("contacts") if r.properties["email"].startswith("g.")
    )
    world.mkt.update("contacts", mkt_grace.id, {"jobtitle": "Commodore"})
    world.sync()
    assert list_duplicates(world.rt, "t1") == []
    assert len(list_duplicates(world.rt, "t1", status=None)) == 1


def test_different_people_are_not_matched(world: World) -> None:
    world.crm.create("contacts", GRACE)
    world.mkt.create(
        "contacts",
        {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.org", "city": "London"},
    )
    world.sync()
    assert len(world.live_entities()) == 2
    assert list_duplicates(world.rt, "t1") == []


def test_blocking_keys_follow_key_field_edits_only(world: World) -> None:
    record = world.crm.create("contacts", GRACE)
    world.sync()
    (entity,) = world.live_entities()
    before = entity.blocking_keys
    assert "email:grace.hopper@example.com" in before
    world.crm.update("contacts", record.id, {"jobtitle": "Commodore"})  # not a key field
    world.sync()
    assert world.live_entities()[0].blocking_keys == before
    world.crm.update("contacts", record.id, {"email": "amazing.grace@example.com"})
    world.sync()
    keys = world.live_entities()[0].blocking_keys
    assert "email:amazing.grace@example.com" in keys
    assert "email:grace.hopper@example.com" not in keys


def test_a_task_s_own_matching_rules_decide_in_the_pipeline(world: World) -> None:
    """The pair that waits for review under the default rules links under the task's own."""
    same_name = {"fields": ["first_name", "last_name"], "comparator": "person_name",
                 "normalizer": "name", "weight": 20, "name": "same_name"}  # fmt: skip
    for task_id in ("crm-contact", "mkt-contact"):
        document = world.rt.store.get("sync-tasks", "t1", task_id)
        world.rt.store.upsert("sync-tasks", document | {"matching": {"extra_rules": [same_name]}})
    world.mkt.create("contacts", GRACE | {"email": "g.hopper@navy.example.org"})
    world.crm.create("contacts", GRACE)
    world.sync()
    world.sync()
    assert list_duplicates(world.rt, "t1") == []
    (entity,) = world.live_entities()
    assert world.links_of(entity.id) == {"crm", "mkt"}
    assert (world.graces(world.crm), world.graces(world.mkt)) == (1, 1)


def test_a_confirmed_duplicate_withdraws_the_copy_pushed_before_it_was_read(
    world: World,
) -> None:
    """crm's Grace reaches mkt as our copy before mkt's own Grace (another address) is read;
    confirming that the two are one person must leave one Grace in mkt, not the copy too."""
    world.crm.create("contacts", GRACE)
    world.sync()
    assert world.graces(world.mkt) == 1  # our copy
    world.mkt.create("contacts", GRACE | {"email": "g.hopper@navy.example.org"})
    world.sync()
    (candidate,) = list_duplicates(world.rt, "t1")

    decide_duplicate(world.rt, "t1", candidate.id, same=True, decided_by="admin")
    drain_queues(world.rt)
    world.sync()
    world.sync()
    (entity,) = world.live_entities()
    assert (world.graces(world.crm), world.graces(world.mkt)) == (1, 1)
    live = [
        d
        for d in world.rt.store.query(Link.container, partition_key="t1")
        if d["entityId"] == entity.id and d["connectionId"] == "mkt"
    ]
    assert len(live) == 1
