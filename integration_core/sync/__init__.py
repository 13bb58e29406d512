"""The bidirectional sync engine: conflict strategies and three-way field merge (pure).

Echo guard, tombstones and watermarks live in `sync.echo`, `sync.tombstones` and
`sync.watermark`.
"""

from __future__ import annotations

from integration_core.sync.policy import Policy, Strategy
from integration_core.sync.records import FieldConflict, Resolution, Side
from integration_core.sync.resolve import resolve

__all__ = ["Strategy", "Side", "Policy", "Resolution", "FieldConflict", "resolve"]
