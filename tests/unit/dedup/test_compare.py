from __future__ import annotations

import pytest

from integration_core.dedup import COMPARATORS
from integration_core.dedup.compare import (
    date,
    digits,
    exact,
    jaro_winkler,
    levenshtein,
    metaphone,
    name_part,
    nysiis,
    person_name,
    phonetic,
    soundex,
    token_set,
    token_sort,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(COMPARATORS))
def test_every_comparator_treats_missing_as_unknown(name: str) -> None:
    assert COMPARATORS[name](None, "x") is None
    assert COMPARATORS[name]("x", None) is None


def test_exact() -> None:
    assert exact("a", "a") == 1.0
    assert exact("a", "b") == 0.0


def test_jaro_winkler_rewards_shared_prefix() -> None:
    assert jaro_winkler("martha", "martha") == 1.0
    assert jaro_winkler("martha", "marhta") == pytest.approx(0.961, abs=0.001)
    assert jaro_winkler("martha", "zebra") < 0.6


def test_levenshtein() -> None:
    assert levenshtein("kitten", "sitting") == pytest.approx(1 - 3 / 7)


def test_token_ratios() -> None:
    assert token_sort("street main 12", "12 main street") == 1.0
    assert token_set("acme", "acme widgets") == 1.0
    assert token_sort("acme", "acme widgets") < 1.0
    assert token_set("acme", "globex") < 0.5


def test_phonetic_codes() -> None:
    assert soundex("robert", "rupert") == 1.0
    assert metaphone("smith", "smyth") == 1.0
    assert nysiis("macdonald", "mcdonald") == 1.0
    assert soundex("smith", "jones") == 0.0
    assert phonetic("smith", "smyth") == 1.0
    assert phonetic("smith", "jones") == 0.0


def test_name_part_lifts_nicknames_phonetics_and_initials() -> None:
    assert name_part("bob", "robert") == 0.95
    assert name_part("smyth", "smith") >= 0.9  # type: ignore[operator]
    assert name_part("j", "john") >= 0.75  # type: ignore[operator]
    assert name_part("alice", "zoe") < 0.6  # type: ignore[operator]


def test_person_name_handles_swapped_parts() -> None:
    direct = person_name(("john", "smith"), ("john", "smith"))
    swapped = person_name(("smith", "john"), ("john", "smith"))
    assert direct == 1.0
    assert swapped is not None
    assert swapped > 0.95
    assert person_name(("john", "smith"), ("mary", "jones")) < 0.7  # type: ignore[operator]


def test_person_name_with_a_missing_part_is_weaker_evidence() -> None:
    one_part = person_name((None, "smith"), ("john", "smith"))
    assert one_part is not None
    assert 0.8 <= one_part < 1.0
    assert person_name((None, None), ("john", "smith")) is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("4033021", "4033021", 1.0),
        ("4033021", "4030321", 0.9),  # adjacent swap
        ("4033021", "4033027", 0.8),  # one wrong
        ("4033021", "403021", 0.7),  # one missing
        ("4033021", "9999999", 0.0),
    ],
)
def test_digits(a: str, b: str, expected: float) -> None:
    assert digits(a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("19960112", "19960112", 1.0),
        ("19960112", "19961201", 0.9),  # day and month swapped
        ("19960112", "19690112", 0.9),  # digit swap in the year
        ("19960112", "19960113", 0.8),  # one digit wrong
        ("19960112", "19960128", 0.3),  # same year and month
        ("19960112", "19400305", 0.0),
    ],
)
def test_date_typos(a: str, b: str, expected: float) -> None:
    assert date(a, b) == expected
