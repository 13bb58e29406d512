"""Notion page property values <-> canonical values, one converter per property type.

A Notion database row keeps each column as a typed property value object
(`{"id": "M%3BBw", "type": "date", "date": {"start": "2023-02-23", ...}}`); an update
sends `{"date": {"start": "2023-02-23"}}` for the same column. Each converter reads the
first shape and writes the second, so a user maps any column of any database with a
mapping such as `{"source": "Due date", "canonical": "due_date", "convert": "notion_date"}`,
and chains generic converters after it (`notion_select` then `enum` for a status,
`notion_people` then `first` then `lookup` for an assignee's email).

Every converter here handles None: reading an empty property gives None, and writing None
clears the column with the value Notion documents for it (`{"select": null}`,
`{"multi_select": []}`, `{"title": []}`), since a bare null is not a property value.
https://developers.notion.com/reference/page-property-values
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import JsonValue

from integration_core.mapping.converters._private import (
    Options,
    expect_decimal,
    expect_list,
    expect_text,
)
from integration_core.mapping.converters.registry import (
    ConversionContext,
    NoOptions,
    get_converter,
    register_converter,
)
from integration_core.mapping.errors import ConversionError

__all__: list[str] = []


def _inner(prop: Any, *types: str) -> Any:
    """The typed value inside a property value object, checking its `type`."""
    if prop is None:
        return None
    if not isinstance(prop, dict):
        raise ConversionError(f"expected a Notion property value, got {type(prop).__name__}")
    kind = prop.get("type")
    if kind not in types:
        raise ConversionError(f"a Notion {kind} property, not {' or '.join(types)}")
    return prop.get(str(kind))


def _text_of(prop: Any, kind: str) -> str | None:
    runs = _inner(prop, kind)
    if runs is None:
        return None
    # The generic rich text converter (text.py): plain text <-> a rich text array.
    text: str | None = get_converter("rich_text").to_canonical(
        runs, NoOptions(), ConversionContext()
    )
    return text


def _runs(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    write = get_converter("rich_text").to_provider
    assert write is not None  # rich_text converts both ways
    runs: list[dict[str, Any]] = write(value, NoOptions(), ConversionContext())
    return runs


@register_converter(
    "notion_title",
    options=NoOptions,
    to_provider=lambda value, _o, _c: {"title": _runs(value)},
    handles_none=True,
)
def _title(value: Any, options: NoOptions, _: ConversionContext) -> str | None:
    """A `title` property (the row's name) <-> plain text; annotations are dropped."""
    return _text_of(value, "title")


@register_converter(
    "notion_rich_text",
    options=NoOptions,
    to_provider=lambda value, _o, _c: {"rich_text": _runs(value)},
    handles_none=True,
)
def _rich_text(value: Any, options: NoOptions, _: ConversionContext) -> str | None:
    """A `rich_text` property <-> plain text; writes send one unannotated run."""
    return _text_of(value, "rich_text")


class SelectOptions(Options):
    """`property_type`: what writes send, `select` or Notion's `status` (reads take both)."""

    property_type: Literal["select", "status"] = "select"


def _select_to_provider(value: Any, options: SelectOptions, _: ConversionContext) -> Any:
    name = None if value is None else expect_text(value)
    return {options.property_type: None if name is None else {"name": name}}


@register_converter(
    "notion_select", options=SelectOptions, to_provider=_select_to_provider, handles_none=True
)
def _select(value: Any, options: SelectOptions, _: ConversionContext) -> str | None:
    """A `select` (or `status`) property <-> the chosen option's name; chain `enum` to map
    names onto canonical values. Writing a name Notion does not know adds the option
    (select) or is refused by Notion (status)."""
    chosen = _inner(value, "select", "status")
    if chosen is None:
        return None
    if not isinstance(chosen, dict):
        raise ConversionError("a select value must be an object")
    return expect_text(chosen.get("name"))


def _names(items: Any, key: str) -> list[str]:
    out = []
    for item in expect_list(items):
        if not isinstance(item, dict):
            raise ConversionError(f"expected objects with {key!r}, got {type(item).__name__}")
        out.append(expect_text(item.get(key)))
    return out


@register_converter(
    "notion_multi_select",
    options=NoOptions,
    to_provider=lambda value, _o, _c: {
        "multi_select": [{"name": expect_text(v)} for v in expect_list(value or [])]
    },
    handles_none=True,
)
def _multi_select(value: Any, options: NoOptions, _: ConversionContext) -> list[str] | None:
    """A `multi_select` property <-> the option names, in Notion's order."""
    chosen = _inner(value, "multi_select")
    return None if chosen is None else _names(chosen, "name")


class DateOptions(Options):
    """`time`: keep the start's time and offset when it has them (for datetimes); by
    default the calendar date Notion shows is kept (for due dates, birthdays)."""

    time: bool = False


def _date_to_provider(value: Any, options: DateOptions, _: ConversionContext) -> Any:
    if value is None:
        return {"date": None}
    return {"date": {"start": expect_text(value)}}


@register_converter(
    "notion_date", options=DateOptions, to_provider=_date_to_provider, handles_none=True
)
def _date(value: Any, options: DateOptions, _: ConversionContext) -> str | None:
    """A `date` property <-> its start ("2023-02-23", or with `time` an ISO datetime);
    an end date, if any, is not synced."""
    inner = _inner(value, "date")
    if inner is None:
        return None
    start = expect_text(inner.get("start") if isinstance(inner, dict) else None)
    try:
        if not options.time or len(start) == 10:
            return date.fromisoformat(start[:10]).isoformat()
        return datetime.fromisoformat(start).isoformat()
    except ValueError as err:
        raise ConversionError(f"not an ISO date: {start!r}") from err


def _ids(value: Any) -> list[str]:
    return [expect_text(v) for v in expect_list(value or [])]


@register_converter(
    "notion_people",
    options=NoOptions,
    to_provider=lambda value, _o, _c: {
        "people": [{"object": "user", "id": i} for i in _ids(value)]
    },
    handles_none=True,
)
def _people(value: Any, options: NoOptions, _: ConversionContext) -> list[str] | None:
    """A `people` property <-> the users' ids; chain `first` and `lookup` (a `users`
    table of id -> email) for an assignee."""
    people = _inner(value, "people")
    return None if people is None else _names(people, "id")


@register_converter(
    "notion_relation",
    options=NoOptions,
    to_provider=lambda value, _o, _c: {"relation": [{"id": i} for i in _ids(value)]},
    handles_none=True,
)
def _relation(value: Any, options: NoOptions, _: ConversionContext) -> list[str] | None:
    """A `relation` property <-> the related pages' ids (the first 25, as a page read
    returns them); chain `first` for a single related record."""
    related = _inner(value, "relation")
    return None if related is None else _names(related, "id")


def _scalar(kind: str) -> Any:
    def to_provider(value: Any, _options: NoOptions, _ctx: ConversionContext) -> Any:
        return {kind: None if value is None else expect_text(value)}

    return to_provider


@register_converter(
    "notion_email", options=NoOptions, to_provider=_scalar("email"), handles_none=True
)
def _email(value: Any, options: NoOptions, _: ConversionContext) -> str | None:
    """An `email` property <-> its text; chain `email` to check and normalise it."""
    inner = _inner(value, "email")
    return None if inner is None else expect_text(inner)


@register_converter(
    "notion_phone", options=NoOptions, to_provider=_scalar("phone_number"), handles_none=True
)
def _phone(value: Any, options: NoOptions, _: ConversionContext) -> str | None:
    """A `phone_number` property <-> its text as typed; chain `phone_e164` to normalise."""
    inner = _inner(value, "phone_number")
    return None if inner is None else expect_text(inner)


class CheckboxOptions(Options):
    """`checked` / `unchecked`: the canonical values of a ticked and an empty box (e.g. a
    "Done" box as status `completed` / `not_started`); writes send the box for either and
    refuse any other value."""

    checked: JsonValue = True
    unchecked: JsonValue = False


def _checkbox_to_provider(value: Any, options: CheckboxOptions, _: ConversionContext) -> Any:
    if value is None or value == options.unchecked:
        return {"checkbox": False}
    if value == options.checked:
        return {"checkbox": True}
    raise ConversionError(f"{value!r} is neither {options.checked!r} nor {options.unchecked!r}")


@register_converter(
    "notion_checkbox",
    options=CheckboxOptions,
    to_provider=_checkbox_to_provider,
    handles_none=True,
)
def _checkbox(value: Any, options: CheckboxOptions, _: ConversionContext) -> Any:
    """A `checkbox` property <-> `checked` / `unchecked` (default true / false)."""
    ticked = _inner(value, "checkbox")
    if ticked is None:
        return None
    if not isinstance(ticked, bool):
        raise ConversionError(f"a checkbox is true or false, not {ticked!r}")
    return options.checked if ticked else options.unchecked


def _number_to_provider(value: Any, _options: NoOptions, _ctx: ConversionContext) -> Any:
    if value is None:
        return {"number": None}
    number = expect_decimal(value)
    return {"number": int(number) if number == number.to_integral_value() else float(number)}


@register_converter(
    "notion_number", options=NoOptions, to_provider=_number_to_provider, handles_none=True
)
def _number(value: Any, options: NoOptions, _: ConversionContext) -> int | str | None:
    """A `number` property <-> an integer, or decimal text for a fraction (exact, as the
    canonical money and decimals are kept)."""
    inner = _inner(value, "number")
    if inner is None:
        return None
    number = expect_decimal(inner)
    return int(number) if number == number.to_integral_value() else str(number)
