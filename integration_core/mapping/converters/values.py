"""Booleans, enumerations and picklists, defaults and constants, and lookups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, JsonValue, model_validator

from integration_core.mapping.converters._private import Options, expect_list, expect_text
from integration_core.mapping.converters.registry import ConversionContext, register_converter
from integration_core.mapping.errors import ConversionError

__all__: list[str] = []


class BooleanOptions(Options):
    """`true_values` / `false_values`: what the provider says (compared in any case);
    `write_true` / `write_false`: what writes send (default JSON true and false)."""

    true_values: list[str] = Field(default_factory=lambda: ["true", "yes", "y", "1", "on"])
    false_values: list[str] = Field(default_factory=lambda: ["false", "no", "n", "0", "off"])
    write_true: JsonValue = True
    write_false: JsonValue = False


def _boolean_to_provider(value: Any, options: BooleanOptions, _: ConversionContext) -> Any:
    if not isinstance(value, bool):
        raise ConversionError(f"expected true or false, got {value!r}")
    return options.write_true if value else options.write_false


@register_converter("boolean", options=BooleanOptions, to_provider=_boolean_to_provider)
def _boolean(value: Any, options: BooleanOptions, _: ConversionContext) -> bool:
    """A yes/no from JSON true/false, 1/0 or text ("true", "Yes", "0") <-> true/false;
    anything else is an error, never a guess."""
    if isinstance(value, bool):
        return value
    text = expect_text(value).strip().casefold()
    if text in {v.casefold() for v in options.true_values}:
        return True
    if text in {v.casefold() for v in options.false_values}:
        return False
    raise ConversionError(f"not a yes/no value: {value!r}")


class EnumOptions(Options):
    """`values`: provider value -> canonical value. `write`: canonical -> provider for
    writes (default: `values` inverted, which must then be one-to-one). `default`: the
    canonical value for an unknown provider value (None: an unknown value is an error).
    `case_sensitive`: compare provider values exactly (default: in any case)."""

    values: dict[str, JsonValue] = Field(min_length=1)
    write: dict[str, str] | None = None
    default: JsonValue = None
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _invertible(self) -> EnumOptions:
        if self.write is None:
            inverted = {str(canonical) for canonical in self.values.values()}
            if len(inverted) != len(self.values):
                raise ValueError("several provider values share a canonical value: give `write`")
        return self

    def reading(self) -> dict[str, JsonValue]:
        if self.case_sensitive:
            return self.values
        return {key.casefold(): canonical for key, canonical in self.values.items()}

    def writing(self) -> dict[str, str]:
        if self.write is not None:
            return self.write
        return {str(canonical): provider for provider, canonical in self.values.items()}


def _read_choice(value: Any, options: EnumOptions) -> Any:
    text = expect_text(value).strip()
    key = text if options.case_sensitive else text.casefold()
    found = options.reading().get(key)
    if found is not None:
        return found
    if options.default is not None:
        return options.default
    known = ", ".join(sorted(options.values))
    raise ConversionError(f"unknown value {text!r} (known: {known})")


def _write_choice(value: Any, options: EnumOptions) -> str:
    key = str(value)
    try:
        return options.writing()[key]
    except KeyError as err:
        raise ConversionError(f"no provider value for {key!r}") from err


@register_converter(
    "enum",
    options=EnumOptions,
    to_provider=lambda value, options, _ctx: _write_choice(value, options),
)
def _enum(value: Any, options: EnumOptions, _: ConversionContext) -> Any:
    """A picklist or enumeration through a value map (HubSpot `NOT_STARTED` <-> canonical
    `not_started` <-> Salesforce "Not Started"); an unknown value is an error naming the
    known ones, or the configured `default`."""
    return _read_choice(value, options)


class MultiPicklistOptions(EnumOptions):
    """As `enum`, per item; `separator` between items in the provider's text (";")."""

    separator: str = Field(default=";", min_length=1)


def _write_choices(value: Any, options: MultiPicklistOptions, _: ConversionContext) -> str:
    return options.separator.join(_write_choice(item, options) for item in expect_list(value))


@register_converter("multi_picklist", options=MultiPicklistOptions, to_provider=_write_choices)
def _multi_picklist(value: Any, options: MultiPicklistOptions, _: ConversionContext) -> list[Any]:
    """A multi-select ("chocolate;strawberry") <-> a list of canonical values, each through
    the value map; order kept, repeats dropped."""
    items = (item for item in expect_text(value).split(options.separator) if item.strip())
    return list(dict.fromkeys(_read_choice(item, options) for item in items))


class DefaultOptions(Options):
    """`value`: used when the provider has none (absent or null)."""

    value: JsonValue


@register_converter(
    "default",
    options=DefaultOptions,
    to_provider=lambda value, _options, _ctx: value,
    handles_none=True,
)
def _default(value: Any, options: DefaultOptions, _: ConversionContext) -> Any:
    """The provider's value, or `value` when it has none; writes send the canonical value."""
    return options.value if value is None else value


class ConstantOptions(Options):
    """`value`: the canonical value; `write`: what writes send (default: `value`)."""

    value: JsonValue
    write: JsonValue = None


@register_converter(
    "constant",
    options=ConstantOptions,
    to_provider=lambda _value, options, _ctx: (
        options.value if options.write is None else options.write
    ),
    handles_none=True,
)
def _constant(value: Any, options: ConstantOptions, _: ConversionContext) -> Any:
    """Always `value`, whatever the provider says (e.g. a lead source of "hubspot");
    writes always send `write` (or `value`)."""
    return options.value


class LookupOptions(Options):
    """`table`: the name of the lookup table (provider key -> canonical value) the caller
    passes in, e.g. `users` (owner id -> email); `default`: for a key the table lacks
    (None: error)."""

    table: str = Field(min_length=1)
    default: str | None = None


def _table(options: LookupOptions, ctx: ConversionContext) -> Mapping[str, str]:
    try:
        return ctx.lookups[options.table]
    except KeyError as err:
        raise ConversionError(f"lookup table {options.table!r} was not provided") from err


def _lookup_reverse(value: Any, options: LookupOptions, ctx: ConversionContext) -> str:
    key = expect_text(value)
    for provider, canonical in _table(options, ctx).items():
        if canonical == key:
            return provider
    raise ConversionError(f"{key!r} is not in lookup table {options.table!r}")


@register_converter("lookup", options=LookupOptions, to_provider=_lookup_reverse)
def _lookup(value: Any, options: LookupOptions, ctx: ConversionContext) -> str:
    """A key through a lookup table handed in at mapping time (a provider user id <-> the
    user's email, an external id <-> a hub entity id); no I/O in the converter."""
    key = expect_text(value)
    found = _table(options, ctx).get(key)
    if found is not None:
        return found
    if options.default is not None:
        return options.default
    raise ConversionError(f"{key!r} is not in lookup table {options.table!r}")
