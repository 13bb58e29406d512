"""Per-task matching options: thresholds and custom rules as validated data (issue 11, §9).

Before, `matcher_for` passed the task's `matching` dict to the Matcher as keyword
arguments: `rules` raised TypeError, and a misspelt key failed the same way at the
first message instead of being named.
"""

from __future__ import annotations

from typing import Any

import pytest

from integration_core.dedup import Decision, Rule
from integration_core.dedup.defaults import CONTACT_RULES
from integration_core.errors import ConfigurationError
from integration_core.models import SyncTask
from integration_core.pipelines.matching import matcher_for

pytestmark = pytest.mark.unit

EMPLOYEE_ID = {"fields": "employee_id", "comparator": "exact", "weight": 30, "penalty": 30}
ADA = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


def task(matching: dict[str, Any]) -> SyncTask:
    return SyncTask(
        id="crm-contact", tenant_id="t1", connection_id="crm", entity_type="contact",
        matching=matching,
    )  # fmt: skip


def test_custom_rules_replace_the_defaults() -> None:
    matcher = matcher_for(task({"rules": [EMPLOYEE_ID], "auto_link_threshold": 0.9}))
    assert [rule.name for rule in matcher.rules] == ["employee_id"]
    assert matcher.auto_link_threshold == 0.9
    same = matcher.compare({**ADA, "employee_id": "E-1"}, {"employee_id": "E-1", "id": "2"})
    assert matcher.decide(same) is Decision.LINK


def test_extra_rules_add_to_the_defaults() -> None:
    matcher = matcher_for(task({"extra_rules": [EMPLOYEE_ID | {"name": "staff"}]}))
    assert {rule.name for rule in matcher.rules} == {r.name for r in CONTACT_RULES} | {"staff"}
    twin = {**ADA, "employee_id": "E-1", "id": "1"}
    other = {**ADA, "employee_id": "E-2", "id": "2"}
    assert matcher.compare(twin, other).score < matcher_for(task({})).compare(twin, other).score


def test_the_defaults_still_find_candidates_by_their_blocking_keys() -> None:
    custom = matcher_for(task({"rules": [EMPLOYEE_ID]}))
    default = matcher_for(task({}))
    assert custom.blocking_keys(ADA) == default.blocking_keys(ADA)


@pytest.mark.parametrize(
    ("matching", "named"),
    [
        ({"rules": [EMPLOYEE_ID | {"comparator": "nope"}]}, "unknown comparator"),
        ({"rules": [EMPLOYEE_ID | {"normalizer": "nope"}]}, "unknown normalizer"),
        ({"rules": [{"fields": "email", "comparator": "exact"}]}, "rules.0.weight"),
        ({"rules": [EMPLOYEE_ID | {"weight": "nan"}]}, "rules.0.weight"),
        ({"rules": [EMPLOYEE_ID | {"threshold": 1.5}]}, "rules.0.threshold"),
        ({"rules": [EMPLOYEE_ID | {"treshold": 0.5}]}, "rules.0.treshold"),
        ({"rules": [EMPLOYEE_ID | {"fields": []}]}, "rules.0.fields"),
        ({"rules": []}, "rules"),
        ({"extra_rules": "employee_id"}, "extra_rules"),
        ({"auto_link_treshold": 0.9}, "auto_link_treshold"),
        ({"match_threshold": 0.9, "auto_link_threshold": 0.5}, "thresholds"),
        ({"match_threshold": 0}, "match_threshold"),
    ],
)
def test_invalid_matching_is_a_configuration_error_naming_the_task(
    matching: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError, match="task crm-contact") as caught:
        matcher_for(task(matching))
    assert named in str(caught.value)


def test_rule_data_refuses_unknown_keys_too() -> None:
    with pytest.raises(ConfigurationError, match="treshold"):
        Rule.from_dict(EMPLOYEE_ID | {"treshold": 0.5})
