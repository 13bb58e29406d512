"""The values `resolve` works on: the two sides of a change and what came of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Side", "FieldConflict", "Resolution"]


@dataclass(frozen=True)
class Side:
    """One side of a change: the hub's current record (`system="hub"`) or an incoming one.

    `field_sources` says which system set each field's current value (default: `system`);
    `field_modified_at` gives per-field times when the provider reports them.
    """

    system: str
    values: Mapping[str, Any]
    modified_at: datetime
    field_modified_at: Mapping[str, datetime] = field(default_factory=dict)
    field_sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modified_at.tzinfo is None:
            raise ValueError(f"naive modified_at for {self.system!r}: times must be aware")

    def source_of(self, name: str) -> str:
        return self.field_sources.get(name, self.system)


@dataclass(frozen=True)
class FieldConflict:
    """A field changed on both sides to different values.

    A value missing from a mapping is reported as `integration_core.sync.resolve.ABSENT`.
    `winner` is "hub", the incoming system, or None while the conflict is pending; `rule`
    says what decided it ("later modification", "field owner: salesforce", ...).
    """

    field: str
    base_value: Any
    hub_value: Any
    incoming_value: Any
    winner: str | None
    rule: str


@dataclass(frozen=True)
class Resolution:
    """The hub record after a change; `pending` conflicts are also in `conflicts`."""

    values: dict[str, Any]
    sources: dict[str, str]
    applied: frozenset[str]
    conflicts: tuple[FieldConflict, ...]
    pending: tuple[FieldConflict, ...]
