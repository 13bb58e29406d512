"""Integers, decimals and money. Decimals and money stay text (`Decimal`, never float), so
no value picks up binary rounding on its way through the hub."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, Field

from integration_core.mapping.converters._private import (
    Options,
    expect_decimal,
    expect_list,
    expect_text,
)
from integration_core.mapping.converters.registry import ConversionContext, register_converter
from integration_core.mapping.errors import ConversionError

__all__: list[str] = []


def _known_currency(code: str) -> str:
    if pycountry.currencies.get(alpha_3=code.upper()) is None:
        raise ValueError(f"unknown ISO 4217 currency {code!r}")
    return code.upper()


Currency = Annotated[str, AfterValidator(_known_currency)]


def _plain(number: Decimal, places: int | None) -> str:
    """Fixed-point text; enough precision for every digit `expect_decimal` lets through."""
    with localcontext(prec=100):
        if places is not None:
            number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        elif number == number.to_integral_value():
            number = number.quantize(Decimal(1))
        else:
            number = number.normalize()
    return f"{number:f}"


class IntegerOptions(Options):
    """`as_string`: write the integer as text (HubSpot number properties are text)."""

    as_string: bool = False


def _integer_to_provider(value: Any, options: IntegerOptions, ctx: ConversionContext) -> Any:
    number = _integer(value, options, ctx)
    return str(number) if options.as_string else number


@register_converter("integer", options=IntegerOptions, to_provider=_integer_to_provider)
def _integer(value: Any, options: IntegerOptions, _: ConversionContext) -> int:
    """A whole number from a number or its text ("17", "17.0", 17.0) <-> int.

    A fraction is an error, not a silent truncation."""
    number = expect_decimal(value)
    if number != number.to_integral_value():
        raise ConversionError(f"not a whole number: {value!r}")
    return int(number)


class DecimalOptions(Options):
    """`places`: round (half to even) to this many decimals (None: keep every digit);
    `as_number`: write a JSON number rather than text."""

    places: int | None = Field(default=None, ge=0, le=18)
    as_number: bool = False


def _decimal_to_provider(value: Any, options: DecimalOptions, _: ConversionContext) -> Any:
    text = _plain(expect_decimal(value), options.places)
    return float(text) if options.as_number else text


@register_converter("decimal", options=DecimalOptions, to_provider=_decimal_to_provider)
def _decimal_converter(value: Any, options: DecimalOptions, _: ConversionContext) -> str:
    """A decimal number from a number or its text <-> its exact text ("12.50" with places=2)."""
    return _plain(expect_decimal(value), options.places)


class MoneyOptions(Options):
    """`currency`: the ISO 4217 currency of the provider's amounts; `places`: decimals
    kept (default 2); `as_number`: write the amount as a JSON number rather than text."""

    currency: Currency
    places: int = Field(default=2, ge=0, le=6)
    as_number: bool = False


def _parse_money(value: Any) -> tuple[Decimal, str]:
    amount, _, currency = expect_text(value).strip().partition(" ")
    if not currency:
        raise ConversionError(f"money must be '<amount> <currency>', got {value!r}")
    try:
        return expect_decimal(amount), _known_currency(currency)
    except ValueError as err:
        raise ConversionError(str(err)) from err


def _money_to_provider(value: Any, options: MoneyOptions, _: ConversionContext) -> Any:
    amount, currency = _parse_money(value)
    if currency != options.currency:
        raise ConversionError(
            f"the provider keeps {options.currency} amounts; {currency} cannot be written"
        )
    text = _plain(amount, options.places)
    return float(text) if options.as_number else text


@register_converter("money", options=MoneyOptions, to_provider=_money_to_provider)
def _money(value: Any, options: MoneyOptions, _: ConversionContext) -> str:
    """An amount in the provider's one `currency` <-> money text ("1250.00 EUR").

    Writing an amount in another currency is an error: converting needs a rate."""
    return f"{_plain(expect_decimal(value), options.places)} {options.currency}"


class CurrencyPairOptions(Options):
    """`places`: decimals kept (default 2)."""

    places: int = Field(default=2, ge=0, le=6)


def _money_pair_to_provider(
    value: Any, options: CurrencyPairOptions, _: ConversionContext
) -> tuple[str, str]:
    amount, currency = _parse_money(value)
    return _plain(amount, options.places), currency


@register_converter(
    "money_with_currency",
    options=CurrencyPairOptions,
    to_provider=_money_pair_to_provider,
    arity="join",
)
def _money_with_currency(
    value: Any, options: CurrencyPairOptions, _: ConversionContext
) -> str | None:
    """Two provider fields, amount and ISO currency (Salesforce multi-currency
    `Amount` + `CurrencyIsoCode`) <-> money text ("1250.00 EUR")."""
    amount, currency = expect_list(value, 2)
    if amount is None or amount == "":
        return None
    try:
        code = _known_currency(expect_text(currency).strip())
    except ValueError as err:
        raise ConversionError(str(err)) from err
    return f"{_plain(expect_decimal(amount), options.places)} {code}"
