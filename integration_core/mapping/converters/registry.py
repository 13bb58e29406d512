"""The converter registry: converters are found by name, so a mapping stays plain data.

A converter turns a provider value into its canonical value (`to_canonical`) and, where
that makes sense, back (`to_provider`). Its options are a pydantic model, checked when a
mapping is loaded, not when the first record arrives. None passes through untouched
unless the converter says it `handles_none` (defaults and constants). `arity` says what a
converter takes and gives: `one` (a value to a value), `split` (one provider value to
several canonical fields, e.g. a full name to first and last) or `join` (several provider
values to one canonical field).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CONVERTERS",
    "Arity",
    "ConversionContext",
    "Converter",
    "NoOptions",
    "get_converter",
    "register_converter",
]

Arity = Literal["one", "split", "join"]


class NoOptions(BaseModel):
    """Options of a converter that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


O = TypeVar("O", bound=BaseModel)  # noqa: E741


@dataclass(frozen=True)
class ConversionContext:
    """What a converter may consult besides the value: lookup tables passed in by the caller.

    `lookups` maps a table name to its rows (e.g. `"users"`: provider user id -> email);
    converters never do I/O, so whatever they need to look up is handed to them here.
    """

    lookups: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


Convert = Callable[[Any, O, ConversionContext], Any]


@dataclass(frozen=True)
class Converter(Generic[O]):
    """One named conversion; `to_provider` None means one-way (read only)."""

    name: str
    doc: str
    options: type[O]
    to_canonical: Convert[O]
    to_provider: Convert[O] | None
    arity: Arity = "one"
    handles_none: bool = False

    def parse_options(self, raw: Mapping[str, Any]) -> O:
        return self.options.model_validate(dict(raw))


_REGISTRY: dict[str, Converter[Any]] = {}
CONVERTERS: Mapping[str, Converter[Any]] = MappingProxyType(_REGISTRY)


def register_converter(
    name: str,
    *,
    options: type[O],
    to_provider: Convert[O] | None = None,
    arity: Arity = "one",
    handles_none: bool = False,
) -> Callable[[Convert[O]], Convert[O]]:
    """Decorate the `to_canonical` function of a converter; its docstring is its doc.

    Third parties register their own the same way; a name is taken once.
    """

    def decorate(to_canonical: Convert[O]) -> Convert[O]:
        if name in _REGISTRY:
            raise ValueError(f"converter {name!r} is already registered")
        doc = (to_canonical.__doc__ or "").strip()
        if not doc:
            raise ValueError(f"converter {name!r} needs a docstring: it is its documentation")
        _REGISTRY[name] = Converter(
            name=name,
            doc=doc,
            options=options,
            to_canonical=to_canonical,
            to_provider=to_provider,
            arity=arity,
            handles_none=handles_none,
        )
        return to_canonical

    return decorate


def get_converter(name: str) -> Converter[Any]:
    try:
        return _REGISTRY[name]
    except KeyError as err:
        raise ValueError(
            f"unknown converter {name!r} (known: {', '.join(sorted(_REGISTRY))})"
        ) from err
