"""Phones, emails and personal names."""

from __future__ import annotations

from typing import Any, Literal

import email_validator
import phonenumbers

from integration_core.mapping.converters._private import Options, expect_list, expect_text
from integration_core.mapping.converters.registry import (
    ConversionContext,
    NoOptions,
    register_converter,
)
from integration_core.mapping.errors import ConversionError

__all__: list[str] = []

_FORMATS = {
    "e164": phonenumbers.PhoneNumberFormat.E164,
    "international": phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    "national": phonenumbers.PhoneNumberFormat.NATIONAL,
}


class PhoneOptions(Options):
    """`region`: ISO country assumed for numbers written without `+` (None: such a number is
    an error); `write_as`: the format writes use (`e164`, `international`, `national`)."""

    region: str | None = None
    write_as: Literal["e164", "international", "national"] = "e164"


def _parse_phone(value: Any, region: str | None) -> phonenumbers.PhoneNumber:
    text = expect_text(value).strip()
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException as err:
        raise ConversionError(f"not a phone number: {text!r} ({err})") from err
    if not phonenumbers.is_possible_number(number):
        raise ConversionError(f"not a possible phone number: {text!r}")
    return number


def _format(number: phonenumbers.PhoneNumber, form: str) -> str:
    text = phonenumbers.format_number(number, _FORMATS[form])
    # E.164 has no extension; the other formats print theirs (" ext. 12").
    return f"{text};ext={number.extension}" if number.extension and form == "e164" else text


def _phone_to_provider(value: Any, options: PhoneOptions, _: ConversionContext) -> str:
    return _format(_parse_phone(value, options.region), options.write_as)


@register_converter("phone_e164", options=PhoneOptions, to_provider=_phone_to_provider)
def _phone_e164(value: Any, options: PhoneOptions, _: ConversionContext) -> str:
    """A phone number as people type it ("(020) 7946 0018", "+44 20 7946 0018") <-> E.164
    ("+442079460018"); extensions are kept (";ext=12" in RFC 3966 style)."""
    return _format(_parse_phone(value, options.region), "e164")


def _normal_email(value: Any) -> str:
    text = expect_text(value).strip()
    try:
        checked = email_validator.validate_email(text, check_deliverability=False)
    except email_validator.EmailNotValidError as err:
        raise ConversionError(f"not an email address: {text!r} ({err})") from err
    return f"{checked.local_part}@{checked.domain.lower()}"


@register_converter(
    "email",
    options=NoOptions,
    to_provider=lambda value, _options, _ctx: _normal_email(value),
)
def _email(value: Any, options: NoOptions, _: ConversionContext) -> str:
    """An email address, checked (syntax, no DNS) and normalised: trimmed, domain lower case
    and IDNA-normalised; the local part is kept as written (it may be case-sensitive)."""
    return _normal_email(value)


class NameOptions(Options):
    """`order`: how the single-line name is written — `first_last` ("Ada Lovelace") or
    `last_first` ("Lovelace, Ada")."""

    order: Literal["first_last", "last_first"] = "first_last"


def _split_name(value: Any, options: NameOptions) -> tuple[str | None, str | None]:
    text = " ".join(expect_text(value).split())
    if not text:
        return None, None
    if options.order == "last_first":
        last, _, first = text.partition(",")
        return first.strip() or None, last.strip() or None
    # Everything but the last word is the first name: "Mary Ann Evans" -> ("Mary Ann", "Evans").
    first, _, last = text.rpartition(" ")
    return (first or None, last) if first else (None, last)


def _join_name(value: Any, options: NameOptions) -> str | None:
    first, last = (
        None if part is None else expect_text(part).strip() for part in expect_list(value, 2)
    )
    if options.order == "last_first" and first and last:
        return f"{last}, {first}"
    return " ".join(part for part in (first, last) if part) or None


@register_converter(
    "name_split",
    options=NameOptions,
    to_provider=lambda value, options, _ctx: _join_name(value, options),
    arity="split",
)
def _name_split(value: Any, options: NameOptions, _: ConversionContext) -> tuple[str | None, ...]:
    """One full-name field ("Ada King Lovelace") <-> [first_name, last_name]
    (["Ada King", "Lovelace"]); a single word is the last name."""
    return _split_name(value, options)


@register_converter(
    "name_join",
    options=NameOptions,
    to_provider=lambda value, options, _ctx: _split_name(value, options),
    arity="join",
)
def _name_join(value: Any, options: NameOptions, _: ConversionContext) -> str | None:
    """Two provider fields [first, last] <-> one canonical full name ("Ada Lovelace")."""
    return _join_name(value, options)
