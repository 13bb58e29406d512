from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from integration_core.sync import Policy, Strategy

pytestmark = pytest.mark.unit


def test_round_trip_through_json() -> None:
    policy = Policy(
        Strategy.SYSTEM_PRIORITY,
        priority=["salesforce", "hubspot"],
        field_owners={"email": "salesforce"},
        protected_fields=frozenset({"owner", "id"}),
        skew_tolerance=timedelta(seconds=2.5),
    )
    data = json.loads(json.dumps(policy.to_dict()))
    assert data == {
        "strategy": "system_priority",
        "priority": ["salesforce", "hubspot"],
        "field_owners": {"email": "salesforce"},
        "protected_fields": ["id", "owner"],
        "skew_tolerance": 2.5,
    }
    assert Policy.from_dict(data) == policy


def test_defaults_and_camel_case() -> None:
    assert Policy.from_dict({}) == Policy(Strategy.FIELD_MERGE)
    policy = Policy.from_dict(
        {
            "strategy": "manual",
            "fieldOwners": {"a": "x"},
            "protectedFields": ["p"],
            "skewTolerance": 1,
        }
    )
    assert policy == Policy(
        Strategy.MANUAL,
        field_owners={"a": "x"},
        protected_fields=frozenset({"p"}),
        skew_tolerance=timedelta(seconds=1),
    )


def test_constructor_normalises_to_immutable_copies() -> None:
    priority = ["a", "b"]
    owners = {"f": "a"}
    policy = Policy("last_write_wins", priority=priority, field_owners=owners)  # type: ignore[arg-type]
    priority.append("c")
    owners["g"] = "b"
    assert policy.strategy is Strategy.LAST_WRITE_WINS
    assert policy.priority == ("a", "b")
    assert policy.field_owners == {"f": "a"}
    assert policy.rank("a") == 0
    assert policy.rank("b") == 1
    assert policy.rank("zzz") == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"strategy": "newest_wins"}, "unknown strategy"),
        ({"strategy": "manual", "priorty": ["a"]}, "unknown policy key"),
        ({"priority": "salesforce"}, "priority must be a list"),
        ({"priority": ["a", 1]}, "priority must be a list"),
        ({"priority": ["a", "a"]}, "twice"),
        ({"field_owners": ["email"]}, "field_owners"),
        ({"field_owners": {"email": 3}}, "field_owners"),
        ({"protected_fields": "owner"}, "protected_fields"),
        ({"skew_tolerance": -1}, "negative"),
        ({"skew_tolerance": "5s"}, "number of seconds"),
        ({"skew_tolerance": True}, "number of seconds"),
        ({"skew_tolerance": float("nan")}, "number of seconds"),
        ({"protected_fields": [], "protectedFields": []}, "given twice"),
    ],
)
def test_bad_input_is_a_clear_value_error(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Policy.from_dict(data)


def test_not_a_mapping() -> None:
    with pytest.raises(ValueError, match="mapping"):
        Policy.from_dict(["manual"])  # type: ignore[arg-type]


def test_negative_skew_rejected_by_constructor() -> None:
    with pytest.raises(ValueError, match="negative"):
        Policy(Strategy.MANUAL, skew_tolerance=timedelta(seconds=-1))
