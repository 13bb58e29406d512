from __future__ import annotations

import gc
import random
from collections.abc import Mapping
from typing import Any

import pytest

from integration_core.dedup import BlockingKey, Decision, Match, Matcher, RecordRule, Rule
from integration_core.errors import ConfigurationError

pytestmark = pytest.mark.unit

ALICE = {
    "id": "sf-1",
    "first_name": "Alice",
    "last_name": "Johnson",
    "email": "alice.johnson@gmail.com",
    "phone": "(415) 555-0123",
    "street": "12 Main St",
    "city": "San Francisco",
    "postal_code": "94105",
    "country": "US",
    "birth_date": "1985-03-14",
}


def _contact(**values: Any) -> dict[str, Any]:
    return {**ALICE, **values}


def _people() -> list[dict[str, Any]]:
    return [
        ALICE,
        _contact(
            id="hs-9",
            first_name="Alicia",  # typo-ish
            email="Alice.Johnson+crm@googlemail.com",
            phone="+1 415 555 0123",
        ),
        {
            "id": "sf-2",
            "first_name": "Bob",
            "last_name": "Stone",
            "email": "bob@stone.dev",
            "city": "Austin",
            "birth_date": "1970-10-01",
        },
        {"id": "sf-3", "first_name": "Carol", "last_name": "Jones", "city": "Boston"},
    ]


def test_for_entity_defaults_and_unknown_type() -> None:
    assert Matcher.for_entity("contact").rules
    assert Matcher.for_entity("company").rules
    with pytest.raises(ConfigurationError, match="no default matching rules"):
        Matcher.for_entity("invoice")


def test_find_duplicates_returns_each_pair_once_ordered_and_explained() -> None:
    matcher = Matcher.for_entity("contact")
    records = [*_people(), _contact(id="a-0", first_name="Alice")]
    pairs = matcher.find_duplicates(records)
    ids = [(m.left_id, m.right_id) for m in pairs]
    assert set(ids) == {("hs-9", "sf-1"), ("a-0", "hs-9"), ("a-0", "sf-1")}
    assert all(m.left_id < m.right_id for m in pairs)
    assert [m.score for m in pairs] == sorted((m.score for m in pairs), reverse=True)
    assert all(matcher.match_threshold <= m.score <= 1.0 for m in pairs)
    top = pairs[0]
    assert "email" in top.rule.split("+")
    assert "phone" in top.rule.split("+")
    assert {c.rule for c in top.comparisons} >= {"email", "phone", "name", "birth_date"}
    assert "email 1.00" in top.explanation


def test_find_duplicates_uses_blocking_not_all_pairs() -> None:
    matcher = Matcher.for_entity("contact")
    rng = random.Random(3)
    letters = "bcdfghjklmnprstvwz"
    people = [
        {
            "id": f"p{i}",
            "first_name": "".join(rng.choice(letters) + "a" for _ in range(3)),
            "last_name": "".join(rng.choice(letters) + "o" for _ in range(4)),
            "city": "Springfield",
        }
        for i in range(200)
    ]
    assert matcher.find_duplicates(people) == []
    assert matcher.last_run.records == 200
    assert matcher.last_run.comparisons < 200 * 199 // 2 // 100


def test_comparisons_counter_counts_candidate_pairs() -> None:
    matcher = Matcher.for_entity("contact")
    matcher.find_duplicates(_people())
    assert matcher.last_run.comparisons == 1  # only the two Alices share a key


def test_exact_email_after_normalization_matches() -> None:
    matcher = Matcher.for_entity("contact")
    a = {"id": "1", "first_name": "Ann", "last_name": "Lee", "email": "Ann.Lee+x@gmail.com"}
    b = {"id": "2", "first_name": "Ann", "last_name": "Lee", "email": "annlee@GMAIL.com"}
    match = matcher.compare(a, b)
    assert match.score >= matcher.match_threshold
    assert match.rule.startswith("email")


def test_phone_in_e164_with_region_from_country() -> None:
    matcher = Matcher.for_entity("contact")
    a = {
        "id": "1",
        "first_name": "Ann",
        "last_name": "Lee",
        "phone": "020 7946 0958",
        "country": "UK",
    }
    b = {"id": "2", "first_name": "Ann", "last_name": "Lee", "phone": "+44 20 7946 0958"}
    assert "phone:+442079460958" in matcher.blocking_keys(a)
    assert matcher.compare(a, b).score >= matcher.match_threshold


def test_default_region_for_phones() -> None:
    matcher = Matcher.for_entity("contact", default_region="US")
    assert "phone:+14155550123" in matcher.blocking_keys({"phone": "415-555-0123"})


def test_swapped_first_and_last_name() -> None:
    matcher = Matcher.for_entity("contact")
    swapped = _contact(id="x", first_name="Johnson", last_name="Alice", email=None, phone=None)
    match = matcher.compare(ALICE, swapped)
    assert match.score >= matcher.auto_link_threshold
    name = next(c for c in match.comparisons if c.rule == "name")
    assert name.similarity is not None
    assert name.similarity > 0.9
    assert set(matcher.blocking_keys(ALICE)) & set(matcher.blocking_keys(swapped))


def test_nickname_matches() -> None:
    matcher = Matcher.for_entity("contact")
    a = {
        "id": "1",
        "first_name": "Robert",
        "last_name": "Brown",
        "birth_date": "1960-02-03",
        "postal_code": "2000",
        "city": "Sydney",
    }
    b = {
        "id": "2",
        "first_name": "Bob",
        "last_name": "Brown",
        "birth_date": "1960-02-03",
        "postal_code": "2000",
        "city": "Sydney",
    }
    match = matcher.find_duplicates([a, b])
    assert [(m.left_id, m.right_id) for m in match] == [("1", "2")]
    name_keys = {k for k in matcher.blocking_keys(a) if k.startswith("namey:")}
    assert name_keys
    assert name_keys == {k for k in matcher.blocking_keys(b) if k.startswith("namey:")}
    name = next(c for c in match[0].comparisons if c.rule == "name")
    assert name.similarity is not None
    assert name.similarity >= 0.95


@pytest.mark.parametrize("typo", ["1985-14-03", "1985-03-41", "1958-03-14", "1985-03-15"])
def test_birth_date_typos_still_match(typo: str) -> None:
    matcher = Matcher.for_entity("contact")
    other = _contact(id="x", birth_date=typo, email=None, phone=None)
    match = matcher.compare(ALICE, other)
    dob = next(c for c in match.comparisons if c.rule == "birth_date")
    assert dob.similarity is not None
    assert dob.similarity >= 0.8
    assert dob.evidence > 0
    assert match.score >= matcher.auto_link_threshold


def test_fuzzy_and_phonetic_names_match() -> None:
    matcher = Matcher.for_entity("contact")
    base = {
        "id": "1",
        "first_name": "Catherine",
        "last_name": "Smith",
        "city": "Leeds",
        "postal_code": "11111",
        "birth_date": "1990-01-01",
    }
    variant = {**base, "id": "2", "first_name": "Katherine", "last_name": "Smyth"}
    assert matcher.find_duplicates([base, variant])


def test_different_people_sharing_a_name_do_not_match() -> None:
    matcher = Matcher.for_entity("contact")
    a = {
        "id": "1",
        "first_name": "John",
        "last_name": "Smith",
        "birth_date": "1970-01-01",
        "city": "Leeds",
        "email": "john@a.com",
    }
    b = {
        "id": "2",
        "first_name": "John",
        "last_name": "Smith",
        "birth_date": "1992-07-19",
        "city": "Bristol",
        "email": "jsmith@b.org",
    }
    assert matcher.find_duplicates([a, b]) == []
    assert matcher.decide(matcher.compare(a, b)) is Decision.NEW


def test_strong_identifier_alone_matches() -> None:
    matcher = Matcher.for_entity("contact")
    a = {"id": "1", "first_name": "J", "last_name": "Doe", "national_id": "123-45-6789"}
    b = {"id": "2", "first_name": "Jane", "last_name": "Doe", "national_id": "123456789"}
    assert matcher.compare(a, b).score >= matcher.match_threshold


def test_link_pairs_across_two_sources() -> None:
    matcher = Matcher.for_entity("contact")
    people = _people()
    left = [people[0], people[2]]
    right = [{**people[1], "id": "sf-1"}, people[3]]  # same id in another system is fine
    links = matcher.link(left, right)
    assert [(m.left_id, m.right_id) for m in links] == [("sf-1", "sf-1")]


def test_index_and_match_incrementally() -> None:
    matcher = Matcher.for_entity("contact")
    matcher.index(_people())
    assert len(matcher) == 4
    incoming = _contact(id="new", email="alice.johnson@gmail.com", first_name="Alise")
    found = matcher.match(incoming)
    assert [m.right_id for m in found] == ["sf-1", "hs-9"] or [m.right_id for m in found] == [
        "hs-9",
        "sf-1",
    ]
    assert all(m.left_id == "new" for m in found)
    assert matcher.match(incoming, limit=1) == found[:1]
    assert matcher.last_run.comparisons == 2
    matcher.remove("sf-1")
    assert [m.right_id for m in matcher.match(incoming)] == ["hs-9"]
    matcher.index(
        [
            _contact(
                id="hs-9",
                email="other@x.org",
                first_name="Zed",
                last_name="Q",
                birth_date=None,
                phone=None,
                street=None,
                postal_code=None,
            )
        ]
    )
    assert matcher.match(incoming) == []  # re-indexing an id replaces it


def test_match_skips_the_record_itself() -> None:
    matcher = Matcher.for_entity("contact")
    matcher.index([ALICE])
    assert matcher.match(ALICE) == []


def test_thresholds_and_decisions() -> None:
    matcher = Matcher.for_entity("contact", match_threshold=0.6, auto_link_threshold=0.9)
    assert matcher.review_band == (0.6, 0.9)
    assert matcher.decide(0.95) is Decision.LINK
    assert matcher.decide(0.9) is Decision.LINK
    assert matcher.decide(0.7) is Decision.REVIEW
    assert matcher.decide(0.59) is Decision.NEW
    assert matcher.decide(Match("a", "b", 0.75, "name")) is Decision.REVIEW
    with pytest.raises(ConfigurationError):
        Matcher.for_entity("contact", match_threshold=0.9, auto_link_threshold=0.5)


def test_review_band_holds_weaker_evidence() -> None:
    matcher = Matcher.for_entity("contact")
    a = {"id": "1", "first_name": "Dana", "last_name": "Whitfield", "city": "Boston"}
    b = {
        "id": "2",
        "first_name": "Dana",
        "last_name": "Whitfield",
        "city": "Boston",
        "company": "Initech",
    }
    with_phone = {**b, "id": "3", "phone": "+1 212 555 0100"}
    same_phone = {**a, "id": "4", "phone": "212-555-0100", "country": "US"}
    elsewhere = {"id": "5", "first_name": "Dana", "last_name": "Whitfield", "city": "Denver"}
    name_only = {"id": "6", "first_name": "Dana", "last_name": "Whitfield"}
    assert matcher.decide(matcher.compare(a, b)) is Decision.REVIEW
    assert matcher.decide(matcher.compare(with_phone, same_phone)) is Decision.LINK
    assert matcher.decide(matcher.compare(a, elsewhere)) is Decision.NEW
    assert matcher.decide(matcher.compare(name_only, a)) is Decision.NEW


def test_blocking_keys_are_sorted_strings_for_the_hub() -> None:
    matcher = Matcher.for_entity("contact")
    keys = matcher.blocking_keys(ALICE)
    assert keys == sorted(keys)
    assert "email:alicejohnson@gmail.com" in keys
    assert "dobf:19850314|a" in keys
    assert any(k.startswith("namey:") for k in keys)
    assert matcher.blocking_keys({"id": "empty"}) == []


def test_company_defaults_match_domain_and_name() -> None:
    matcher = Matcher.for_entity("company")
    a = {"id": "1", "name": "Acme, Inc.", "domain": "https://www.acme.com", "city": "Austin"}
    b = {"id": "2", "name": "ACME Incorporated", "domain": "acme.com/about", "city": "Austin"}
    c = {"id": "3", "name": "Acme Widgets", "domain": "widgets.io", "city": "Reno"}
    pairs = matcher.find_duplicates([a, b, c])
    assert [(m.left_id, m.right_id) for m in pairs] == [("1", "2")]
    assert pairs[0].rule.startswith("domain")


def test_custom_rules_as_data() -> None:
    rules = [
        Rule.from_dict(
            {"fields": "email", "comparator": "exact", "normalizer": "email", "weight": 12}
        ),
        Rule.from_dict(
            {
                "name": "surname",
                "fields": ["last_name"],
                "comparator": "jaro_winkler",
                "weight": 4,
                "threshold": 0.8,
                "penalty": 4,
                "normalizer": "name",
            }
        ),
    ]
    matcher = Matcher(rules=rules, prior=-8)
    a = {"id": "1", "email": "x@corp.com", "last_name": "Nguyen"}
    b = {"id": "2", "email": "X@corp.com", "last_name": "Nguyen"}
    c = {"id": "3", "email": "x@corp.com", "last_name": "Okafor"}
    pairs = matcher.find_duplicates([a, b, c])
    assert pairs[0].left_id == "1"
    assert pairs[0].right_id == "2"
    assert pairs[0].rule == "email+surname"
    by_pair = {(m.left_id, m.right_id): m.score for m in pairs}
    assert by_pair[("1", "2")] > by_pair.get(("1", "3"), 0.0)
    assert matcher.compare(a, c).score < matcher.compare(a, b).score


def test_custom_rule_as_callable() -> None:
    def same_account(left: Mapping[str, Any], right: Mapping[str, Any]) -> float | None:
        if not left.get("account") or not right.get("account"):
            return None
        return 20.0 if left["account"] == right["account"] else -20.0

    matcher = Matcher(
        rules=[same_account, Rule("name", ("name",), "jaro_winkler", 2.0, 0.5, 1.0)],
        blocking=[BlockingKey("account", ("account",))],
    )
    records = [
        {"id": "1", "account": "A-7", "name": "x"},
        {"id": "2", "account": "a 7", "name": "y"},  # same key after normalization
        {"id": "3", "account": "B-1", "name": "x"},
    ]
    pairs = matcher.find_duplicates(records)
    assert [(m.left_id, m.right_id) for m in pairs] == []  # 'A-7' != 'a 7' for the callable
    records[1]["account"] = "A-7"
    pairs = matcher.find_duplicates(records)
    assert [(m.left_id, m.right_id) for m in pairs] == [("1", "2")]
    assert pairs[0].rule.startswith("same_account")
    assert matcher.last_run.comparisons == 1


def test_custom_comparator_and_record_rule_object() -> None:
    def initials(a: Any, b: Any) -> float | None:
        return 1.0 if a[:1] == b[:1] else 0.0

    matcher = Matcher(
        rules=[
            Rule("initial", ("name",), initials, 3.0, 0.5, 3.0),
            RecordRule(
                "vip", lambda left, right: 8.0 if left.get("vip") and right.get("vip") else None
            ),
        ],
        prior=-5,
        blocking=[lambda record: [str(record.get("team", ""))]],
    )
    pairs = matcher.find_duplicates(
        [
            {"id": "1", "name": "ann", "team": "t", "vip": True},
            {"id": "2", "name": "amy", "team": "t", "vip": True},
            {"id": "3", "name": "bea", "team": "t"},
        ]
    )
    assert [(m.left_id, m.right_id, m.rule) for m in pairs] == [("1", "2", "vip+initial")]


def test_default_blocking_uses_rule_fields() -> None:
    matcher = Matcher(rules=[Rule("email", ("email",), "exact", 20.0, normalizer="email")])
    assert matcher.blocking_keys({"email": "A@b.com"}) == ["email:a@b.com"]


@pytest.mark.parametrize(
    "bad",
    [
        {"fields": "email", "comparator": "nope", "weight": 1},
        {"fields": "email", "comparator": "exact"},
        {"fields": "email", "comparator": "exact", "weight": "heavy"},
        {"fields": [], "comparator": "exact", "weight": 1},
        {"fields": "email", "comparator": "exact", "weight": 1, "threshold": 1.5},
        {"fields": "email", "comparator": "exact", "weight": -1},
        {"fields": "email", "comparator": "exact", "weight": 1, "normalizer": "nope"},
    ],
)
def test_invalid_rule_data_is_a_configuration_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Rule.from_dict(bad)


def test_invalid_matchers() -> None:
    with pytest.raises(ConfigurationError):
        Matcher(rules=[])
    with pytest.raises(ConfigurationError):
        BlockingKey("k")
    with pytest.raises(ConfigurationError):
        BlockingKey("k", ("a", "b"), ("exact",))
    with pytest.raises(ConfigurationError):
        BlockingKey("k", ("a",), "nope")


def test_records_need_ids_for_runs() -> None:
    matcher = Matcher.for_entity("contact")
    with pytest.raises(ValueError, match="id"):
        matcher.find_duplicates([{"first_name": "x"}])
    with pytest.raises(ValueError, match="id"):
        matcher.index([{"first_name": "x"}])


def test_oversized_blocks_are_skipped_and_counted() -> None:
    matcher = Matcher(
        rules=[Rule("city", ("city",), "exact", 20.0)],
        max_block_size=3,
    )
    records = [{"id": str(i), "city": "Paris"} for i in range(5)]
    assert matcher.find_duplicates(records) == []
    assert matcher.last_run.oversized_blocks == 1
    assert matcher.last_run.comparisons == 0
    assert len(matcher.find_duplicates(records[:3])) == 3


def test_deterministic_output() -> None:
    first = Matcher.for_entity("contact").find_duplicates(_people())
    second = Matcher.for_entity("contact").find_duplicates(list(reversed(_people())))
    assert [(m.left_id, m.right_id, m.score) for m in first] == [
        (m.left_id, m.right_id, m.score) for m in second
    ]


def test_bulk_runs_restore_the_garbage_collector_state() -> None:
    matcher = Matcher.for_entity("contact")
    assert gc.isenabled()
    matcher.find_duplicates(_people())
    assert gc.isenabled()
    gc.disable()
    try:
        matcher.link(_people(), _people())
        matcher.index(_people())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_crm_style_contacts_without_personal_data() -> None:
    matcher = Matcher.for_entity("contact")
    salesforce = {
        "id": "sf",
        "first_name": "Priya",
        "last_name": "Sharma",
        "email": "priya.sharma@initech.com",
        "company": "Initech",
        "title": "CTO",
    }
    hubspot_typo = {
        "id": "hs",
        "first_name": "Pryia",
        "last_name": "Sharma",
        "email": "Priya.Sharma@Initech.com",
        "company": "Initech Inc.",
    }
    same_name_same_company = {
        "id": "x",
        "first_name": "Priya",
        "last_name": "Sharma",
        "company": "INITECH",
        "title": "CTO",
    }
    namesake = {
        "id": "y",
        "first_name": "Priya",
        "last_name": "Sharma",
        "email": "psharma@globex.com",
        "company": "Globex",
    }
    assert matcher.decide(matcher.compare(salesforce, hubspot_typo)) is Decision.LINK
    assert matcher.decide(matcher.compare(salesforce, same_name_same_company)) is Decision.REVIEW
    assert matcher.decide(matcher.compare(salesforce, namesake)) is Decision.NEW
    found = matcher.find_duplicates([salesforce, hubspot_typo, same_name_same_company, namesake])
    assert {(m.left_id, m.right_id) for m in found} == {("hs", "sf"), ("sf", "x")}
