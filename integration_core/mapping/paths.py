"""Dotted paths into provider records: `properties.email`, `addresses[0].city`,
`emails[type=work].value`.

Reading a path that is not there gives `MISSING` (distinct from a present None). Writing a
path builds what is missing on the way, including the list element a filter selects (a
filter `[type=work]` that matches nothing appends `{"type": "work"}` and writes into it),
so a record written through a mapping reads back through the same mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

__all__ = ["MISSING", "FieldPath", "parse_path"]


class _Missing:
    """The value of a path that leads nowhere: distinct from a present None."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

_SEGMENT = re.compile(
    r"""(?P<key>[^.\[\]=]+)?            # a key, unless the segment is only a selector
        (?:\[(?:(?P<index>-?\d+)        # [0], [-1]
            |(?P<fkey>[^\[\]=]+)=(?P<fvalue>[^\[\]]*)  # [type=work]
        )\])?$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Step:
    key: str | None
    index: int | None = None
    filter: tuple[str, str] | None = None


@dataclass(frozen=True)
class FieldPath:
    """A parsed path; `text` is what it was parsed from (for error messages); `writable`
    is False where a write would rewrite the path's own filter."""

    text: str
    steps: tuple[_Step, ...]
    writable: bool = field(init=False)
    # The one key of a plain one-segment path ("email"): the common case, read directly.
    key: str | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "writable", _writable(self.steps))
        only = self.steps[0]
        plain = len(self.steps) == 1 and only.index is None and only.filter is None
        object.__setattr__(self, "key", only.key if plain else None)

    def get(self, record: Any) -> Any:
        """The value at this path, or MISSING."""
        if self.key is not None:
            return record.get(self.key, MISSING) if isinstance(record, dict) else MISSING
        current = record
        for step in self.steps:
            if step.key is not None:
                if not isinstance(current, dict) or step.key not in current:
                    return MISSING
                current = current[step.key]
            if step.index is not None or step.filter is not None:
                if not isinstance(current, list):
                    return MISSING
                found = _select(current, step)
                if found is None:
                    return MISSING
                current = current[found]
        return current

    def set(self, record: dict[str, Any], value: Any) -> None:
        """Write `value` at this path, creating the dicts and list elements on the way."""
        if self.key is not None:
            record[self.key] = value
            return
        if not self.writable:
            raise ValueError(f"path {self.text!r} would rewrite its own filter")
        current: Any = record
        last = len(self.steps) - 1
        for position, step in enumerate(self.steps):
            final = position == last
            has_selector = step.index is not None or step.filter is not None
            if step.key is not None:
                if not isinstance(current, dict):
                    raise ValueError(f"path {self.text!r}: {step.key!r} is not inside an object")
                if final and not has_selector:
                    current[step.key] = value
                    return
                empty: Any = [] if has_selector else {}
                if not isinstance(current.get(step.key), list | dict):
                    current[step.key] = empty
                current = current[step.key]
            if has_selector:
                if not isinstance(current, list):
                    raise ValueError(f"path {self.text!r}: {step.key!r} is not a list")
                index = _select(current, step)
                if index is None:
                    index = _append_for(current, step, self.text)
                if final:
                    current[index] = value
                    return
                if not isinstance(current[index], dict):
                    current[index] = {}
                current = current[index]


def _writable(steps: tuple[_Step, ...]) -> bool:
    """False where a write would change what selects the element: a path ending in a
    filter (write `emails[type=work].value`, not the element) or writing the filter's
    own field (`emails[type=work].type`)."""
    if steps[-1].filter is not None:
        return False
    return not any(
        step.filter is not None and after.key == step.filter[0]
        for step, after in zip(steps, steps[1:], strict=False)
    )


def _select(items: list[Any], step: _Step) -> int | None:
    if step.index is not None:
        size = len(items)
        return step.index % size if -size <= step.index < size else None
    assert step.filter is not None
    key, wanted = step.filter
    for position, item in enumerate(items):
        if isinstance(item, dict) and key in item and _as_text(item[key]) == wanted:
            return position
    return None


def _append_for(items: list[Any], step: _Step, text: str) -> int:
    if step.filter is not None:
        key, wanted = step.filter
        items.append({key: wanted})
        return len(items) - 1
    assert step.index is not None
    if step.index < 0:
        raise ValueError(f"path {text!r}: cannot create element {step.index}")
    items.extend({} for _ in range(step.index + 1 - len(items)))
    return step.index


def _segments(text: str) -> list[str]:
    """Split on dots outside brackets, so `[domain=example.com]` stays one segment."""
    segments, depth, start = [], 0, 0
    for position, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "." and depth == 0:
            segments.append(text[start:position])
            start = position + 1
    segments.append(text[start:])
    return segments


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@lru_cache(maxsize=1024)
def parse_path(text: str) -> FieldPath:
    """Parse `a.b[0].c[type=work].d`; raise ValueError naming the bad segment."""
    if not text or text != text.strip():
        raise ValueError(f"path {text!r} is empty or has surrounding spaces")
    steps = []
    for segment in _segments(text):
        match = _SEGMENT.match(segment)
        if match is None or not segment:
            raise ValueError(f"path {text!r}: bad segment {segment!r}")
        index = match["index"]
        steps.append(
            _Step(
                key=match["key"],
                index=int(index) if index is not None else None,
                filter=(match["fkey"], match["fvalue"]) if match["fkey"] is not None else None,
            )
        )
    return FieldPath(text=text, steps=tuple(steps))
