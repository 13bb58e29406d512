"""Incremental-read watermarks: a (modified_at, id) position with an overlap window.

A read returns records strictly after a position in (modified_at, id) order, so records
sharing a timestamp across a page boundary are neither skipped nor re-read forever. A cycle
starts at `rewind(committed, overlap)` to catch late-committed records (re-reads are
no-ops downstream); each next page starts at `advance(position, page)`; the caller commits
`advance(committed, page)` only after the page is applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from integration_core.clock import from_iso, to_iso

__all__ = ["Stamped", "Watermark", "encode_cursor", "decode_cursor", "rewind", "advance"]

_PREFIX = "wm1|"


class Stamped(Protocol):
    """Anything with a modification time and an external id (e.g. `models.Change`)."""

    @property
    def modified_at(self) -> datetime: ...

    @property
    def external_id(self) -> str: ...


@dataclass(frozen=True, order=True)
class Watermark:
    """A position in (modified_at, id) order; ids are non-empty strings."""

    modified_at: datetime
    id: str

    def __post_init__(self) -> None:
        if self.modified_at.tzinfo is None:
            raise ValueError("naive watermark time: times must be timezone-aware")

    def is_before(self, modified_at: datetime, external_id: str) -> bool:
        """Whether a record at (modified_at, external_id) comes after this position."""
        return (self.modified_at, self.id) < (modified_at, external_id)


def encode_cursor(watermark: Watermark) -> str:
    return f"{_PREFIX}{to_iso(watermark.modified_at)}|{watermark.id}"


def decode_cursor(cursor: str) -> Watermark:
    """Inverse of `encode_cursor` (times come back in UTC).

    Raises:
        ValueError: the string is not a watermark cursor.
    """
    if not cursor.startswith(_PREFIX):
        raise ValueError(f"not a watermark cursor: {cursor!r}")
    stamp, sep, record_id = cursor[len(_PREFIX) :].partition("|")
    if not sep:
        raise ValueError(f"watermark cursor without an id: {cursor!r}")
    try:
        modified_at = from_iso(stamp)
    except ValueError as err:
        raise ValueError(f"watermark cursor with a bad time: {cursor!r}") from err
    return Watermark(modified_at, record_id)


def rewind(watermark: Watermark | None, overlap: timedelta) -> Watermark | None:
    """Where a new read cycle starts: `overlap` before the committed watermark.

    None (never read) stays None: read everything.
    """
    if overlap < timedelta(0):
        raise ValueError("overlap must not be negative")
    if watermark is None:
        return None
    return Watermark(watermark.modified_at - overlap, "")


def advance(watermark: Watermark | None, page: Iterable[Stamped]) -> Watermark | None:
    """The greatest of `watermark` and every record's (modified_at, id) in `page`.

    Never moves backwards, so re-read overlap records cannot pull it back.
    """
    best = watermark
    for record in page:
        candidate = Watermark(record.modified_at, record.external_id)
        if best is None or best < candidate:
            best = candidate
    return best
