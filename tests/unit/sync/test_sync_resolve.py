from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integration_core.sync import FieldConflict, Policy, Resolution, Side, Strategy, resolve
from integration_core.sync.resolve import ABSENT, merge_lists

pytestmark = pytest.mark.unit

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def hub(values: dict[str, Any], t: float = 0, **kw: Any) -> Side:
    return Side("hub", values, at(t), **kw)


def inc(values: dict[str, Any], t: float = 0, system: str = "salesforce", **kw: Any) -> Side:
    return Side(system, values, at(t), **kw)


def only(res: Resolution) -> FieldConflict:
    assert len(res.conflicts) == 1
    return res.conflicts[0]


# --- change detection: one-sided changes, absent vs None, base None -------------------


@pytest.mark.parametrize("strategy", list(Strategy))
def test_incoming_only_change_applies_under_every_strategy(strategy: Strategy) -> None:
    base = {"name": "Ada", "email": "a@x.io"}
    res = resolve(
        base,
        hub({"name": "Ada", "email": "a@x.io"}),
        inc({"name": "Ada L", "email": "a@x.io"}),
        Policy(strategy),
    )
    assert res.values == {"name": "Ada L", "email": "a@x.io"}
    assert res.applied == frozenset({"name"})
    assert res.sources == {"name": "salesforce", "email": "hub"}
    assert res.conflicts == ()
    assert res.pending == ()


@pytest.mark.parametrize("strategy", list(Strategy))
def test_hub_only_change_is_kept_under_every_strategy(strategy: Strategy) -> None:
    base = {"name": "Ada", "phone": "1"}
    res = resolve(
        base,
        hub({"name": "Ada", "phone": "2"}, field_sources={"phone": "hubspot"}),
        inc({"name": "Ada", "phone": "1"}, t=100),
        Policy(strategy),
    )
    assert res.values == {"name": "Ada", "phone": "2"}
    assert res.sources == {"name": "hub", "phone": "hubspot"}
    assert res.applied == frozenset()
    assert res.conflicts == ()


def test_both_sides_same_new_value_is_not_a_conflict() -> None:
    res = resolve({"a": 1}, hub({"a": 2}), inc({"a": 2}, t=10), Policy(Strategy.MANUAL))
    assert res.values == {"a": 2}
    assert res.applied == frozenset()
    assert res.conflicts == ()


def test_none_is_a_value_distinct_from_absent() -> None:
    # Incoming set the field to None: a change, applied; the key stays, holding None.
    res = resolve({"a": 1}, hub({"a": 1}), inc({"a": None}), Policy(Strategy.TARGET_WINS))
    assert res.values == {"a": None}
    assert res.applied == frozenset({"a"})
    # Incoming dropped the key: also a change, and the key disappears from the hub.
    res = resolve({"a": 1}, hub({"a": 1}), inc({}), Policy(Strategy.TARGET_WINS))
    assert res.values == {}
    assert res.sources == {}
    assert res.applied == frozenset({"a"})
    # Base None vs absent: the hub gained a None, incoming did not mention it.
    res = resolve({}, hub({"a": None}), inc({}), Policy(Strategy.SOURCE_WINS))
    assert res.values == {"a": None}
    assert res.applied == frozenset()


def test_absent_against_none_is_a_conflict_reported_with_absent() -> None:
    res = resolve({"a": 1}, hub({"a": None}), inc({}), Policy(Strategy.MANUAL))
    conflict = only(res)
    assert conflict == FieldConflict("a", 1, None, ABSENT, None, "awaiting a decision")
    assert conflict.incoming_value is ABSENT
    assert conflict.hub_value is None
    assert res.values == {"a": None}


def test_absent_incoming_wins_removes_the_field() -> None:
    res = resolve(
        {"a": 1, "b": 2}, hub({"a": 5, "b": 2}), inc({"b": 2}), Policy(Strategy.SOURCE_WINS)
    )
    assert res.values == {"b": 2}
    assert "a" not in res.sources
    assert res.applied == frozenset({"a"})
    assert only(res) == FieldConflict("a", 1, 5, ABSENT, "salesforce", "source wins")


def test_base_none_first_contact() -> None:
    res = resolve(
        None,
        hub({"a": 1, "b": 2, "same": "x"}),
        inc({"a": 9, "c": 3, "same": "x"}),
        Policy(Strategy.SOURCE_WINS),
    )
    # a differs on both -> conflict; b only on hub -> kept; c only incoming -> applied.
    assert res.values == {"a": 9, "b": 2, "c": 3, "same": "x"}
    assert res.applied == frozenset({"a", "c"})
    assert only(res) == FieldConflict("a", ABSENT, 1, 9, "salesforce", "source wins")


def test_base_none_empty_hub_takes_everything() -> None:
    res = resolve(None, hub({}), inc({"a": 1, "b": None}), Policy(Strategy.MANUAL))
    assert res.values == {"a": 1, "b": None}
    assert res.applied == frozenset({"a", "b"})
    assert res.conflicts == ()


def test_bool_is_not_equal_to_int() -> None:
    # True == 1 in Python, but a flag changing to 1 is a change.
    res = resolve({"f": True}, hub({"f": True}), inc({"f": 1}), Policy(Strategy.TARGET_WINS))
    assert res.applied == frozenset({"f"})
    assert res.values["f"] == 1
    assert type(res.values["f"]) is int
    res = resolve(
        {"f": [1, {"x": 0}]},
        hub({"f": [1, {"x": 0}]}),
        inc({"f": [True, {"x": False}]}),
        Policy(Strategy.TARGET_WINS),
    )
    assert res.applied == frozenset({"f"})


def test_int_and_float_equal_are_not_a_change() -> None:
    res = resolve({"n": 1}, hub({"n": 1}), inc({"n": 1.0}), Policy(Strategy.SOURCE_WINS))
    assert res.applied == frozenset()


# --- the strategies on a true conflict ------------------------------------------------

BASE = {"email": "old@x.io"}


def conflict_of(
    strategy: Strategy, *, hub_t: float = 0, inc_t: float = 0, **policy: Any
) -> Resolution:
    return resolve(
        BASE,
        hub({"email": "hub@x.io"}, t=hub_t),
        inc({"email": "sf@x.io"}, t=inc_t),
        Policy(strategy, **policy),
    )


def test_source_wins() -> None:
    res = conflict_of(Strategy.SOURCE_WINS, hub_t=100, inc_t=0)
    assert res.values == {"email": "sf@x.io"}
    assert res.sources == {"email": "salesforce"}
    assert res.applied == frozenset({"email"})
    assert only(res) == FieldConflict(
        "email", "old@x.io", "hub@x.io", "sf@x.io", "salesforce", "source wins"
    )
    assert res.pending == ()


def test_target_wins() -> None:
    res = conflict_of(Strategy.TARGET_WINS, hub_t=0, inc_t=100)
    assert res.values == {"email": "hub@x.io"}
    assert res.applied == frozenset()
    assert only(res).winner == "hub"


def test_manual_keeps_hub_and_is_pending() -> None:
    res = resolve(
        {"email": "old", "name": "A"},
        hub({"email": "hub", "name": "A"}),
        inc({"email": "sf", "name": "B"}, t=100),
        Policy(Strategy.MANUAL),
    )
    # Non-conflicting fields still apply.
    assert res.values == {"email": "hub", "name": "B"}
    assert res.applied == frozenset({"name"})
    conflict = FieldConflict("email", "old", "hub", "sf", None, "awaiting a decision")
    assert res.conflicts == (conflict,)
    assert res.pending == (conflict,)


@pytest.mark.parametrize(("hub_t", "inc_t", "winner"), [(0, 10, "salesforce"), (10, 0, "hub")])
def test_last_write_wins_by_record_time(hub_t: float, inc_t: float, winner: str) -> None:
    res = conflict_of(Strategy.LAST_WRITE_WINS, hub_t=hub_t, inc_t=inc_t)
    assert only(res).winner == winner


def test_last_write_wins_skew_tolerance_makes_close_times_a_tie() -> None:
    # 2 s apart, tolerance 5 s: a tie -> priority decides (hub's field source is "hub").
    res = conflict_of(
        Strategy.LAST_WRITE_WINS,
        hub_t=2,
        inc_t=0,
        skew_tolerance=timedelta(seconds=5),
        priority=["salesforce"],
    )
    assert only(res).winner == "salesforce"
    # Exactly the tolerance apart is not "closer than": time decides.
    res = conflict_of(
        Strategy.LAST_WRITE_WINS,
        hub_t=5,
        inc_t=0,
        skew_tolerance=timedelta(seconds=5),
        priority=["salesforce"],
    )
    assert only(res).winner == "hub"
    # Without tolerance, 2 s decides.
    res = conflict_of(Strategy.LAST_WRITE_WINS, hub_t=2, inc_t=0, priority=["salesforce"])
    assert only(res).winner == "hub"


def test_last_write_wins_tie_uses_hub_field_source_priority() -> None:
    side = hub({"email": "hub@x.io"}, field_sources={"email": "hubspot"})
    for priority, winner in [
        (["hubspot", "salesforce"], "hub"),
        (["salesforce", "hubspot"], "salesforce"),
        (["hubspot"], "hub"),  # salesforce unlisted ranks below
        (["salesforce"], "salesforce"),  # hubspot unlisted ranks below
    ]:
        res = resolve(
            BASE,
            side,
            inc({"email": "sf@x.io"}),
            Policy(Strategy.LAST_WRITE_WINS, priority=priority),
        )
        assert only(res).winner == winner, priority


def test_last_write_wins_tie_equal_rank_smaller_name_wins() -> None:
    def run(hub_source: str, system: str) -> str | None:
        res = resolve(
            BASE,
            hub({"email": "h"}, field_sources={"email": hub_source}),
            inc({"email": "i"}, system=system),
            Policy(Strategy.LAST_WRITE_WINS),
        )
        return only(res).winner

    assert run("hubspot", "salesforce") == "hub"  # "hubspot" < "salesforce"
    assert run("zendesk", "salesforce") == "salesforce"
    assert run("github", "github") == "hub"  # identical: nothing to prefer, hub keeps
    # The hub's own default source is "hub".
    assert run("hub", "asana") == "asana"
    assert run("hub", "notion") == "hub"


def test_field_merge_uses_field_times_when_both_sides_have_them() -> None:
    res = resolve(
        {"a": 0, "b": 0},
        hub({"a": 1, "b": 1}, t=100, field_modified_at={"a": at(10), "b": at(50)}),
        inc({"a": 2, "b": 2}, t=0, field_modified_at={"a": at(20), "b": at(40)}),
        Policy(Strategy.FIELD_MERGE),
    )
    assert res.values == {"a": 2, "b": 1}
    assert res.applied == frozenset({"a"})
    assert [(c.field, c.winner) for c in res.conflicts] == [("a", "salesforce"), ("b", "hub")]


def test_field_merge_falls_back_to_record_times() -> None:
    # Only the incoming side has a time for "a": record times decide (hub later).
    res = resolve(
        {"a": 0},
        hub({"a": 1}, t=100),
        inc({"a": 2}, t=0, field_modified_at={"a": at(500)}),
        Policy(Strategy.FIELD_MERGE),
    )
    assert only(res).winner == "hub"


def test_field_merge_field_time_tie_uses_priority_then_name() -> None:
    times = {"a": at(10)}
    res = resolve(
        {"a": 0},
        hub({"a": 1}, t=0, field_modified_at=times, field_sources={"a": "zendesk"}),
        inc({"a": 2}, t=99, field_modified_at=times),
        Policy(Strategy.FIELD_MERGE, priority=["zendesk"]),
    )
    assert only(res).winner == "hub"
    res = resolve(
        {"a": 0},
        hub({"a": 1}, t=0, field_modified_at=times, field_sources={"a": "zendesk"}),
        inc({"a": 2}, t=99, field_modified_at={"a": at(10.5)}),
        Policy(Strategy.FIELD_MERGE, skew_tolerance=timedelta(seconds=1)),
    )
    assert only(res).winner == "salesforce"  # tie within skew; "salesforce" < "zendesk"


def test_field_merge_three_way_merges_independent_fields() -> None:
    res = resolve(
        {"name": "A", "email": "e", "phone": "p"},
        hub({"name": "A", "email": "e2", "phone": "p"}),
        inc({"name": "A2", "email": "e", "phone": "p"}, t=-100),
        Policy(Strategy.FIELD_MERGE),
    )
    assert res.values == {"name": "A2", "email": "e2", "phone": "p"}
    assert res.conflicts == ()


# --- lists under field_merge ----------------------------------------------------------


def test_list_changed_on_both_sides_merges_as_set() -> None:
    res = resolve(
        {"tags": ["a", "b", "c"]},
        hub({"tags": ["c", "b", "h"]}),  # removed a, added h, reordered
        inc({"tags": ["a", "b", "i", "j"]}, t=-100),  # removed c, added i, j
        Policy(Strategy.FIELD_MERGE),
    )
    assert res.values == {"tags": ["b", "h", "i", "j"]}
    assert res.applied == frozenset({"tags"})
    assert res.sources == {"tags": "salesforce"}
    assert res.conflicts == ()


def test_list_merge_with_dict_elements_and_base_absent() -> None:
    res = resolve(
        {},
        hub({"xs": [{"k": 1}, {"k": 2}]}),
        inc({"xs": [{"k": 2}, {"k": 3}, {"k": 3}]}),
        Policy(Strategy.FIELD_MERGE),
    )
    assert res.values == {"xs": [{"k": 1}, {"k": 2}, {"k": 3}]}
    res = resolve(None, hub({"xs": [1]}), inc({"xs": [2]}), Policy(Strategy.FIELD_MERGE))
    assert res.values == {"xs": [1, 2]}
    assert res.conflicts == ()


def test_list_merge_keeps_bool_and_int_apart() -> None:
    assert merge_lists([], [1, True], [True, 1.0, False]) == [1, True, False]


def test_list_merge_equal_to_hub_is_not_applied() -> None:
    res = resolve(
        {"t": ["a"]},
        hub({"t": ["a", "b"]}),
        inc({"t": ["a", "b", "b"]}),
        Policy(Strategy.FIELD_MERGE),
    )
    assert res.values == {"t": ["a", "b"]}
    assert res.applied == frozenset()
    assert res.sources == {"t": "hub"}


def test_lists_are_plain_conflicts_under_other_strategies() -> None:
    res = resolve(
        {"t": ["a"]},
        hub({"t": ["a", "h"]}),
        inc({"t": ["a", "i"]}, t=10),
        Policy(Strategy.LAST_WRITE_WINS),
    )
    assert res.values == {"t": ["a", "i"]}
    assert only(res).winner == "salesforce"


def test_list_against_scalar_is_a_normal_conflict() -> None:
    res = resolve(
        {"t": ["a"]}, hub({"t": "a"}), inc({"t": ["b"]}, t=10), Policy(Strategy.FIELD_MERGE)
    )
    assert only(res).winner == "salesforce"


# --- system_priority, owners, protected fields ----------------------------------------


def test_system_priority_by_rank() -> None:
    policy = Policy(Strategy.SYSTEM_PRIORITY, priority=["salesforce", "hubspot"])
    side = hub({"email": "h"}, t=100, field_sources={"email": "hubspot"})
    res = resolve(BASE, side, inc({"email": "i"}), policy)
    assert only(res).winner == "salesforce"
    res = resolve(BASE, side, inc({"email": "i"}, system="github"), policy)
    assert only(res).winner == "hub"  # github unlisted: below hubspot


def test_system_priority_equal_rank_hub_keeps() -> None:
    policy = Policy(Strategy.SYSTEM_PRIORITY, priority=["salesforce"])
    # Both unlisted.
    res = resolve(
        BASE,
        hub({"email": "h"}, field_sources={"email": "zendesk"}),
        inc({"email": "i"}, system="asana", t=100),
        policy,
    )
    assert only(res).winner == "hub"
    # Same system on both sides.
    res = resolve(
        BASE,
        hub({"email": "h"}, field_sources={"email": "salesforce"}),
        inc({"email": "i"}, t=100),
        policy,
    )
    assert only(res).winner == "hub"


def test_system_priority_field_owner_decides_conflicts() -> None:
    policy = Policy(
        Strategy.SYSTEM_PRIORITY,
        priority=["hubspot", "salesforce"],
        field_owners={"email": "salesforce", "stage": "hubspot"},
    )
    base = {"email": "e0", "stage": "s0", "name": "n0"}
    res = resolve(
        base,
        hub(
            {"email": "e1", "stage": "s1", "name": "n1"},
            field_sources={"email": "hubspot", "stage": "hubspot", "name": "hubspot"},
        ),
        inc({"email": "e2", "stage": "s2", "name": "n2"}),
        policy,
    )
    winners = {c.field: c.winner for c in res.conflicts}
    assert winners == {"email": "salesforce", "stage": "hub", "name": "hub"}
    assert res.values == {"email": "e2", "stage": "s1", "name": "n1"}


def test_owner_only_decides_conflicts_one_sided_changes_still_apply() -> None:
    policy = Policy(Strategy.SYSTEM_PRIORITY, field_owners={"email": "salesforce"})
    res = resolve(
        {"email": "e0"}, hub({"email": "e0"}), inc({"email": "e2"}, system="hubspot"), policy
    )
    assert res.values == {"email": "e2"}
    assert res.applied == frozenset({"email"})


def test_owner_neither_side_falls_back_to_rank() -> None:
    policy = Policy(
        Strategy.SYSTEM_PRIORITY,
        priority=["github", "hubspot"],
        field_owners={"email": "salesforce"},
    )
    res = resolve(
        BASE,
        hub({"email": "h"}, field_sources={"email": "hubspot"}),
        inc({"email": "i"}, system="github"),
        policy,
    )
    assert only(res).winner == "github"


def test_owner_hub_side_uses_field_source_not_hub_name() -> None:
    policy = Policy(
        Strategy.SYSTEM_PRIORITY, priority=["github"], field_owners={"email": "salesforce"}
    )
    res = resolve(
        BASE,
        hub({"email": "h"}, field_sources={"email": "salesforce"}),
        inc({"email": "i"}, system="github"),
        policy,
    )
    assert only(res).winner == "hub"


@pytest.mark.parametrize("strategy", list(Strategy))
def test_protected_field_only_changed_by_admin(strategy: Strategy) -> None:
    policy = Policy(strategy, protected_fields=frozenset({"owner"}), priority=["salesforce"])
    base = {"owner": "u1", "name": "A"}
    # One-sided change from a system: rejected; the other field still applies.
    res = resolve(base, hub(base), inc({"owner": "u2", "name": "B"}, t=10), policy)
    assert res.values == {"owner": "u1", "name": "B"}
    assert res.applied == frozenset({"name"})
    assert res.conflicts == ()
    # Removing it is a change too.
    res = resolve(base, hub(base), inc({"name": "A"}, t=10), policy)
    assert res.values == base
    # The admin may.
    res = resolve(base, hub(base), inc({"owner": "u3", "name": "A"}, system="admin"), policy)
    assert res.values == {"owner": "u3", "name": "A"}
    assert res.sources["owner"] == "admin"
    # Concurrent edit from a system: a conflict the hub wins whatever the strategy.
    res = resolve(
        base, hub({"owner": "h", "name": "A"}), inc({"owner": "u2", "name": "A"}, t=10), policy
    )
    assert only(res) == FieldConflict("owner", "u1", "h", "u2", "hub", "protected field")
    assert res.pending == ()
    assert res.values["owner"] == "h"


def test_admin_conflict_on_protected_field_goes_to_the_strategy() -> None:
    policy = Policy(Strategy.SOURCE_WINS, protected_fields=frozenset({"owner"}))
    res = resolve({"owner": "u1"}, hub({"owner": "h"}), inc({"owner": "a"}, system="admin"), policy)
    assert only(res).winner == "admin"
    assert res.values == {"owner": "a"}


# --- purity ---------------------------------------------------------------------------


def test_resolve_never_mutates_and_shares_no_containers() -> None:
    base = {"tags": ["a"], "meta": {"k": [1]}, "x": 1}
    hub_values = {"tags": ["a", "h"], "meta": {"k": [1]}, "x": 2}
    inc_values = {"tags": ["a", "i"], "meta": {"k": [2]}, "x": 3}
    fma = {"x": at(1)}
    sources = {"x": "hubspot"}
    snapshot = copy.deepcopy((base, hub_values, inc_values, fma, sources))
    h = Side("hub", hub_values, at(0), field_modified_at=fma, field_sources=sources)
    i = Side("salesforce", inc_values, at(5))
    res = resolve(base, h, i, Policy(Strategy.FIELD_MERGE))
    assert (base, hub_values, inc_values, fma, sources) == snapshot
    res.values["tags"].append("zz")
    res.values["meta"]["k"].append(9)
    assert (base, hub_values, inc_values, fma, sources) == snapshot


def test_resolve_is_deterministic() -> None:
    args = (
        {"b": 1, "a": 1, "c": [1]},
        hub({"a": 2, "b": 2, "c": [1, 2]}, field_sources={"b": "x"}),
        inc({"b": 3, "a": 3, "c": [3]}),
        Policy(Strategy.MANUAL),
    )
    first = resolve(*args)
    assert [c.field for c in first.conflicts] == ["a", "b", "c"]
    for _ in range(3):
        assert resolve(*args) == first


def test_naive_time_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        Side("hub", {}, datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("strategy", "hub_t", "inc_t", "policy", "winner", "rule"),
    [
        (Strategy.SOURCE_WINS, 9, 0, {}, "salesforce", "source wins"),
        (Strategy.TARGET_WINS, 0, 9, {}, "hub", "hub wins"),
        (Strategy.MANUAL, 0, 9, {}, None, "awaiting a decision"),
        (Strategy.LAST_WRITE_WINS, 0, 9, {}, "salesforce", "later modification"),
        (Strategy.LAST_WRITE_WINS, 9, 0, {}, "hub", "later modification"),
        (
            Strategy.LAST_WRITE_WINS,
            5,
            5,
            {"priority": ["hubspot"]},
            "hub",
            "same time, system priority: hubspot",
        ),
        (Strategy.FIELD_MERGE, 5, 5, {}, "hub", "same time, system name: hubspot"),
        (
            Strategy.SYSTEM_PRIORITY,
            0,
            0,
            {"priority": ["salesforce"]},
            "salesforce",
            "system priority: salesforce",
        ),
        (
            Strategy.SYSTEM_PRIORITY,
            0,
            0,
            {"priority": ["salesforce"], "field_owners": {"email": "hubspot"}},
            "hub",
            "field owner: hubspot",
        ),
        (Strategy.SYSTEM_PRIORITY, 0, 0, {}, "hub", "equal priority: hub keeps"),
    ],
)
def test_a_conflict_names_the_rule_that_decided_it(
    strategy: Strategy,
    hub_t: float,
    inc_t: float,
    policy: dict[str, Any],
    winner: str | None,
    rule: str,
) -> None:
    """The hub's value came from hubspot; salesforce sends another."""
    res = resolve(
        BASE,
        hub({"email": "hub@x.io"}, t=hub_t, field_sources={"email": "hubspot"}),
        inc({"email": "sf@x.io"}, t=inc_t),
        Policy(strategy, **policy),
    )
    assert (only(res).winner, only(res).rule) == (winner, rule)
