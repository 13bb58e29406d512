"""Timezone-aware UTC time, in one place so every module agrees on the format."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["utcnow", "to_iso", "from_iso"]


def utcnow() -> datetime:
    return datetime.now(UTC)


# Cached: every stored document serializes its times, and an entity repeats one time in
# each field's modification stamp. Equal instants give equal strings, so equality is the key.
@lru_cache(maxsize=4096)
def to_iso(value: datetime) -> str:
    """ISO-8601 in UTC with microseconds, so strings sort in time order."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: Lockstep times are timezone-aware UTC")
    if value.utcoffset():
        value = value.astimezone(UTC)
    # isoformat is several times faster than strftime, and this runs for every stored time.
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_iso(value: str) -> datetime:
    """An ISO-8601 time with a zone, in UTC. Python 3.11 reads "Z" and "+0000" itself,
    and a zero offset as UTC: such a time (every time a provider lists) is not converted.

    Raises:
        ValueError: not ISO-8601, or without a zone.
    """
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {value!r}")
    return parsed.astimezone(UTC)
