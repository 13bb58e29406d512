"""Echo guard: recognise a change that only reports back what we wrote or already applied."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from integration_core.clock import to_iso

__all__ = ["values_hash", "is_echo", "is_replay"]


def values_hash(values: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of `values`: key order does not matter, list order does.

    Stable across processes and machines (no Python `hash`). Datetimes hash as UTC ISO
    strings, Decimals as strings, sets as sorted lists.
    """
    text = json.dumps(
        values,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_json_default,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=lambda v: json.dumps(v, sort_keys=True, default=_json_default))
    raise TypeError(f"cannot hash a value of type {type(value).__name__}")


def is_echo(
    values: Mapping[str, Any],
    version: str | None,
    *,
    written_hash: str | None,
    written_version: str | None,
) -> bool:
    """Whether a change from a system is our own write coming back (drop it).

    True when the system reports the version it returned for our last write, or when the
    values hash to what we last wrote there (the version may have moved on, the data not).
    """
    if version is not None and written_version is not None and version == written_version:
        return True
    return written_hash is not None and values_hash(values) == written_hash


def is_replay(
    version: str,
    modified_at: datetime,
    *,
    applied_version: str | None,
    applied_modified_at: datetime | None,
) -> bool:
    """Whether a change was already applied (same version) or is older than the applied one.

    Redelivered and reordered deliveries are then no-ops instead of rolling the hub back.
    """
    if applied_version is not None and version == applied_version:
        return True
    return applied_modified_at is not None and modified_at < applied_modified_at
