"""Converters by name: importing this package registers the built-in ones.

`CONVERTERS` lists them all (name -> `Converter`, with its documentation in `doc`).
"""

from __future__ import annotations

# Importing the modules registers their converters.
from integration_core.mapping.converters import (  # noqa: F401
    dates,
    notion,
    numbers,
    people,
    places,
    text,
    values,
)
from integration_core.mapping.converters.registry import (
    CONVERTERS,
    ConversionContext,
    Converter,
    NoOptions,
    get_converter,
    register_converter,
)

__all__ = [
    "CONVERTERS",
    "ConversionContext",
    "Converter",
    "NoOptions",
    "get_converter",
    "register_converter",
]
