"""Property tests: the sync engine in a pure in-memory model of a hub and three systems.

The model plays the pipelines as the engine expects them to be wired: per-link base
snapshot, applied version and time (`is_replay`), written hash (`is_echo`, cleared when a
real change from that system is applied), conditional writes to systems (ingest first when
the system moved on), (modified_at, id) watermark polls. Webhook deliveries are dropped,
duplicated and reordered; outbound pushes are duplicated and reordered (at-least-once).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integration_core.sync import Policy, Side, Strategy, resolve
from integration_core.sync.echo import is_echo, is_replay, values_hash
from integration_core.sync.watermark import Watermark, advance, rewind

pytestmark = pytest.mark.unit

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYSTEMS = ("alpha", "beta", "gamma")
FIELDS = ("name", "email", "phone")
TAG = "tags"
REMOVE = "<remove>"  # an edit that deletes the key (absent, not None)


@dataclass
class Record:
    logical: int  # model-only identity of the real-world record; invisible to the engine
    values: dict[str, Any]
    version: int
    modified_at: datetime
    field_modified_at: dict[str, datetime]


@dataclass(frozen=True)
class Snapshot:
    external_id: str
    version: str
    modified_at: datetime
    values: dict[str, Any]
    field_modified_at: dict[str, datetime]


@dataclass
class System:
    name: str
    records: dict[str, Record] = field(default_factory=dict)
    writes: int = 0  # writes the hub made here

    def snapshot(self, ext: str) -> Snapshot:
        rec = self.records[ext]
        return Snapshot(
            ext,
            str(rec.version),
            rec.modified_at,
            copy.deepcopy(rec.values),
            dict(rec.field_modified_at),
        )

    def change(self, ext: str, values: dict[str, Any], now: datetime) -> None:
        rec = self.records[ext]
        for name in set(rec.values) | set(values):
            if rec.values.get(name, REMOVE) != values.get(name, REMOVE):
                rec.field_modified_at[name] = now
        rec.values = copy.deepcopy(values)
        rec.version += 1
        rec.modified_at = now


@dataclass
class Entity:
    logical: int
    values: dict[str, Any]
    sources: dict[str, str]
    modified_at: datetime
    field_modified_at: dict[str, datetime]


@dataclass
class Link:
    entity_id: int
    base: dict[str, Any]
    external_version: str
    applied_modified_at: datetime
    written_hash: str | None


class World:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.tick = 0
        self.systems = {name: System(name) for name in SYSTEMS}
        self.entities: dict[int, Entity] = {}
        self.links: dict[tuple[str, str], Link] = {}
        self.ext_of: dict[tuple[int, str], str] = {}
        self.webhooks: list[tuple[str, Snapshot]] = []
        self.pushes: list[tuple[int, str]] = []
        self.watermarks: dict[str, Watermark | None] = dict.fromkeys(SYSTEMS)
        self.hub_changes = 0
        self.logicals = 0
        self.pending = 0
        self.resolved = 0
        # (logical, field) -> systems whose users edited it, and each one's last value.
        self.edits: dict[tuple[int, str], dict[str, Any]] = {}
        # (logical, field) -> (time, value) of the latest user edit anywhere.
        self.latest: dict[tuple[int, str], tuple[datetime, Any]] = {}
        # (logical, tag) -> the kinds of user operations on that element.
        self.tag_ops: dict[tuple[int, str], set[str]] = {}

    def now(self) -> datetime:
        self.tick += 1
        return T0 + timedelta(seconds=self.tick)

    # --- users ------------------------------------------------------------------------

    def user_create(self, system: str, values: dict[str, Any]) -> None:
        sys_ = self.systems[system]
        now = self.now()
        self.logicals += 1
        ext = f"{system}-{len(sys_.records)}"
        fma = dict.fromkeys(values, now)
        sys_.records[ext] = Record(self.logicals, copy.deepcopy(values), 1, now, fma)
        for name, value in values.items():
            self.note_edit(self.logicals, system, name, value, now)
        self.webhooks.append((system, sys_.snapshot(ext)))

    def note_edit(self, logical: int, system: str, name: str, value: Any, now: datetime) -> None:
        if name == TAG:
            return
        self.edits.setdefault((logical, name), {})[system] = value
        self.latest[(logical, name)] = (now, value)

    def user_edit(self, system: str, pick: int, name: str, value: Any) -> None:
        sys_ = self.systems[system]
        if not sys_.records:
            return
        ext = sorted(sys_.records)[pick % len(sys_.records)]
        rec = sys_.records[ext]
        values = copy.deepcopy(rec.values)
        if value == REMOVE:
            values.pop(name, None)
        else:
            values[name] = value
        if values == rec.values:
            return
        now = self.now()
        sys_.change(ext, values, now)
        self.note_edit(rec.logical, system, name, value, now)
        self.webhooks.append((system, sys_.snapshot(ext)))

    def user_tag(self, system: str, pick: int, tag: str, add: bool) -> None:
        sys_ = self.systems[system]
        if not sys_.records:
            return
        ext = sorted(sys_.records)[pick % len(sys_.records)]
        rec = sys_.records[ext]
        tags = list(rec.values.get(TAG, []))
        if add == (tag in tags):
            return
        tags = [*tags, tag] if add else [t for t in tags if t != tag]
        sys_.change(ext, {**rec.values, TAG: tags}, self.now())
        self.tag_ops.setdefault((rec.logical, tag), set()).add("add" if add else "remove")
        self.webhooks.append((system, sys_.snapshot(ext)))

    def system_touch(self, system: str, pick: int) -> None:
        """The system bumps a version without a data change (e.g. a workflow ran)."""
        sys_ = self.systems[system]
        if not sys_.records:
            return
        ext = sorted(sys_.records)[pick % len(sys_.records)]
        sys_.change(ext, sys_.records[ext].values, self.now())
        self.webhooks.append((system, sys_.snapshot(ext)))

    # --- the pipelines ----------------------------------------------------------------

    def inbound(self, system: str, snap: Snapshot) -> None:
        link = self.links.get((system, snap.external_id))
        if link is None:
            self.create_entity(system, snap)
            return
        if is_replay(
            snap.version,
            snap.modified_at,
            applied_version=link.external_version,
            applied_modified_at=link.applied_modified_at,
        ):
            return
        if is_echo(
            snap.values,
            snap.version,
            written_hash=link.written_hash,
            written_version=link.external_version,
        ):
            link.external_version, link.applied_modified_at = snap.version, snap.modified_at
            return
        entity = self.entities[link.entity_id]
        hub = Side(
            "hub",
            entity.values,
            entity.modified_at,
            field_modified_at=entity.field_modified_at,
            field_sources=entity.sources,
        )
        incoming = Side(
            system, snap.values, snap.modified_at, field_modified_at=snap.field_modified_at
        )
        self.resolved += 1
        res = resolve(link.base, hub, incoming, self.policy)
        self.pending += len(res.pending)
        for name in res.applied:
            entity.field_modified_at[name] = snap.field_modified_at.get(name, snap.modified_at)
        entity.values, entity.sources = res.values, res.sources
        if res.applied:
            self.hub_changes += 1
            entity.modified_at = max(entity.modified_at, snap.modified_at)
            for other in SYSTEMS:
                if other != system:
                    self.pushes.append((link.entity_id, other))
        link.base = copy.deepcopy(snap.values)
        link.external_version, link.applied_modified_at = snap.version, snap.modified_at
        link.written_hash = None  # the system now holds its own data, not what we wrote
        if res.values != snap.values:
            self.pushes.append((link.entity_id, system))

    def create_entity(self, system: str, snap: Snapshot) -> None:
        entity_id = len(self.entities)
        logical = self.systems[system].records[snap.external_id].logical
        self.entities[entity_id] = Entity(
            logical,
            copy.deepcopy(snap.values),
            dict.fromkeys(snap.values, system),
            snap.modified_at,
            dict(snap.field_modified_at),
        )
        self.hub_changes += 1
        self.links[(system, snap.external_id)] = Link(
            entity_id, copy.deepcopy(snap.values), snap.version, snap.modified_at, None
        )
        self.ext_of[(entity_id, system)] = snap.external_id
        self.pushes.extend((entity_id, other) for other in SYSTEMS if other != system)

    def push(self, entity_id: int, system: str) -> None:
        sys_ = self.systems[system]
        entity = self.entities[entity_id]
        ext = self.ext_of.get((entity_id, system))
        if ext is None:
            now = self.now()
            ext = f"{system}-{len(sys_.records)}"
            values = copy.deepcopy(entity.values)
            fma = dict.fromkeys(values, now)
            sys_.records[ext] = Record(entity.logical, values, 1, now, fma)
            sys_.writes += 1
            self.ext_of[(entity_id, system)] = ext
            self.links[(system, ext)] = Link(
                entity_id, copy.deepcopy(values), "1", now, values_hash(values)
            )
            self.webhooks.append((system, sys_.snapshot(ext)))
            return
        link = self.links[(system, ext)]
        if str(sys_.records[ext].version) != link.external_version:
            # Conditional write would fail: ingest the system's newer state first.
            self.inbound(system, sys_.snapshot(ext))
        if sys_.records[ext].values == entity.values:
            return
        now = self.now()
        sys_.change(ext, entity.values, now)
        sys_.writes += 1
        rec = sys_.records[ext]
        link.base = copy.deepcopy(entity.values)
        link.external_version, link.applied_modified_at = str(rec.version), now
        link.written_hash = values_hash(entity.values)
        self.webhooks.append((system, sys_.snapshot(ext)))

    def poll(self, system: str, *, page_size: int = 2) -> None:
        sys_ = self.systems[system]
        position = rewind(self.watermarks[system], timedelta(seconds=1))
        while True:
            keyed = sorted(sys_.records.items(), key=lambda kv: (kv[1].modified_at, kv[0]))
            page = [
                sys_.snapshot(ext)
                for ext, rec in keyed
                if position is None or position.is_before(rec.modified_at, ext)
            ][:page_size]
            if not page:
                return
            for snap in page:
                self.inbound(system, snap)
            self.watermarks[system] = advance(self.watermarks[system], page)
            position = advance(position, page)

    def drain(self, rnd: random.Random) -> None:
        """Deliver everything left, in random order; poll; repeat until nothing changes."""
        for _ in range(30):
            before = (self.hub_changes, self.total_writes())
            while self.webhooks:
                self.inbound(*self.webhooks.pop(rnd.randrange(len(self.webhooks))))
            for system in SYSTEMS:
                self.poll(system)
            while self.pushes:
                self.push(*self.pushes.pop(rnd.randrange(len(self.pushes))))
            quiet = before == (self.hub_changes, self.total_writes())
            if quiet and not self.webhooks and not self.pushes:
                return
        raise AssertionError("did not settle: ping-pong between systems")

    def total_writes(self) -> int:
        return sum(s.writes for s in self.systems.values())

    # --- checks -----------------------------------------------------------------------

    def assert_converged_without_duplicates(self) -> None:
        assert len(self.entities) == self.logicals
        assert len({e.logical for e in self.entities.values()}) == self.logicals
        for system in self.systems.values():
            assert len(system.records) == self.logicals, system.name
            assert len({r.logical for r in system.records.values()}) == self.logicals
        for entity_id, entity in self.entities.items():
            for name in SYSTEMS:
                rec = self.systems[name].records[self.ext_of[(entity_id, name)]]
                assert rec.logical == entity.logical
                assert rec.values == entity.values, (name, entity_id)

    def assert_idle_cycle_writes_nothing(self) -> None:
        before = (self.hub_changes, self.total_writes())
        # Stale and duplicated deliveries, polls of everything, pushes of everything.
        for system in self.systems.values():
            for ext in sorted(system.records):
                self.inbound(system.name, system.snapshot(ext))
            self.poll(system.name)
        for entity_id in self.entities:
            for name in SYSTEMS:
                self.push(entity_id, name)
        assert (self.hub_changes, self.total_writes()) == before
        assert not self.webhooks


sys_index = st.integers(0, len(SYSTEMS) - 1)
pick = st.integers(0, 1)
small_values = st.sampled_from(["x", "y", None, REMOVE])


def op_strategy(values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    ops: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
        "edit": st.tuples(st.just("edit"), sys_index, pick, st.sampled_from(FIELDS), values),
        "deliver": st.tuples(st.sampled_from(["deliver", "duplicate", "drop"]), st.integers(0, 30)),
        "push": st.tuples(st.sampled_from(["push", "push_twice"]), st.integers(0, 30)),
        "create": st.tuples(st.just("create"), sys_index, values),
        "tag": st.tuples(st.just("tag"), sys_index, pick, st.sampled_from("abc"), st.booleans()),
        "touch": st.tuples(st.just("touch"), sys_index, pick),
        "poll": st.tuples(st.just("poll"), sys_index),
    }
    weighted = ["edit"] * 5 + ["deliver"] * 4 + ["push"] * 3 + ["tag"] * 2 + list(ops)[3:]
    return st.sampled_from(weighted).flatmap(ops.__getitem__)


def scenario(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """One to three records created and synced everywhere, then 10-60 random operations."""
    setup = st.lists(st.tuples(st.just("create"), sys_index, values), min_size=1, max_size=3)
    body = st.lists(op_strategy(values), min_size=10, max_size=60)
    return st.builds(lambda a, b: [*a, ("settle",), *b], setup, body)


def run(world: World, ops: list[tuple[Any, ...]], rnd: random.Random, *, unique: bool) -> None:
    for op in ops:
        kind = op[0]
        if kind == "create":
            value = f"v{world.tick}" if unique else op[2]
            values = {} if value == REMOVE else {"name": value}
            world.user_create(SYSTEMS[op[1]], values)
        elif kind == "edit":
            value = f"v{world.tick}" if unique else op[4]
            world.user_edit(SYSTEMS[op[1]], op[2], op[3], value)
        elif kind == "tag":
            world.user_tag(SYSTEMS[op[1]], op[2], op[3], op[4])
        elif kind == "touch":
            world.system_touch(SYSTEMS[op[1]], op[2])
        elif kind in ("deliver", "duplicate", "drop") and world.webhooks:
            index = op[1] % len(world.webhooks)
            delivery = world.webhooks[index] if kind == "duplicate" else world.webhooks.pop(index)
            if kind != "drop":
                world.inbound(*delivery)
        elif kind in ("push", "push_twice") and world.pushes:
            index = op[1] % len(world.pushes)
            target = world.pushes.pop(index)
            world.push(*target)
            if kind == "push_twice":
                world.push(*target)
        elif kind == "poll":
            world.poll(SYSTEMS[op[1]])
        elif kind == "settle":
            world.drain(rnd)


def final_value(world: World, logical: int, name: str) -> Any:
    entity = next(e for e in world.entities.values() if e.logical == logical)
    return entity.values.get(name, REMOVE)


@settings(max_examples=150, deadline=None)
@given(
    strategy=st.sampled_from(list(Strategy)),
    ops=scenario(small_values),
    priority=st.permutations(SYSTEMS),
    owner=st.sampled_from((None, *SYSTEMS)),
    rnd=st.randoms(use_true_random=False),
)
def test_every_strategy_converges_without_duplicates_or_idle_writes(
    strategy: Strategy,
    ops: list[tuple[Any, ...]],
    priority: list[str],
    owner: str | None,
    rnd: random.Random,
) -> None:
    owners = {} if owner is None else {"email": owner}
    world = World(Policy(strategy, priority=priority[:2], field_owners=owners))
    run(world, ops, rnd, unique=False)
    world.drain(rnd)
    world.assert_converged_without_duplicates()
    world.assert_idle_cycle_writes_nothing()


@settings(max_examples=150, deadline=None)
@given(ops=scenario(small_values), rnd=st.randoms(use_true_random=False))
def test_field_merge_never_loses_a_change_only_one_side_made(
    ops: list[tuple[Any, ...]], rnd: random.Random
) -> None:
    world = World(Policy(Strategy.FIELD_MERGE))
    run(world, ops, rnd, unique=False)
    world.drain(rnd)
    world.assert_converged_without_duplicates()
    for (logical, name), by_system in world.edits.items():
        if len(by_system) == 1:
            (value,) = by_system.values()
            assert final_value(world, logical, name) == value, (logical, name)
    for entity in world.entities.values():
        tags = entity.values.get(TAG, [])
        for (logical, tag), kinds in world.tag_ops.items():
            if logical != entity.logical:
                continue
            if kinds == {"add"}:
                assert tag in tags, (logical, tag)
            if kinds == {"remove"}:
                assert tag not in tags, (logical, tag)
    world.assert_idle_cycle_writes_nothing()


@settings(max_examples=150, deadline=None)
@given(
    ops=scenario(st.just("unique")),
    rnd=st.randoms(use_true_random=False),
)
def test_field_merge_with_field_times_keeps_the_latest_edit_of_every_field(
    ops: list[tuple[Any, ...]], rnd: random.Random
) -> None:
    world = World(Policy(Strategy.FIELD_MERGE))
    run(world, ops, rnd, unique=True)
    world.drain(rnd)
    world.assert_converged_without_duplicates()
    for (logical, name), (_, value) in world.latest.items():
        assert final_value(world, logical, name) == value, (logical, name)


# --- the mechanisms one by one, in the order a careless pipeline would break them -------


def settled_world() -> tuple[World, random.Random]:
    world, rnd = World(Policy(Strategy.FIELD_MERGE)), random.Random(0)
    world.user_create("alpha", {"name": "x", "email": "e"})
    world.drain(rnd)
    world.assert_converged_without_duplicates()
    return world, rnd


def test_reordered_stale_delivery_does_not_roll_back() -> None:
    world, rnd = settled_world()
    world.user_edit("alpha", 0, "name", "y")
    world.user_edit("alpha", 0, "name", "z")
    stale, fresh = world.webhooks[-2:]
    world.webhooks.clear()
    world.inbound(*fresh)
    world.inbound(*stale)
    world.inbound(*fresh)
    world.drain(rnd)
    world.assert_converged_without_duplicates()
    assert world.entities[0].values["name"] == "z"


def test_echo_hash_is_forgotten_once_the_system_sends_its_own_data() -> None:
    # beta holds what the hub wrote ({"name": "x"}); its user edits away and back again.
    world, rnd = settled_world()
    world.user_edit("beta", 0, "name", "y")
    world.inbound(*world.webhooks.pop())
    world.user_edit("beta", 0, "name", "x")
    world.inbound(*world.webhooks.pop())
    world.drain(rnd)
    world.assert_converged_without_duplicates()
    assert world.entities[0].values["name"] == "x"


def test_our_own_write_comes_back_as_a_no_op() -> None:
    world, rnd = settled_world()
    writes, resolved = world.total_writes(), world.resolved
    world.system_touch("beta", 0)  # new version, same data as we wrote: an echo by hash
    world.drain(rnd)
    assert world.total_writes() == writes
    assert world.resolved == resolved  # dropped before the engine ran
    assert world.links[("beta", "beta-0")].external_version == "2"


def test_a_system_that_moved_on_is_ingested_before_we_write_to_it() -> None:
    world, rnd = settled_world()
    world.user_edit("beta", 0, "email", "b")
    world.webhooks.clear()  # beta's webhook is lost
    world.user_edit("alpha", 0, "name", "n")
    world.inbound(*world.webhooks.pop())
    while world.pushes:
        world.push(*world.pushes.pop(0))
    assert world.entities[0].values == {"name": "n", "email": "b"}
    world.drain(rnd)
    world.assert_converged_without_duplicates()
