"""Record selectors: a dotted path into a JSON answer (`paging.next.after`, `items.0.id`).

A missing step is an error naming the path, so a malformed answer is reported as such
instead of surfacing as a KeyError somewhere later.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING", "PathError", "select"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class PathError(LookupError):
    """`path` does not lead anywhere in the answer."""

    def __init__(self, path: str, step: str) -> None:
        super().__init__(f"no {step!r} at path {path!r}")
        self.path = path


def select(document: Any, path: str, *, default: Any = MISSING) -> Any:
    """The value at dotted `path` ("" is the document); integers index lists.

    Raises:
        PathError: a step is missing and no `default` was given.
    """
    if isinstance(document, dict) and path in document:
        return document[path]  # the common case: one step, present (listings call this a lot)
    value = document
    if not path:
        return value
    for step in path.split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif (
            isinstance(value, list)
            and step.lstrip("-").isdigit()
            and -len(value) <= int(step) < len(value)
        ):
            value = value[int(step)]
        elif default is not MISSING:
            return default
        else:
            raise PathError(path, step)
    return value
