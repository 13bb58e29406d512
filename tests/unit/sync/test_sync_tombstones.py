from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integration_core.sync import FieldConflict, Policy, Side, Strategy
from integration_core.sync.tombstones import (
    DELETED_FIELD,
    DeleteDecision,
    DeleteOutcome,
    DeleteRule,
    resolve_delete,
    resolve_update_of_deleted,
)

pytestmark = pytest.mark.unit

T0 = datetime(2024, 5, 1, tzinfo=UTC)
BASE = {"name": "A", "email": "e"}


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def live_hub(values: dict[str, Any] = BASE, t: float = 0, **kw: Any) -> Side:
    return Side("hub", values, at(t), **kw)


def tombstone(system: str = "salesforce", t: float = 0, **kw: Any) -> Side:
    return Side(system, {}, at(t), **kw)


@pytest.mark.parametrize(
    ("rule", "outcome"),
    [
        (DeleteRule.PROPAGATE, DeleteOutcome.DELETE),
        (DeleteRule.ARCHIVE, DeleteOutcome.ARCHIVE),
        (DeleteRule.IGNORE, DeleteOutcome.KEEP),
    ],
)
@pytest.mark.parametrize("strategy", list(Strategy))
def test_delete_without_concurrent_update_follows_the_rule(
    rule: DeleteRule, outcome: DeleteOutcome, strategy: Strategy
) -> None:
    decision = resolve_delete(BASE, live_hub(), tombstone(t=-100), Policy(strategy), rule=rule)
    assert decision == DeleteDecision(outcome)


@pytest.mark.parametrize(
    ("strategy", "outcome", "why"),
    [
        (Strategy.SOURCE_WINS, DeleteOutcome.DELETE, "source wins"),
        (Strategy.TARGET_WINS, DeleteOutcome.KEEP, "hub wins"),
        (Strategy.MANUAL, DeleteOutcome.PENDING, "awaiting a decision"),
        # hub update (t=10) after delete (t=5)
        (Strategy.LAST_WRITE_WINS, DeleteOutcome.KEEP, "later modification"),
        (Strategy.FIELD_MERGE, DeleteOutcome.KEEP, "later modification"),
        (Strategy.SYSTEM_PRIORITY, DeleteOutcome.KEEP, "equal priority: hub keeps"),
    ],
)
def test_delete_against_concurrent_update_follows_the_strategy(
    strategy: Strategy, outcome: DeleteOutcome, why: str
) -> None:
    hub = live_hub({"name": "B", "email": "e"}, t=10)
    decision = resolve_delete(
        BASE, hub, tombstone(t=5), Policy(strategy), rule=DeleteRule.PROPAGATE
    )
    assert decision.outcome is outcome
    assert decision.conflict is not None
    assert decision.conflict.field == DELETED_FIELD
    expected_winner = {
        DeleteOutcome.DELETE: "salesforce",
        DeleteOutcome.KEEP: "hub",
        DeleteOutcome.PENDING: None,
    }[outcome]
    assert decision.conflict == FieldConflict(
        DELETED_FIELD, False, False, True, expected_winner, why
    )


def test_later_delete_wins_under_last_write_wins_and_archive_rule() -> None:
    hub = live_hub({"name": "B", "email": "e"}, t=10)
    decision = resolve_delete(
        BASE, hub, tombstone(t=20), Policy(Strategy.LAST_WRITE_WINS), rule=DeleteRule.ARCHIVE
    )
    assert decision.outcome is DeleteOutcome.ARCHIVE


def test_field_merge_uses_latest_changed_field_time() -> None:
    # Record time says the hub is later, but its changed field was edited before the delete.
    hub = live_hub(
        {"name": "B", "email": "e"},
        t=100,
        field_modified_at={"name": at(3), "email": at(90)},  # email unchanged: ignored
    )
    policy = Policy(Strategy.FIELD_MERGE)
    stone = tombstone(t=0, field_modified_at={DELETED_FIELD: at(5)})
    assert resolve_delete(BASE, hub, stone, policy, rule=DeleteRule.PROPAGATE).outcome is (
        DeleteOutcome.DELETE
    )
    stone = tombstone(t=0, field_modified_at={DELETED_FIELD: at(2)})
    assert resolve_delete(BASE, hub, stone, policy, rule=DeleteRule.PROPAGATE).outcome is (
        DeleteOutcome.KEEP
    )


def test_system_priority_uses_the_source_of_the_concurrent_update() -> None:
    policy = Policy(Strategy.SYSTEM_PRIORITY, priority=["hubspot", "salesforce", "github"])
    hub = live_hub({"name": "B", "email": "e"}, field_sources={"name": "github"})
    assert resolve_delete(BASE, hub, tombstone(), policy, rule=DeleteRule.PROPAGATE).outcome is (
        DeleteOutcome.DELETE
    )
    hub = live_hub({"name": "B", "email": "e"}, field_sources={"name": "hubspot"})
    assert resolve_delete(BASE, hub, tombstone(), policy, rule=DeleteRule.PROPAGATE).outcome is (
        DeleteOutcome.KEEP
    )
    owned = Policy(
        Strategy.SYSTEM_PRIORITY, priority=["hubspot"], field_owners={DELETED_FIELD: "salesforce"}
    )
    assert resolve_delete(BASE, hub, tombstone(), owned, rule=DeleteRule.PROPAGATE).outcome is (
        DeleteOutcome.DELETE
    )


def test_base_none_counts_as_concurrent() -> None:
    decision = resolve_delete(
        None, live_hub(), tombstone(), Policy(Strategy.MANUAL), rule=DeleteRule.PROPAGATE
    )
    assert decision.outcome is DeleteOutcome.PENDING


def test_protected_deleted_field_only_admin_deletes() -> None:
    policy = Policy(Strategy.SOURCE_WINS, protected_fields=frozenset({DELETED_FIELD}))
    assert resolve_delete(BASE, live_hub(), tombstone(), policy, rule=DeleteRule.PROPAGATE) == (
        DeleteDecision(DeleteOutcome.KEEP)
    )
    changed = live_hub({"name": "B", "email": "e"})
    decision = resolve_delete(BASE, changed, tombstone(), policy, rule=DeleteRule.PROPAGATE)
    assert decision.outcome is DeleteOutcome.KEEP
    assert decision.conflict is not None
    assert decision.conflict.winner == "hub"
    admin = tombstone(system="admin")
    assert resolve_delete(BASE, changed, admin, policy, rule=DeleteRule.PROPAGATE).outcome is (
        DeleteOutcome.DELETE
    )


# --- an update reaching a deleted hub record ------------------------------------------


def deleted_hub(t: float = 0, by: str = "salesforce") -> Side:
    return Side("hub", BASE, at(t), field_sources={DELETED_FIELD: by})


def test_unchanged_update_leaves_it_deleted() -> None:
    incoming = Side("hubspot", dict(BASE), at(100))
    decision = resolve_update_of_deleted(
        BASE, deleted_hub(), incoming, Policy(Strategy.SOURCE_WINS)
    )
    assert decision == DeleteDecision(DeleteOutcome.KEEP)


@pytest.mark.parametrize(
    ("strategy", "outcome"),
    [
        (Strategy.SOURCE_WINS, DeleteOutcome.RESTORE),
        (Strategy.TARGET_WINS, DeleteOutcome.KEEP),
        (Strategy.MANUAL, DeleteOutcome.PENDING),
        (Strategy.LAST_WRITE_WINS, DeleteOutcome.RESTORE),  # update t=20 after delete t=10
    ],
)
def test_update_after_delete_follows_the_strategy(
    strategy: Strategy, outcome: DeleteOutcome
) -> None:
    incoming = Side("hubspot", {"name": "C", "email": "e"}, at(20))
    decision = resolve_update_of_deleted(BASE, deleted_hub(t=10), incoming, Policy(strategy))
    assert decision.outcome is outcome
    assert decision.conflict is not None
    assert (decision.conflict.hub_value, decision.conflict.incoming_value) == (True, False)


def test_update_after_delete_priority_uses_deleting_system() -> None:
    incoming = Side("hubspot", {"name": "C", "email": "e"}, at(0))
    policy = Policy(Strategy.SYSTEM_PRIORITY, priority=["hubspot", "salesforce"])
    assert resolve_update_of_deleted(
        BASE, deleted_hub(by="salesforce"), incoming, policy
    ).outcome is (DeleteOutcome.RESTORE)
    policy = Policy(Strategy.SYSTEM_PRIORITY, priority=["salesforce", "hubspot"])
    assert resolve_update_of_deleted(
        BASE, deleted_hub(by="salesforce"), incoming, policy
    ).outcome is (DeleteOutcome.KEEP)


def test_protected_restore_only_by_admin() -> None:
    policy = Policy(Strategy.SOURCE_WINS, protected_fields=frozenset({DELETED_FIELD}))
    incoming = Side("hubspot", {"name": "C"}, at(0))
    assert (
        resolve_update_of_deleted(BASE, deleted_hub(), incoming, policy).outcome
        is DeleteOutcome.KEEP
    )
    admin = Side("admin", {"name": "C"}, at(0))
    assert (
        resolve_update_of_deleted(BASE, deleted_hub(), admin, policy).outcome
        is DeleteOutcome.RESTORE
    )


def test_decisions_are_deterministic() -> None:
    hub = live_hub(
        {"name": "B", "email": "f"},
        field_modified_at={"name": at(1), "email": at(1)},
        field_sources={"name": "zz", "email": "aa"},
    )
    policy = Policy(Strategy.FIELD_MERGE)
    stone = tombstone(field_modified_at={DELETED_FIELD: at(1)})
    # Equal times: tie -> ranks equal -> the smaller name between "email"'s source "aa"
    # (the earliest-named field among the latest) and "salesforce".
    first = resolve_delete(BASE, hub, stone, policy, rule=DeleteRule.PROPAGATE)
    assert first.outcome is DeleteOutcome.KEEP
    assert all(
        resolve_delete(BASE, hub, stone, policy, rule=DeleteRule.PROPAGATE) == first
        for _ in range(3)
    )
