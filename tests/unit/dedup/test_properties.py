"""Properties that must hold for any input, checked with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from integration_core.dedup import COMPARATORS, Matcher
from integration_core.dedup.normalize import (
    normalize_domain,
    normalize_email,
    normalize_name,
    normalize_street,
    normalize_text,
)

pytestmark = pytest.mark.unit

words = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=10)


@given(words)
@example("🄐")  # compatibility-folds to "A" after lower-casing: once "A", then "a"
@example("ǅ")  # a title-case digraph
@example("ﬃ")  # a ligature that folds to three letters
@example("@/")  # a host was once "@", whose own host is nothing
def test_normalizers_are_idempotent(value: str) -> None:
    for normalize in (normalize_text, normalize_name, normalize_street, normalize_domain):
        once = normalize(value)
        assert once is None or normalize(once) == once


@given(st.emails())
def test_email_normalization_is_idempotent_and_lower_case(value: str) -> None:
    once = normalize_email(value)
    assert once is not None
    assert normalize_email(once) == once
    assert once == once.casefold()


SYMMETRIC = [n for n in COMPARATORS if n != "person_name"]


@given(st.sampled_from(SYMMETRIC), names, names)
def test_string_comparators_are_symmetric_and_bounded(name: str, a: str, b: str) -> None:
    forward = COMPARATORS[name](a, b)
    assert forward == pytest.approx(COMPARATORS[name](b, a))
    assert forward is not None
    assert 0.0 <= forward <= 1.0
    assert COMPARATORS[name](a, a) == 1.0


@given(st.sampled_from(["digits", "date"]), digit_strings, digit_strings)
def test_code_comparators_are_bounded(name: str, a: str, b: str) -> None:
    score = COMPARATORS[name](a, b)
    assert score is not None
    assert 0.0 <= score <= 1.0


@settings(max_examples=50, deadline=None)
@given(
    st.fixed_dictionaries(
        {"first_name": names, "last_name": names, "city": names, "birth_date": st.dates()}
    ),
    st.fixed_dictionaries(
        {"first_name": names, "last_name": names, "city": names, "birth_date": st.dates()}
    ),
)
def test_pair_scores_are_symmetric_and_bounded(
    left: dict[str, object], right: dict[str, object]
) -> None:
    matcher = Matcher.for_entity("contact")
    a = {**left, "id": "a", "birth_date": str(left["birth_date"])}
    b = {**right, "id": "b", "birth_date": str(right["birth_date"])}
    forward = matcher.compare(a, b).score
    assert forward == pytest.approx(matcher.compare(b, a).score)
    assert 0.0 <= forward <= 1.0
    assert matcher.compare(a, dict(a, id="c")).score >= matcher.auto_link_threshold
