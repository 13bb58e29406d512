"""Helpers the converter modules share (not API)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from integration_core.mapping.errors import ConversionError

__all__ = ["Options", "expect_list", "expect_text"]


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
