"""Inbound's decision on plain values: no store, no queue, no adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integration_core.dedup import Matcher
from integration_core.models import Entity
from integration_core.pipelines.decision import ChangeDecision, Incoming, decide_change
from integration_core.sync import Policy
from integration_core.sync.tombstones import DELETED_FIELD, DeleteRule

pytestmark = pytest.mark.unit

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FIELDS = ("first_name", "last_name", "email", "city", "title")
ADA = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "city": "London"}


def _entity(values: dict[str, Any] | None = None, *, at: datetime = T0, **update: Any) -> Entity:
    values = dict(ADA if values is None else values)
    return Entity(
        id="e1",
        tenant_id="t1",
        entity_type="contact",
        values=values,
        sources=dict.fromkeys(values, "alpha"),
        field_modified_at=dict.fromkeys(values, at),
        modified_at=at,
        **update,
    )


def _decide(
    entity: Entity,
    values: dict[str, Any],
    *,
    base: dict[str, Any] | None = ADA,
    at: datetime = T0 + timedelta(minutes=1),
    deleted: bool = False,
    strategy: str = "field_merge",
    rule: DeleteRule = DeleteRule.PROPAGATE,
) -> ChangeDecision:
    return decide_change(
        entity,
        Incoming(source="beta", values=values, modified_at=at, deleted=deleted),
        base=base,
        policy=Policy.from_dict({"strategy": strategy}),
        delete_rule=rule,
        matcher=Matcher.for_entity("contact"),
        fields=FIELDS,
    )


def test_a_first_contact_of_identical_records_changes_nothing_and_tells_the_others() -> None:
    decision = _decide(_entity(), dict(ADA), base=None)
    assert not decision.changed
    assert decision.push
    assert not decision.push_to_source
    assert decision.conflicts == ()


def test_a_one_sided_change_applies_with_its_time_and_source() -> None:
    later = T0 + timedelta(minutes=5)
    decision = _decide(_entity(), {**ADA, "city": "Paris"}, at=later)
    assert decision.changed
    assert decision.entity.values["city"] == "Paris"
    assert decision.entity.sources["city"] == "beta"
    assert decision.entity.field_modified_at["city"] == later
    assert decision.entity.modified_at == later
    assert decision.push
    assert not decision.push_to_source  # the source has it all already


def test_changes_on_both_sides_merge_and_the_source_hears_of_the_hubs() -> None:
    hub = _entity({**ADA, "title": "Countess"})  # the hub learned a title since the base
    decision = _decide(hub, {**ADA, "city": "Paris"})
    assert decision.entity.values == {**ADA, "title": "Countess", "city": "Paris"}
    assert decision.push_to_source


def test_a_manual_conflict_keeps_the_hub_value_and_tells_no_one() -> None:
    hub = _entity({**ADA, "city": "Leeds"})
    decision = _decide(hub, {**ADA, "city": "Paris"}, strategy="manual")
    assert not decision.changed
    assert [c.field for c in decision.conflicts] == ["city"]
    assert not decision.push


def test_a_delete_with_no_change_since_the_base_deletes_and_retires_the_source() -> None:
    decision = _decide(_entity(), dict(ADA), deleted=True)
    assert decision.changed
    assert decision.entity.deleted
    assert decision.entity.deleted_by == "beta"
    assert decision.source_gone
    assert decision.push
    assert not decision.push_to_source


def test_a_delete_under_the_archive_rule_archives() -> None:
    decision = _decide(_entity(), dict(ADA), deleted=True, rule=DeleteRule.ARCHIVE)
    assert decision.entity.archived
    assert not decision.entity.deleted
    assert decision.source_gone


def test_a_delete_older_than_a_hub_edit_loses_and_the_record_goes_back() -> None:
    hub = _entity({**ADA, "city": "Leeds"}, at=T0 + timedelta(minutes=10))
    decision = _decide(hub, dict(ADA), deleted=True, strategy="last_write_wins")
    assert not decision.changed
    assert decision.recreate_in_source
    assert not decision.source_gone
    assert not decision.push_to_source  # the source hears only of the re-create


def test_a_delete_against_a_hub_edit_under_manual_waits_for_a_decision() -> None:
    hub = _entity({**ADA, "city": "Leeds"})
    decision = _decide(hub, dict(ADA), deleted=True, strategy="manual")
    assert not decision.changed
    assert [c.field for c in decision.conflicts] == [DELETED_FIELD]
    assert not decision.push
    assert not decision.source_gone


def test_a_tombstone_for_a_deleted_entity_only_retires_the_source() -> None:
    gone = _entity(deleted=True, deleted_by="alpha", deleted_at=T0)
    decision = _decide(gone, dict(ADA), deleted=True)
    assert not decision.changed
    assert decision.source_gone


def test_a_newer_edit_of_a_deleted_entity_restores_it() -> None:
    gone = _entity(deleted=True, deleted_by="alpha", deleted_at=T0)
    later = T0 + timedelta(minutes=10)
    decision = _decide(gone, {**ADA, "city": "Paris"}, at=later, strategy="last_write_wins")
    assert decision.changed
    assert not decision.entity.deleted
    assert decision.entity.deleted_by is None
    assert decision.entity.values["city"] == "Paris"
    assert decision.push


def test_an_edit_that_changes_nothing_since_the_base_leaves_a_deleted_entity_deleted() -> None:
    gone = _entity(deleted=True, deleted_by="alpha", deleted_at=T0)
    decision = _decide(gone, dict(ADA), at=T0 + timedelta(minutes=10))
    assert not decision.changed
    assert decision.entity.deleted


def test_blocking_keys_follow_a_changed_key_field() -> None:
    matcher = Matcher.for_entity("contact")
    entity = _entity(blocking_keys=matcher.blocking_keys(ADA))
    moved = {**ADA, "last_name": "King", "email": "ada.king@example.com"}
    decision = _decide(entity, moved)
    assert decision.entity.blocking_keys == matcher.blocking_keys(moved)
    assert decision.entity.blocking_keys != entity.blocking_keys
