"""Dotted paths: reading what is there, MISSING for what is not, and writing that builds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration_core.mapping import MISSING, parse_path

pytestmark = pytest.mark.unit

RECORD: dict[str, Any] = {
    "id": "512",
    "properties": {"email": "ada@example.com", "empty": None},
    "emails": [
        {"type": "home", "value": "ada@home.example"},
        {"type": "work", "value": "ada@work.example", "primary": True},
    ],
    "sites": [{"domain": "example.com", "visits": 3}],
    "tags": ["a", "b"],
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("id", "512"),
        ("properties.email", "ada@example.com"),
        ("properties.empty", None),
        ("emails[type=work].value", "ada@work.example"),
        ("emails[primary=true].value", "ada@work.example"),
        ("emails[0].type", "home"),
        ("emails[-1].type", "work"),
        ("sites[domain=example.com].visits", 3),
        ("tags[1]", "b"),
        ("properties.missing", MISSING),
        ("emails[type=other].value", MISSING),
        ("emails[5].value", MISSING),
        ("id.deeper", MISSING),
        ("tags[type=x]", MISSING),
        ("properties[0]", MISSING),
    ],
)
def test_get(path: str, value: Any) -> None:
    assert parse_path(path).get(RECORD) == value


def test_set_builds_objects_and_the_filtered_list_element() -> None:
    record: dict[str, Any] = {}
    parse_path("properties.firstname").set(record, "Ada")
    parse_path("emails[type=work].value").set(record, "ada@work.example")
    parse_path("emails[type=home].value").set(record, "ada@home.example")
    parse_path("emails[type=work].primary").set(record, True)
    parse_path("phones[1].number").set(record, "+44")
    assert record == {
        "properties": {"firstname": "Ada"},
        "emails": [
            {"type": "work", "value": "ada@work.example", "primary": True},
            {"type": "home", "value": "ada@home.example"},
        ],
        "phones": [{}, {"number": "+44"}],
    }


def test_set_on_an_existing_element_changes_only_it() -> None:
    record = {"emails": [{"type": "home", "value": "h"}, {"type": "work", "value": "w"}]}
    parse_path("emails[type=work].value").set(record, "new")
    assert record["emails"] == [{"type": "home", "value": "h"}, {"type": "work", "value": "new"}]


@pytest.mark.parametrize("text", ["", " a", "a..b", "a[", "a[x]", "a[0]]", "a[=b]"])
def test_bad_paths_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="path"):
        parse_path(text)


def test_writing_through_a_list_as_if_it_were_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="not inside an object"):
        parse_path("a.b.c").set({"a": {"b": [1]}}, 1)


@pytest.mark.parametrize("text", ["emails[type=work]", "emails[type=work].type"])
def test_a_path_that_would_rewrite_its_own_filter_is_read_only(text: str) -> None:
    path = parse_path(text)
    assert path.get(RECORD) is not MISSING
    with pytest.raises(ValueError, match="would rewrite its own filter"):
        path.set({}, "home")


_KEY = st.text(st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=5)
_SEGMENT = st.one_of(
    _KEY,
    st.tuples(_KEY, st.integers(0, 3)).map(lambda p: f"{p[0]}[{p[1]}]"),
    st.tuples(_KEY, _KEY, _KEY).map(lambda p: f"{p[0]}[{p[1]}={p[2]}]"),
)


@given(st.lists(_SEGMENT, min_size=1, max_size=4).map(".".join), st.integers())
def test_what_is_set_is_what_is_read(text: str, value: int) -> None:
    path = parse_path(text)
    record: dict[str, Any] = {}
    try:
        path.set(record, value)
    except ValueError:
        return  # a path that runs into itself ("a.a[0]"): refused, never half-written wrongly
    assert path.get(record) == value
