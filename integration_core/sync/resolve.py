"""Three-way resolution of one incoming change against the hub record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integration_core.sync._private import (
    ABSENT,
    PROTECTED_RULE,
    decide,
    detach,
    element_key,
    same,
)
from integration_core.sync.policy import ADMIN, HUB, Policy, Strategy
from integration_core.sync.records import FieldConflict, Resolution, Side

__all__ = ["ABSENT", "resolve", "merge_lists"]


def resolve(
    base: Mapping[str, Any] | None, hub: Side, incoming: Side, policy: Policy
) -> Resolution:
    """Apply `incoming` to the hub record, field by field, against the last synced `base`.

    A field changed on a side when its value differs from `base` (a missing key is ABSENT,
    not None); with `base=None` a field present on one side only was changed by that side.
    Incoming-only changes apply (protected fields only from ADMIN); fields changed on both
    sides to different values are conflicts decided by `policy` (see DESIGN.md). Under
    field_merge, a list changed on both sides is merged as a set instead and counts as
    applied. Pure: the arguments are never mutated and the result shares no containers.
    """
    names: set[str] = set(hub.values) | set(incoming.values)
    if base is not None:
        names.update(base)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    applied: list[str] = []
    conflicts: list[FieldConflict] = []
    pending: list[FieldConflict] = []
    may_protect = incoming.system != ADMIN

    for name in sorted(names):
        hub_value = hub.values.get(name, ABSENT)
        incoming_value = incoming.values.get(name, ABSENT)
        if base is None:
            base_value: Any = ABSENT
            hub_changed = hub_value is not ABSENT
            incoming_changed = incoming_value is not ABSENT
        else:
            base_value = base.get(name, ABSENT)
            hub_changed = not same(hub_value, base_value)
            incoming_changed = not same(incoming_value, base_value)

        take_incoming = False
        merged: Any = ABSENT
        if not incoming_changed or same(hub_value, incoming_value):
            pass
        elif may_protect and name in policy.protected_fields:
            if hub_changed:
                conflict = FieldConflict(
                    name, base_value, hub_value, incoming_value, HUB, PROTECTED_RULE
                )
                conflicts.append(conflict)
        elif not hub_changed:
            take_incoming = True
        elif (
            policy.strategy is Strategy.FIELD_MERGE
            and isinstance(hub_value, list)
            and isinstance(incoming_value, list)
        ):
            merged = merge_lists(base_value, hub_value, incoming_value)
        else:
            winner, rule = decide(name, hub, incoming, policy)
            conflict = FieldConflict(name, base_value, hub_value, incoming_value, winner, rule)
            conflicts.append(conflict)
            if winner is None:
                pending.append(conflict)
            take_incoming = winner is not None and winner != HUB

        if merged is not ABSENT:
            values[name] = merged
            if same(merged, hub_value):
                sources[name] = hub.source_of(name)
            else:
                sources[name] = incoming.source_of(name)
                applied.append(name)
        elif take_incoming:
            applied.append(name)
            if incoming_value is not ABSENT:
                values[name] = detach(incoming_value)
                sources[name] = incoming.source_of(name)
        elif hub_value is not ABSENT:
            values[name] = detach(hub_value)
            sources[name] = hub.source_of(name)

    return Resolution(
        values=values,
        sources=sources,
        applied=frozenset(applied),
        conflicts=tuple(conflicts),
        pending=tuple(pending),
    )


def merge_lists(base: Any, hub: list[Any], incoming: list[Any]) -> list[Any]:
    """Three-way merge of list values as sets: both sides' additions and removals kept.

    The hub's surviving elements come first in its order, then the incoming additions in
    theirs; duplicates collapse. A `base` that is not a list counts as empty.
    """
    base_keys = {element_key(v) for v in base} if isinstance(base, list) else set()
    incoming_keys = {element_key(v) for v in incoming}
    hub_keys: set[Any] = set()
    result: list[Any] = []
    for value in hub:
        key = element_key(value)
        if key in hub_keys:
            continue
        hub_keys.add(key)
        if key in incoming_keys or key not in base_keys:
            result.append(detach(value))
    for value in incoming:
        key = element_key(value)
        if key not in base_keys and key not in hub_keys:
            hub_keys.add(key)
            result.append(detach(value))
    return result
