"""Helpers shared by the sync modules; not API."""

from __future__ import annotations

import copy
from collections.abc import Hashable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from integration_core.sync.policy import HUB, Policy, Strategy
from integration_core.sync.records import Side

__all__ = [
    "ABSENT",
    "PROTECTED_RULE",
    "Absent",
    "same",
    "element_key",
    "detach",
    "later",
    "decide",
]

PROTECTED_RULE = "protected field"
"""The rule of a conflict on a protected field: the hub keeps it (only an admin changes it)."""


class Absent:
    """The value of a key missing from a mapping: distinct from None."""

    _instance: Absent | None = None

    def __new__(cls) -> Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __copy__(self) -> Absent:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Absent:
        return self

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Final = Absent()


def same(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: `==`, except that booleans never equal numbers."""
    if a is b:
        return True
    if a is ABSENT or b is ABSENT:
        return False
    if a != b:
        return False
    return _no_bool_mixup(a, b)


def _no_bool_mixup(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return all(_no_bool_mixup(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return all(_no_bool_mixup(x, y) for x, y in zip(a, b, strict=True))
    return True


def element_key(value: Any) -> Hashable:
    """A hashable key under which `same` values collide (list elements merged as sets)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return ("d", tuple((str(k), element_key(v)) for k, v in items))
    if isinstance(value, list | tuple):
        return ("l", tuple(element_key(v) for v in value))
    if isinstance(value, Hashable):
        return value
    return ("r", repr(value))


def detach(value: Any) -> Any:
    """A copy the caller may mutate without touching our inputs (containers only)."""
    if isinstance(value, dict | list):
        return copy.deepcopy(value)
    return value


def later(
    first: datetime, second: datetime, tolerance: timedelta
) -> Literal["first", "second", "tie"]:
    """Which time is later; times closer than `tolerance` (or equal) are a tie."""
    delta = second - first
    if not delta or abs(delta) < tolerance:
        return "tie"
    return "second" if delta > timedelta(0) else "first"


def decide(name: str, hub: Side, incoming: Side, policy: Policy) -> tuple[str | None, str]:
    """The winner of a true conflict on `name` (HUB, `incoming.system`, or None: pending)
    and the rule that chose it, in words an admin reads ("later modification")."""
    strategy = policy.strategy
    if strategy is Strategy.SOURCE_WINS:
        return incoming.system, "source wins"
    if strategy is Strategy.TARGET_WINS:
        return HUB, "hub wins"
    if strategy is Strategy.MANUAL:
        return None, "awaiting a decision"
    if strategy is Strategy.SYSTEM_PRIORITY:
        return _by_priority(name, hub, incoming, policy)
    if strategy is Strategy.FIELD_MERGE:
        hub_time = hub.field_modified_at.get(name)
        incoming_time = incoming.field_modified_at.get(name)
        if hub_time is not None and incoming_time is not None:
            return _by_time(name, hub_time, incoming_time, hub, incoming, policy)
    return _by_time(name, hub.modified_at, incoming.modified_at, hub, incoming, policy)


def _by_time(
    name: str,
    hub_time: datetime,
    incoming_time: datetime,
    hub: Side,
    incoming: Side,
    policy: Policy,
) -> tuple[str, str]:
    order = later(hub_time, incoming_time, policy.skew_tolerance)
    if order == "first":
        return HUB, "later modification"
    if order == "second":
        return incoming.system, "later modification"
    hub_system, incoming_system = hub.source_of(name), incoming.system
    hub_rank, incoming_rank = policy.rank(hub_system), policy.rank(incoming_system)
    if hub_rank != incoming_rank:
        first = hub_system if hub_rank < incoming_rank else incoming_system
        return _side_of(first, hub_system, incoming), f"same time, system priority: {first}"
    if hub_system != incoming_system:
        first = min(hub_system, incoming_system)
        return _side_of(first, hub_system, incoming), f"same time, system name: {first}"
    return HUB, "same time, same system: hub keeps"


def _by_priority(name: str, hub: Side, incoming: Side, policy: Policy) -> tuple[str, str]:
    hub_system, incoming_system = hub.source_of(name), incoming.system
    owner = policy.field_owners.get(name)
    if owner is not None and (hub_system == owner) != (incoming_system == owner):
        return _side_of(owner, hub_system, incoming), f"field owner: {owner}"
    # No owner, or neither / both sides own it: rank decides; equal rank keeps the hub.
    if policy.rank(incoming_system) < policy.rank(hub_system):
        return incoming.system, f"system priority: {incoming_system}"
    if policy.rank(hub_system) < policy.rank(incoming_system):
        return HUB, f"system priority: {hub_system}"
    return HUB, "equal priority: hub keeps"


def _side_of(system: str, hub_system: str, incoming: Side) -> str:
    """The winner for `system`: HUB when it is the hub's side's system."""
    return HUB if system == hub_system else incoming.system
