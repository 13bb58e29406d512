"""Helpers the converter modules share (not API)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict

from integration_core.mapping.errors import ConversionError

__all__ = ["Options", "expect_decimal", "expect_list", "expect_text"]

# No CRM keeps a number with more than 38 digits before or after the point (Salesforce
# allows 18); beyond that a value is garbage, and Decimal arithmetic on it can explode.
_MAX_DIGITS = 38


class Options(BaseModel):
    """Base of converter options: unknown options are an error, options never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def expect_text(value: Any) -> str:
    """The value as text: numbers become text, anything else is a ConversionError."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ConversionError(f"expected text, got {type(value).__name__}")


def expect_list(value: Any, size: int | None = None) -> list[Any]:
    """The value as a list (a tuple too), of `size` items when given."""
    if not isinstance(value, list | tuple):
        raise ConversionError(f"expected a list, got {type(value).__name__}")
    if size is not None and len(value) != size:
        raise ConversionError(f"expected {size} values, got {len(value)}")
    return list(value)


def expect_decimal(value: Any, what: str = "a number") -> Decimal:
    """The value (a number or its text) as an exact, finite, sanely sized Decimal."""
    if isinstance(value, bool):
        raise ConversionError(f"expected {what}, got bool")
    text = expect_text(value).strip().replace("_", "")
    try:
        number = Decimal(text)
    except InvalidOperation as err:
        raise ConversionError(f"not {what}: {value!r}") from err
    if not number.is_finite():
        raise ConversionError(f"not {what} (not finite): {value!r}")
    if number and abs(number.adjusted()) > _MAX_DIGITS:
        raise ConversionError(f"{what} out of range: {value!r}")
    return number
