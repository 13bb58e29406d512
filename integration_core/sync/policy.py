"""How conflicts are decided: the strategy and its settings, stored per sync task."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

__all__ = ["HUB", "ADMIN", "Strategy", "Policy"]

HUB = "hub"
"""The system name of the hub's own side, and the winner reported when the hub keeps."""

ADMIN = "admin"
"""The only incoming system allowed to change a protected field."""


class Strategy(StrEnum):
    SOURCE_WINS = "source_wins"
    TARGET_WINS = "target_wins"
    LAST_WRITE_WINS = "last_write_wins"
    FIELD_MERGE = "field_merge"
    SYSTEM_PRIORITY = "system_priority"
    MANUAL = "manual"


_KEYS = {
    "strategy": "strategy",
    "priority": "priority",
    "field_owners": "field_owners",
    "fieldOwners": "field_owners",
    "protected_fields": "protected_fields",
    "protectedFields": "protected_fields",
    "skew_tolerance": "skew_tolerance",
    "skewTolerance": "skew_tolerance",
}


@dataclass(frozen=True)
class Policy:
    """A sync task's conflict policy. `priority` lists systems, highest first."""

    strategy: Strategy
    priority: Sequence[str] = ()
    field_owners: Mapping[str, str] = field(default_factory=dict)
    protected_fields: frozenset[str] = frozenset()
    skew_tolerance: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        # Normalise to immutable copies so a caller's later edits cannot change the policy.
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        object.__setattr__(self, "priority", tuple(self.priority))
        object.__setattr__(self, "field_owners", dict(self.field_owners))
        object.__setattr__(self, "protected_fields", frozenset(self.protected_fields))
        if self.skew_tolerance < timedelta(0):
            raise ValueError("skew_tolerance must not be negative")

    def rank(self, system: str) -> int:
        """0 for the first system in `priority`; every unlisted system ranks below all listed."""
        try:
            return self.priority.index(system)
        except ValueError:
            return len(self.priority)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (what `SyncTask.policy` stores); `skew_tolerance` in seconds."""
        return {
            "strategy": self.strategy.value,
            "priority": list(self.priority),
            "field_owners": dict(sorted(self.field_owners.items())),
            "protected_fields": sorted(self.protected_fields),
            "skew_tolerance": self.skew_tolerance.total_seconds(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """Parse `to_dict` output (camelCase keys accepted too).

        A missing strategy means `field_merge`, so an empty dict is the default policy.

        Raises:
            ValueError: unknown key, wrong type, unknown strategy, duplicate priority entry,
                negative or non-finite skew.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"policy must be a mapping, got {type(data).__name__}")
        parsed: dict[str, Any] = {}
        for key, value in data.items():
            name = _KEYS.get(key)
            if name is None:
                raise ValueError(f"unknown policy key {key!r}; expected one of {sorted(_KEYS)}")
            if name in parsed:
                raise ValueError(f"policy key {name!r} given twice")
            parsed[name] = value
        try:
            strategy = Strategy(parsed.get("strategy", Strategy.FIELD_MERGE))
        except ValueError as err:
            names = [s.value for s in Strategy]
            raise ValueError(
                f"unknown strategy {parsed['strategy']!r}; expected one of {names}"
            ) from err
        priority = _strings(parsed.get("priority", []), "priority")
        if len(set(priority)) != len(priority):
            raise ValueError(f"priority lists a system twice: {priority}")
        owners = parsed.get("field_owners", {})
        if not isinstance(owners, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in owners.items()
        ):
            raise ValueError("field_owners must map field names to system names (strings)")
        protected = _strings(parsed.get("protected_fields", []), "protected_fields")
        skew = parsed.get("skew_tolerance", 0)
        if isinstance(skew, bool) or not isinstance(skew, int | float) or not math.isfinite(skew):
            raise ValueError(f"skew_tolerance must be a number of seconds, got {skew!r}")
        if skew < 0:
            raise ValueError(f"skew_tolerance must not be negative, got {skew!r}")
        return cls(
            strategy=strategy,
            priority=tuple(priority),
            field_owners=dict(owners),
            protected_fields=frozenset(protected),
            skew_tolerance=timedelta(seconds=skew),
        )


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{name} must be a list of strings, got {value!r}")
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{name} must be a list of strings, got {value!r}")
    return items
