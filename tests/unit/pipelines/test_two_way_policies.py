"""Two-way edits through the real pipelines, per the task's conflict policy and delete rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxAccount, SandboxRecord
from integration_core.clock import utcnow
from integration_core.models import Conflict, ConflictStatus, Entity
from integration_core.pipelines.conflicts import decide_conflict, pending_fields, record_conflicts
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.sync import FieldConflict, Strategy
from integration_core.sync.resolve import ABSENT
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit


class World:
    def __init__(self, tmp_path: Path, policy: dict[str, Any], delete_rule: str) -> None:
        self.crm, self.mkt = seeded_account("crm", contacts=3), seeded_account("mkt")
        self.rt = embedded_runtime(tmp_path, {"crm": self.crm, "mkt": self.mkt})
        for name, account, target, priority in (
            ("crm", self.crm, "mkt", 1),
            ("mkt", self.mkt, "crm", 0),
        ):
            task = connect_sandbox(
                self.rt, name, account, targets=(target,), policy=policy, priority=priority
            )
            document = task.to_document() | {"deleteRule": delete_rule}
            self.rt.store.upsert("sync-tasks", document)
        self.rounds = 0
        self.sync()

    def sync(self) -> None:
        self.rounds += 1
        run_scheduler(self.rt, now=utcnow() + timedelta(minutes=10 * self.rounds))
        report = drain_queues(self.rt)
        assert not report.poisoned

    def twins(
        self, email: str, *, include_archived: bool = False
    ) -> tuple[SandboxRecord, SandboxRecord]:
        def find(account: SandboxAccount) -> SandboxRecord:
            (record,) = [
                r
                for r in account.records("contacts", include_archived=include_archived)
                if r.properties["email"] == email
            ]
            return record

        return find(self.crm), find(self.mkt)

    def entities(self) -> list[Entity]:
        return [
            Entity.from_document(d) for d in self.rt.store.query("entities", partition_key="t1")
        ]

    def conflicts(self) -> list[Conflict]:
        return [
            Conflict.from_document(d) for d in self.rt.store.query("conflicts", partition_key="t1")
        ]


def _world(tmp_path: Path, strategy: str, delete_rule: str = "propagate") -> Iterator[World]:
    world = World(tmp_path, {"strategy": strategy}, delete_rule)
    yield world
    world.rt.close()


@pytest.fixture
def merge_world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, "field_merge")


@pytest.fixture
def manual_world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, "manual")


@pytest.fixture
def lww_world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, "last_write_wins")


def _email(world: World) -> str:
    return str(world.crm.records("contacts")[0].properties["email"])


def test_field_merge_keeps_edits_to_different_fields_from_both_sides(merge_world: World) -> None:
    email = _email(merge_world)
    crm, mkt = merge_world.twins(email)
    merge_world.crm.update("contacts", crm.id, {"jobtitle": "CTO"})
    merge_world.mkt.update("contacts", mkt.id, {"city": "Oslo"})
    merge_world.sync()
    merge_world.sync()
    crm, mkt = merge_world.twins(email)
    for record in (crm, mkt):
        assert (record.properties["jobtitle"], record.properties["city"]) == ("CTO", "Oslo")
    assert merge_world.conflicts() == []  # no conflict: nothing stored, not even resolved


def test_last_write_wins_takes_the_later_edit_of_the_same_field(lww_world: World) -> None:
    email = _email(lww_world)
    crm, mkt = lww_world.twins(email)
    lww_world.crm.update("contacts", crm.id, {"jobtitle": "earlier"})
    lww_world.mkt.update("contacts", mkt.id, {"jobtitle": "later"})
    lww_world.sync()
    lww_world.sync()
    crm, mkt = lww_world.twins(email)
    assert crm.properties["jobtitle"] == mkt.properties["jobtitle"] == "later"


def test_a_manual_conflict_waits_then_the_decision_propagates(manual_world: World) -> None:
    world = manual_world
    email = _email(world)
    crm, mkt = world.twins(email)
    world.crm.update("contacts", crm.id, {"jobtitle": "from crm"})
    world.mkt.update("contacts", mkt.id, {"jobtitle": "from mkt"})
    world.sync()
    world.sync()
    (conflict,) = world.conflicts()
    assert conflict.status is ConflictStatus.PENDING
    assert conflict.field == "title"
    assert conflict.incoming == {"present": True, "value": "from mkt"}
    crm, mkt = world.twins(email)
    assert (crm.properties["jobtitle"], mkt.properties["jobtitle"]) == ("from crm", "from mkt")

    decide_conflict(world.rt, "t1", conflict.id, winner="incoming", decided_by="admin@test")
    drain_queues(world.rt)
    world.sync()
    crm, mkt = world.twins(email)
    assert crm.properties["jobtitle"] == mkt.properties["jobtitle"] == "from mkt"
    assert world.conflicts()[0].status is ConflictStatus.DECIDED


def test_deciding_for_the_hub_brings_the_system_back_in_line(manual_world: World) -> None:
    world = manual_world
    email = _email(world)
    crm, mkt = world.twins(email)
    world.crm.update("contacts", crm.id, {"jobtitle": "from crm"})
    world.mkt.update("contacts", mkt.id, {"jobtitle": "from mkt"})
    world.sync()
    (conflict,) = world.conflicts()
    decide_conflict(world.rt, "t1", conflict.id, winner="hub", decided_by="admin@test")
    drain_queues(world.rt)
    crm, mkt = world.twins(email)
    assert crm.properties["jobtitle"] == mkt.properties["jobtitle"] == "from crm"


def test_a_delete_propagates_as_a_tombstone(merge_world: World) -> None:
    email = _email(merge_world)
    crm, _ = merge_world.twins(email)
    merge_world.crm.archive("contacts", crm.id)
    merge_world.sync()
    _, mkt = merge_world.twins(email, include_archived=True)
    assert mkt.archived
    assert sum(e.deleted for e in merge_world.entities()) == 1
    assert len(merge_world.entities()) == 3  # the tombstone is kept, nothing duplicated


def test_a_delete_never_overwrites_an_update_it_has_not_seen(lww_world: World) -> None:
    world = lww_world
    email = _email(world)
    crm, mkt = world.twins(email)
    world.crm.archive("contacts", crm.id)
    world.mkt.update("contacts", mkt.id, {"jobtitle": "still here"})  # later than the delete
    world.sync()
    world.sync()
    crm_now, mkt = world.twins(email)
    assert not mkt.archived
    assert crm_now.id != crm.id  # re-created in crm, since the update won over the delete
    assert crm_now.properties["jobtitle"] == "still here"
    assert not any(e.deleted for e in world.entities())


def test_ignore_rule_keeps_the_hub_record_when_a_system_deletes(tmp_path: Path) -> None:
    for world in _world(tmp_path, "field_merge", delete_rule="ignore"):
        email = _email(world)
        crm, _ = world.twins(email)
        world.crm.archive("contacts", crm.id)
        world.sync()
        _, mkt = world.twins(email, include_archived=True)
        assert not mkt.archived
        assert not any(e.deleted for e in world.entities())


def test_idle_rounds_after_conflicts_write_nothing(manual_world: World) -> None:
    world = manual_world
    email = _email(world)
    crm, mkt = world.twins(email)
    world.crm.update("contacts", crm.id, {"jobtitle": "a"})
    world.mkt.update("contacts", mkt.id, {"jobtitle": "b"})
    world.sync()
    world.sync()
    versions = {r.id: r.version for a in (world.crm, world.mkt) for r in a.records("contacts")}
    world.sync()
    world.sync()
    assert versions == {
        r.id: r.version for a in (world.crm, world.mkt) for r in a.records("contacts")
    }
    assert len(world.conflicts()) == 1


def _edit_title_on_both_sides(world: World) -> None:
    """crm then mkt edit the same field: crm's change reaches the hub first, so mkt's
    meets it as a conflict (hub: "from crm", incoming: "from mkt", mkt the later)."""
    crm, mkt = world.twins(_email(world))
    world.crm.update("contacts", crm.id, {"jobtitle": "from crm"})
    world.mkt.update("contacts", mkt.id, {"jobtitle": "from mkt"})
    world.sync()
    world.sync()


@pytest.mark.parametrize(
    ("policy", "winner", "rule", "kept"),
    [
        ({"strategy": "source_wins"}, "incoming", "source wins", "from mkt"),
        ({"strategy": "target_wins"}, "hub", "hub wins", "from crm"),
        ({"strategy": "last_write_wins"}, "incoming", "later modification", "from mkt"),
        ({"strategy": "field_merge"}, "incoming", "later modification", "from mkt"),
        (
            {"strategy": "system_priority", "priority": ["mkt", "crm"]},
            "incoming",
            "system priority: mkt",
            "from mkt",
        ),
        (
            {"strategy": "system_priority", "priority": ["mkt"], "field_owners": {"title": "crm"}},
            "hub",
            "field owner: crm",
            "from crm",
        ),
        ({"strategy": "system_priority"}, "hub", "equal priority: hub keeps", "from crm"),
    ],  # a protected field's rule: tests/unit/sync (only an admin edit makes that conflict)
)
def test_a_conflict_the_policy_resolves_is_stored_with_its_rule_and_winner(
    tmp_path: Path, policy: dict[str, Any], winner: str, rule: str, kept: str
) -> None:
    world = World(tmp_path, policy, "propagate")
    try:
        _edit_title_on_both_sides(world)
        (conflict,) = world.conflicts()
        assert conflict.status is ConflictStatus.RESOLVED
        assert (conflict.policy, conflict.rule, conflict.winner) == (
            policy["strategy"],
            rule,
            winner,
        )
        assert (conflict.field, conflict.connection_id) == ("title", "mkt")
        assert conflict.hub == {"present": True, "value": "from crm"}
        assert conflict.incoming == {"present": True, "value": "from mkt"}
        assert conflict.decided_by == policy["strategy"]
        assert conflict.ttl == Conflict.resolved_ttl_seconds
        crm, mkt = world.twins(_email(world))
        assert crm.properties["jobtitle"] == mkt.properties["jobtitle"] == kept
        # Resolved conflicts never hold a field back from the systems.
        assert pending_fields(world.rt, "t1", conflict.entity_id, "mkt") == set()
    finally:
        world.rt.close()


def test_a_manual_conflict_records_its_policy_and_waits(manual_world: World) -> None:
    _edit_title_on_both_sides(manual_world)
    (conflict,) = manual_world.conflicts()
    assert (conflict.status, conflict.policy, conflict.winner) == (
        ConflictStatus.PENDING,
        "manual",
        None,
    )
    assert conflict.ttl == -1  # a pending conflict waits as long as it takes


def test_a_redelivered_change_stores_its_resolved_conflict_once(tmp_path: Path) -> None:
    for world in _world(tmp_path, "target_wins"):
        _edit_title_on_both_sides(world)
        (stored,) = world.conflicts()
        # What a redelivery of the same change meets again: the same disagreement.
        base = stored.base["value"] if stored.base["present"] else ABSENT
        found = FieldConflict("title", base, "from crm", "from mkt", "hub", "hub wins")
        entity = Entity.from_document(world.rt.store.get("entities", "t1", stored.entity_id))
        again = record_conflicts(
            world.rt,
            entity,
            "mkt",
            [found],
            policy=Strategy.TARGET_WINS,
            incoming_modified_at=stored.incoming_modified_at,
        )
        assert again == []
        assert world.conflicts() == [stored]
        world.sync()  # and the pipeline itself, re-reading: still the one document
        assert world.conflicts() == [stored]
