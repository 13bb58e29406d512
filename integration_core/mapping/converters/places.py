"""Countries and regions (ISO 3166 through pycountry) and single-line addresses."""

from __future__ import annotations

from typing import Any, Literal

import pycountry
from pydantic import Field

from integration_core.mapping.converters._private import Options, expect_list, expect_text
from integration_core.mapping.converters.registry import ConversionContext, register_converter
from integration_core.mapping.errors import ConversionError

__all__: list[str] = []

# Everyday names ISO 3166 does not list; the configured `aliases` extend these.
_COMMON_ALIASES = {"UK": "GB", "U.K.": "GB", "GREAT BRITAIN": "GB", "USA": "US", "U.S.": "US"}

CountryForm = Literal["alpha_2", "alpha_3", "name"]


class CountryOptions(Options):
    """`write_as`: how writes spell the country (`alpha_2`, `alpha_3`, `name`);
    `aliases`: extra names -> ISO alpha-2 code (e.g. a provider's own picklist labels)."""

    write_as: CountryForm = "alpha_2"
    aliases: dict[str, str] = Field(default_factory=dict)


def _country(value: Any, aliases: dict[str, str]) -> Any:
    text = " ".join(expect_text(value).split())
    alias = {k.upper(): v for k, v in (_COMMON_ALIASES | aliases).items()}.get(text.upper())
    try:
        return pycountry.countries.lookup(alias or text)
    except LookupError as err:
        raise ConversionError(f"unknown country {text!r}") from err


def _spell(country: Any, form: CountryForm) -> str:
    return str(getattr(country, form))


def _country_to_provider(value: Any, options: CountryOptions, _: ConversionContext) -> str:
    return _spell(_country(value, options.aliases), options.write_as)


@register_converter(
    "country_code",
    options=CountryOptions,
    to_provider=_country_to_provider,
)
def _country_code(value: Any, options: CountryOptions, _: ConversionContext) -> str:
    """A country by name, official name, alpha-2, alpha-3 or numeric code ("Germany",
    "DEU", "276") <-> its ISO 3166-1 alpha-2 code ("DE"), the canonical form."""
    return _spell(_country(value, options.aliases), "alpha_2")


@register_converter(
    "country_name",
    options=CountryOptions,
    to_provider=_country_to_provider,
)
def _country_name(value: Any, options: CountryOptions, _: ConversionContext) -> str:
    """A country by code or any of its names <-> its ISO 3166 short name ("DE" -> "Germany"),
    for hubs that keep names; writes follow `write_as`."""
    return _spell(_country(value, options.aliases), "name")


class RegionOptions(Options):
    """`country`: alpha-2 code of the country whose subdivisions the provider names (needed
    to read a bare name such as "Bavaria"); `write_as`: `code` ("DE-BY") or `name`."""

    country: str | None = None
    write_as: Literal["code", "name"] = "code"


def _region(value: Any, country: str | None) -> Any:
    text = " ".join(expect_text(value).split())
    found = pycountry.subdivisions.get(code=text.upper())  # type: ignore[no-untyped-call]
    if found is not None:
        return found
    if country is not None:
        subdivisions = pycountry.subdivisions.get(country_code=country.upper())  # type: ignore[no-untyped-call]
        for candidate in subdivisions or ():
            if candidate.name.casefold() == text.casefold():
                return candidate
            if candidate.code.split("-", 1)[1] == text.upper():
                return candidate
    raise ConversionError(f"unknown region {text!r}" + (f" in {country}" if country else ""))


def _region_to_provider(value: Any, options: RegionOptions, _: ConversionContext) -> str:
    found = _region(value, options.country)
    return str(found.code if options.write_as == "code" else found.name)


@register_converter("region_code", options=RegionOptions, to_provider=_region_to_provider)
def _region_code(value: Any, options: RegionOptions, _: ConversionContext) -> str:
    """A state or province by ISO 3166-2 code, its local part or its name ("CA",
    "California", "US-CA") <-> its ISO 3166-2 code ("US-CA")."""
    return str(_region(value, options.country).code)


class AddressOptions(Options):
    """`separator` between the parts of the single line (default a newline). The canonical
    fields the mapping names are the parts, in order; an empty part keeps its place."""

    separator: str = Field(default="\n", min_length=1)


def _join_address(value: Any, options: AddressOptions, _: ConversionContext) -> str | None:
    parts = ["" if part is None else expect_text(part).strip() for part in expect_list(value)]
    for part in parts:
        if options.separator in part:
            raise ConversionError(f"address part {part!r} contains the separator")
    while parts and not parts[-1]:
        parts.pop()
    return options.separator.join(parts) or None


@register_converter(
    "address_lines", options=AddressOptions, to_provider=_join_address, arity="split"
)
def _address_lines(value: Any, options: AddressOptions, _: ConversionContext) -> tuple[Any, ...]:
    """A single-line (or multi-line text) address <-> structured canonical fields, e.g.
    "1 Main St\\nSpringfield\\n62701" <-> [street, city, postal_code]."""
    text = expect_text(value)
    return tuple(part.strip() or None for part in text.split(options.separator))
