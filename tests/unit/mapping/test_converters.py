"""Every converter, both ways: an example table, an error table, and round-trip properties."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import phonenumbers
import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration_core.mapping import CONVERTERS, ConversionContext, ConversionError, get_converter

pytestmark = pytest.mark.unit

SAME = object()  # the write gives back the provider value the read started from
USERS = ConversionContext(lookups={"users": {"17": "ada@example.com", "18": "grace@example.com"}})
TASK_STATUS = {"values": {"NOT_STARTED": "not_started", "COMPLETED": "completed"}}
RICH = [
    {"type": "text", "text": {"content": "Hello "}, "plain_text": "Hello ", "annotations": {}},
    {"type": "text", "text": {"content": "world"}, "plain_text": "world"},
]

# (converter, options, provider value, canonical value, what a write of it sends)
EXAMPLES: list[tuple[str, dict[str, Any], Any, Any, Any]] = [
    ("date", {}, "2024-02-29", "2024-02-29", SAME),
    ("date", {"format": "%m/%d/%Y"}, "02/29/2024", "2024-02-29", SAME),
    (
        "datetime",
        {},
        "2024-03-10T09:30:00+01:00",
        "2024-03-10T08:30:00.000000Z",
        "2024-03-10T08:30:00.000Z",
    ),
    (
        "datetime",
        {"timezone": "America/New_York", "format": "%Y-%m-%d %H:%M"},
        "2024-07-01 09:00",
        "2024-07-01T13:00:00.000000Z",
        SAME,
    ),
    ("epoch_ms", {}, 1572480000000, "2019-10-31T00:00:00.000000Z", SAME),
    ("epoch_ms", {"as_string": True}, "1572480000123", "2019-10-31T00:00:00.123000Z", SAME),
    ("epoch_seconds", {}, 1700000000.5, "2023-11-14T22:13:20.500000Z", SAME),
    ("epoch_seconds", {"as_string": True}, "1700000000", "2023-11-14T22:13:20.000000Z", SAME),
    ("epoch_ms_date", {"as_string": True}, "1572480000000", "2019-10-31", SAME),
    (
        "date_from_datetime",
        {"timezone": "Europe/Berlin"},
        "2024-05-01T22:30:00Z",
        "2024-05-02",
        "2024-05-01T22:00:00.000000Z",
    ),
    ("integer", {}, "17", 17, 17),
    ("integer", {"as_string": True}, 17.0, 17, "17"),
    ("decimal", {}, "12.50", "12.5", "12.5"),
    ("decimal", {"places": 2, "as_number": True}, 3.14159, "3.14", 3.14),
    ("money", {"currency": "eur"}, "1250.5", "1250.50 EUR", "1250.50"),
    ("money", {"currency": "JPY", "places": 0, "as_number": True}, 900, "900 JPY", 900.0),
    ("money_with_currency", {}, (1250, "usd"), "1250.00 USD", ("1250.00", "USD")),
    ("phone_e164", {"region": "GB"}, "020 7946 0018", "+442079460018", "+442079460018"),
    ("phone_e164", {"write_as": "international"}, "+49 30 901820", "+4930901820", SAME),
    ("phone_e164", {}, "+1 650-253-0000 ext. 12", "+16502530000;ext=12", "+16502530000;ext=12"),
    (
        "email",
        {},
        " Ada.Lovelace@Example.COM ",
        "Ada.Lovelace@example.com",
        "Ada.Lovelace@example.com",
    ),
    ("name_split", {}, "Ada King Lovelace", ("Ada King", "Lovelace"), SAME),
    ("name_split", {"order": "last_first"}, "Lovelace, Ada", ("Ada", "Lovelace"), SAME),
    ("name_join", {}, ("Ada", "Lovelace"), "Ada Lovelace", SAME),
    ("name_join", {}, (None, "Hopper"), "Hopper", SAME),
    ("country_code", {}, "Germany", "DE", "DE"),
    ("country_code", {"write_as": "alpha_3"}, "uk", "GB", "GBR"),
    ("country_code", {"aliases": {"Deutschland": "DE"}}, "deutschland", "DE", "DE"),
    ("country_name", {}, "DE", "Germany", SAME),
    ("country_name", {"write_as": "name"}, "276", "Germany", "Germany"),
    ("region_code", {"country": "US"}, "California", "US-CA", "US-CA"),
    ("region_code", {"country": "US", "write_as": "name"}, "ca", "US-CA", "California"),
    (
        "address_lines",
        {"separator": ", "},
        "1 Main St, Springfield, 62701",
        ("1 Main St", "Springfield", "62701"),
        SAME,
    ),
    ("address_lines", {}, "1 Main St\n\nSpringfield", ("1 Main St", None, "Springfield"), SAME),
    ("trim", {"collapse": True}, "  Ada   Lovelace ", "Ada Lovelace", "Ada Lovelace"),
    ("trim", {}, "   ", None, None),
    ("lowercase", {}, "ADA@Example.com", "ada@example.com", "ada@example.com"),
    ("uppercase", {}, "de", "DE", "DE"),
    ("titlecase", {}, "ADA o'neil", "Ada O'Neil", "Ada O'Neil"),
    ("truncate", {"max_length": 5}, "abcdefg", "abcde", "abcde"),
    (
        "html_to_text",
        {},
        "<p>Call <b>Ada</b> &amp; Grace</p><script>x()</script><p>Tomorrow</p>",
        "Call Ada & Grace\nTomorrow",
        "<p>Call Ada &amp; Grace</p><p>Tomorrow</p>",
    ),
    (
        "rich_text",
        {},
        RICH,
        "Hello world",
        [{"type": "text", "text": {"content": "Hello world"}}],
    ),
    ("split", {}, "chocolate; strawberry;", ["chocolate", "strawberry"], "chocolate;strawberry"),
    ("split", {"separator": ","}, "a,b", ["a", "b"], SAME),
    ("join", {}, ["a", "b"], "a;b", SAME),
    ("first", {}, ["a@x.io", "b@x.io"], "a@x.io", ["a@x.io"]),
    ("url", {}, "Acme.COM/About", "https://acme.com/About", "https://acme.com/About"),
    (
        "url",
        {},
        "http://EXAMPLE.org:8080/x?q=1",
        "http://example.org:8080/x?q=1",
        "http://example.org:8080/x?q=1",
    ),
    ("domain", {}, "https://www.Acme.com/about", "acme.com", "https://acme.com"),
    ("domain", {}, "ops@acme.com", "acme.com", "https://acme.com"),
    ("null_if", {}, "N/A", None, None),
    ("null_if", {}, "Ada", "Ada", SAME),
    ("text", {}, 17, "17", "17"),
    ("boolean", {}, "Yes", True, True),
    ("boolean", {"write_true": "true", "write_false": "false"}, "false", False, SAME),
    ("enum", TASK_STATUS, "NOT_STARTED", "not_started", SAME),
    ("enum", TASK_STATUS, "completed", "completed", "COMPLETED"),
    ("enum", {**TASK_STATUS, "default": "not_started"}, "WAITING", "not_started", "NOT_STARTED"),
    (
        "enum",
        {"values": {"Hot": "high", "Warm": "high"}, "write": {"high": "Hot"}},
        "Warm",
        "high",
        "Hot",
    ),
    (
        "multi_picklist",
        {"values": {"chocolate": "choc", "strawberry": "straw"}},
        "chocolate;strawberry;chocolate",
        ["choc", "straw"],
        "chocolate;strawberry",
    ),
    ("default", {"value": "unknown"}, None, "unknown", "unknown"),
    ("default", {"value": "unknown"}, "known", "known", SAME),
    ("constant", {"value": "hubspot"}, "anything", "hubspot", "hubspot"),
    ("constant", {"value": "hubspot", "write": "HUBSPOT"}, None, "hubspot", "HUBSPOT"),
    ("lookup", {"table": "users"}, "17", "ada@example.com", SAME),
    # Notion property values (developers.notion.com/reference/page-property-values); more
    # on the reference's own examples in tests/unit/adapters/test_notion.py.
    (
        "notion_title",
        {},
        {"id": "title", "type": "title", "title": RICH},
        "Hello world",
        {"title": [{"type": "text", "text": {"content": "Hello world"}}]},
    ),
    (
        "notion_rich_text",
        {},
        {"id": "HbZT", "type": "rich_text", "rich_text": []},
        None,
        {"rich_text": []},
    ),
    (
        "notion_select",
        {"property_type": "status"},
        {"type": "status", "status": {"id": "1", "name": "Done", "color": "green"}},
        "Done",
        {"status": {"name": "Done"}},
    ),
    ("notion_select", {}, {"type": "select", "select": None}, None, {"select": None}),
    (
        "notion_multi_select",
        {},
        {"type": "multi_select", "multi_select": [{"id": "a", "name": "x", "color": "red"}]},
        ["x"],
        {"multi_select": [{"name": "x"}]},
    ),
    (
        "notion_date",
        {},
        {"type": "date", "date": {"start": "2024-05-01T09:00:00.000+02:00", "end": None}},
        "2024-05-01",
        {"date": {"start": "2024-05-01"}},
    ),
    (
        "notion_date",
        {"time": True},
        {"type": "date", "date": {"start": "2024-05-01T09:00:00.000+02:00", "end": None}},
        "2024-05-01T09:00:00+02:00",
        {"date": {"start": "2024-05-01T09:00:00+02:00"}},
    ),
    (
        "notion_people",
        {},
        {"type": "people", "people": [{"object": "user", "id": "u1"}]},
        ["u1"],
        {"people": [{"object": "user", "id": "u1"}]},
    ),
    (
        "notion_relation",
        {},
        {"type": "relation", "relation": [{"id": "p1"}], "has_more": False},
        ["p1"],
        {"relation": [{"id": "p1"}]},
    ),
    ("notion_email", {}, {"type": "email", "email": "a@x.io"}, "a@x.io", {"email": "a@x.io"}),
    (
        "notion_phone",
        {},
        {"type": "phone_number", "phone_number": "415-202-4776"},
        "415-202-4776",
        {"phone_number": "415-202-4776"},
    ),
    (
        "notion_checkbox",
        {"checked": "completed", "unchecked": "not_started"},
        {"type": "checkbox", "checkbox": True},
        "completed",
        {"checkbox": True},
    ),
    ("notion_number", {}, {"type": "number", "number": 2.5}, "2.5", {"number": 2.5}),
    ("notion_number", {}, {"type": "number", "number": 42}, 42, {"number": 42}),
]


def _run(name: str, options: dict[str, Any], value: Any, *, write: bool = False) -> Any:
    converter = get_converter(name)
    parsed = converter.parse_options(options)
    if value is None and not converter.handles_none:
        return None  # as mappings run them: None passes untouched
    convert = converter.to_provider if write else converter.to_canonical
    assert convert is not None
    return convert(value, parsed, USERS)


@pytest.mark.parametrize(("name", "options", "provider", "canonical", "written"), EXAMPLES)
def test_reads_and_writes(
    name: str, options: dict[str, Any], provider: Any, canonical: Any, written: Any
) -> None:
    assert _run(name, options, provider) == canonical
    expected = provider if written is SAME else written
    assert _run(name, options, canonical, write=True) == expected


def test_there_are_at_least_thirty_converters_each_documented_and_exemplified() -> None:
    assert len(CONVERTERS) >= 30
    exemplified = {example[0] for example in EXAMPLES}
    assert set(CONVERTERS) - exemplified == set()
    for converter in CONVERTERS.values():
        assert len(converter.doc) > 30, converter.name
        assert converter.to_provider is not None, f"{converter.name} has no write direction"


# (converter, options, value, direction, what the error says)
ERRORS: list[tuple[str, dict[str, Any], Any, str, str]] = [
    ("date", {}, "2024-02-30", "read", "not a date"),
    ("date", {}, "yesterday", "write", "not an ISO date"),
    ("datetime", {}, "2024-01-01T10:00:00", "read", "has no time zone"),
    ("datetime", {}, "2024-01-01T10:00:00", "write", "without a time zone"),
    ("epoch_ms", {}, "soon", "read", "not epoch milliseconds"),
    ("epoch_ms", {}, "1e400", "read", "out of range"),
    ("epoch_ms", {}, "Infinity", "read", "not epoch milliseconds (not finite)"),
    ("epoch_ms", {}, 10**20, "read", "out of range"),
    ("epoch_ms_date", {}, "1572480000001", "read", "not midnight UTC"),
    ("integer", {}, "1.5", "read", "not a whole number"),
    ("integer", {}, True, "read", "bool"),
    ("decimal", {}, "NaN", "read", "not a number (not finite)"),
    ("decimal", {}, "12,5", "read", "not a number"),
    ("decimal", {"places": 2}, "1e400", "read", "a number out of range"),
    ("money", {"currency": "EUR"}, "-1e-39", "read", "a number out of range"),
    ("epoch_ms_date", {}, "9e99", "read", "epoch milliseconds out of range"),
    ("money", {"currency": "EUR"}, "10.00 USD", "write", "USD cannot be written"),
    ("money", {"currency": "EUR"}, "10.00", "write", "'<amount> <currency>'"),
    ("money_with_currency", {}, ("10", "XYZ"), "read", "unknown ISO 4217 currency"),
    ("phone_e164", {}, "020 7946 0018", "read", "not a phone number"),
    ("phone_e164", {"region": "GB"}, "12", "read", "not a possible phone number"),
    ("email", {}, "ada@", "read", "not an email address"),
    ("email", {}, ["ada@example.com"], "read", "expected text, got list"),
    ("name_join", {}, ("Ada",), "read", "expected 2 values"),
    ("country_code", {}, "Atlantis", "read", "unknown country 'Atlantis'"),
    ("region_code", {"country": "US"}, "Nowhere", "read", "unknown region 'Nowhere' in US"),
    ("address_lines", {"separator": ", "}, ("Flat 2, 1 Main St", "Leeds"), "write", "separator"),
    ("rich_text", {}, ["plain"], "read", "a rich text run must be an object"),
    ("rich_text", {}, "x" * 200_001, "write", "exceeds Notion's 100 runs of 2000"),
    ("split", {}, ["a;b", "c"], "write", "contains the separator"),
    ("first", {}, "a@x.io", "read", "expected a list"),
    ("url", {}, "ftp://example.org", "read", "not an http(s) URL"),
    ("url", {}, "http://example.org:99999", "read", "not a URL"),
    ("boolean", {}, "maybe", "read", "not a yes/no value"),
    ("boolean", {}, "true", "write", "expected true or false"),
    (
        "enum",
        TASK_STATUS,
        "WAITING",
        "read",
        "unknown value 'WAITING' (known: COMPLETED, NOT_STARTED)",
    ),
    ("enum", TASK_STATUS, "waiting", "write", "no provider value for 'waiting'"),
    ("multi_picklist", {"values": {"a": "A"}}, "a;b", "read", "unknown value 'b'"),
    ("lookup", {"table": "users"}, "99", "read", "'99' is not in lookup table 'users'"),
    ("lookup", {"table": "users"}, "nobody@example.com", "write", "not in lookup table"),
    ("lookup", {"table": "teams"}, "1", "read", "lookup table 'teams' was not provided"),
    ("text", {}, {"a": 1}, "read", "expected text, got dict"),
]


@pytest.mark.parametrize(("name", "options", "value", "direction", "says"), ERRORS)
def test_a_value_that_does_not_convert_is_a_clear_error(
    name: str, options: dict[str, Any], value: Any, direction: str, says: str
) -> None:
    with pytest.raises(ConversionError, match=re.escape(says)):
        _run(name, options, value, write=direction == "write")


@pytest.mark.parametrize(
    ("name", "options", "says"),
    [
        ("datetime", {"timezone": "Mars/Olympus"}, "unknown time zone"),
        ("money", {"currency": "XYZ"}, "unknown ISO 4217 currency"),
        ("money", {}, "currency"),
        ("enum", {"values": {"Hot": "high", "Warm": "high"}}, "give `write`"),
        ("enum", {"values": {}}, "at least 1"),
        ("trim", {"colapse": True}, "colapse"),
        ("truncate", {"max_length": 0}, "greater than 0"),
    ],
)
def test_bad_options_are_refused_when_loaded(name: str, options: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        get_converter(name).parse_options(options)


def test_an_unknown_converter_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown converter 'emial'.*email"):
        get_converter("emial")


def test_lookup_default_covers_keys_the_table_lacks() -> None:
    assert _run("lookup", {"table": "users", "default": "x@example.com"}, "99") == "x@example.com"


# Round trips: what a read gives, a write turns back into what was read.


# Every millisecond from 0001-01-01 to 9999-12-31 (what a datetime can hold).
@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
def test_epoch_ms_round_trip(millis: int) -> None:
    assert _run("epoch_ms", {}, _run("epoch_ms", {}, millis), write=True) == millis


@given(st.integers(min_value=-62_135_596_799, max_value=253_402_300_798), st.integers(0, 999_999))
def test_epoch_seconds_round_trip_keeps_fractions(seconds: int, micros: int) -> None:
    text = f"{seconds}.{micros:06d}" if micros else str(seconds)
    canonical = _run("epoch_seconds", {"as_string": True}, text)
    assert Decimal(_run("epoch_seconds", {"as_string": True}, canonical, write=True)) == Decimal(
        text
    )


@given(st.dates(min_value=date(1900, 1, 1)), st.sampled_from(["%d/%m/%Y", "%Y%m%d", None]))
def test_date_round_trip(day: date, form: str | None) -> None:
    options = {"format": form}
    provider = _run("date", options, day.isoformat(), write=True)
    assert _run("date", options, provider) == day.isoformat()


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(9000, 1, 1)))
def test_epoch_ms_date_round_trip(day: date) -> None:
    provider = _run("epoch_ms_date", {}, day.isoformat(), write=True)
    assert _run("epoch_ms_date", {}, provider) == day.isoformat()


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"]),
)
def test_datetime_round_trip_in_any_zone(moment: datetime, zone: str) -> None:
    canonical = _run("datetime", {}, moment.isoformat())
    provider = _run("datetime", {"timezone": zone}, canonical, write=True)
    back = _run("datetime", {"timezone": zone}, provider)
    assert datetime.fromisoformat(back) == moment.replace(
        microsecond=moment.microsecond // 1000 * 1000
    )


@given(st.booleans(), st.sampled_from([{}, {"write_true": "Y", "write_false": "N"}]))
def test_boolean_round_trip(value: bool, options: dict[str, Any]) -> None:
    assert _run("boolean", options, _run("boolean", options, value, write=True)) is value


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12
    )
)
def test_decimal_round_trip_is_exact(number: Decimal) -> None:
    canonical = _run("decimal", {}, str(number))
    assert Decimal(canonical) == number
    assert _run("decimal", {}, _run("decimal", {}, canonical, write=True)) == canonical


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9
    )
)
def test_money_round_trip(amount: Decimal) -> None:
    options = {"currency": "EUR"}
    canonical = _run("money", options, str(amount))
    assert _run("money", options, _run("money", options, canonical, write=True)) == canonical
    assert Decimal(canonical.split()[0]) == amount


_ITEM = (
    st.text(st.characters(blacklist_characters=";", blacklist_categories=("Cs",)), min_size=1)
    .map(str.strip)
    .filter(bool)
)


@given(st.lists(_ITEM, max_size=6))
def test_split_join_round_trip(items: list[str]) -> None:
    assert _run("split", {}, _run("split", {}, items, write=True)) == items
    assert _run("join", {}, _run("join", {}, items), write=True) == items


_WORD = st.text(st.characters(whitelist_categories=("Lu", "Ll")), min_size=1, max_size=12)


@given(st.lists(_WORD, min_size=1, max_size=3), _WORD)
def test_name_split_join_round_trip(first: list[str], last: str) -> None:
    parts = (" ".join(first), last)
    assert _run("name_split", {}, _run("name_split", {}, parts, write=True)) == parts
    assert _run("name_join", {}, _run("name_join", {}, parts), write=True) == parts


_LINE = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40)
    .map(lambda line: " ".join(line.split()))
    .filter(bool)
)


@given(st.lists(_LINE, min_size=1, max_size=4))
def test_html_round_trip_keeps_the_text(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert _run("html_to_text", {}, _run("html_to_text", {}, text, write=True)) == text


@given(st.sampled_from(sorted(country.alpha_2 for country in pycountry.countries)))
def test_every_country_round_trips_through_its_name_and_alpha_3(code: str) -> None:
    for form in ("name", "alpha_3"):
        provider = _run("country_code", {"write_as": form}, code, write=True)
        assert _run("country_code", {}, provider) == code


@given(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
def test_phone_numbers_round_trip_through_every_format(region: str) -> None:
    example = phonenumbers.example_number(region)
    if example is None:
        return
    canonical = _run("phone_e164", {}, phonenumbers.format_number(example, 1))
    for form in ("e164", "international"):
        provider = _run("phone_e164", {"write_as": form}, canonical, write=True)
        assert _run("phone_e164", {}, provider) == canonical


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_CONFIGURED = {name: options for name, options, *_ in reversed(EXAMPLES)}


@pytest.mark.parametrize("name", sorted(CONVERTERS))
@given(value=_JSON | st.tuples(_JSON, _JSON))
def test_any_input_converts_or_is_a_conversion_error_never_a_crash(name: str, value: Any) -> None:
    for write in (False, True):
        with contextlib.suppress(ConversionError):
            _run(name, _CONFIGURED[name], value, write=write)


def test_long_rich_text_is_written_in_runs_notion_accepts_and_reads_back_whole() -> None:
    """Notion refuses a run of more than 2,000 characters (UTF-16 code units, as JavaScript
    counts), https://developers.notion.com/reference/request-limits#size-limits: a long
    GitHub issue body is written as several runs, never splitting a character."""
    converter = get_converter("rich_text")
    assert converter.to_provider is not None
    text = "a" * 1999 + "\N{ROCKET}" + "b" * 3000
    runs = converter.to_provider(text, converter.parse_options({}), ConversionContext())
    contents = [run["text"]["content"] for run in runs]
    assert [len(c.encode("utf-16-le")) // 2 for c in contents] == [1999, 2000, 1002]
    assert "".join(contents) == text
    read = [{"type": "text", "plain_text": c, "text": {"content": c}} for c in contents]
    assert converter.to_canonical(read, converter.parse_options({}), ConversionContext()) == text
