"""Record selectors: a dotted path into a JSON answer (`paging.next.after`, `items.0.id`).

A missing step is an error naming the path, so a malformed answer is reported as such
instead of surfacing as a KeyError somewhere later. A path is parsed once into a
`Selector` (`compile_path`, cached): listings apply the same few paths to every record.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

__all__ = ["MISSING", "PathError", "Selector", "compile_path", "is_key", "select"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class PathError(LookupError):
    """`path` does not lead anywhere in the answer."""

    def __init__(self, path: str, step: str) -> None:
        super().__init__(f"no {step!r} at path {path!r}")
        self.path = path


class Selector(Protocol):
    """A parsed dotted path: the value at it in `document`, else `default`, else
    PathError."""

    def __call__(self, document: Any, default: Any = ..., /) -> Any: ...


@lru_cache(maxsize=1024)
def compile_path(path: str) -> Selector:
    """The `Selector` of `path` (paths come from specs: a small, fixed set).

    Closures, not objects: a listing calls a few of them for every record.
    """
    if is_key(path):
        return _key_selector(path)
    steps = path.split(".") if path else []
    return _path_selector(path, tuple((step, _index(step)) for step in steps))


def is_key(path: str) -> bool:
    """`path` is one dict key: not empty, no dots, no list index."""
    return bool(path) and "." not in path and _index(path) is None


def _key_selector(key: str) -> Selector:
    """One key that is not a list index: the common case, a dict lookup."""

    def select_key(document: Any, default: Any = MISSING, /) -> Any:
        if isinstance(document, dict):
            try:
                return document[key]
            except KeyError:
                pass
        if default is MISSING:
            raise PathError(key, key)
        return default

    return select_key


def _path_selector(path: str, steps: tuple[tuple[str, int | None], ...]) -> Selector:
    def select_path(document: Any, default: Any = MISSING, /) -> Any:
        if isinstance(document, dict) and path in document:
            return document[path]  # a key that itself holds dots
        value = document
        for step, index in steps:
            if isinstance(value, dict) and step in value:
                value = value[step]
            elif (
                index is not None and isinstance(value, list) and -len(value) <= index < len(value)
            ):
                value = value[index]
            elif default is not MISSING:
                return default
            else:
                raise PathError(path, step)
        return value

    return select_path


def _index(step: str) -> int | None:
    """The list index a step names (negative from the end), None if it names none."""
    try:
        return int(step) if step.lstrip("-").isdigit() else None
    except ValueError:  # "--1", or digits int() does not read
        return None


def select(document: Any, path: str, *, default: Any = MISSING) -> Any:
    """The value at dotted `path` ("" is the document); integers index lists.

    Raises:
        PathError: a step is missing and no `default` was given.
    """
    return compile_path(path)(document, default)
