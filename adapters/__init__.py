"""Adapters: one small module per provider, each a spec run by the toolkit (`adapters.toolkit`).

The contract they implement, `IntegrationAdapter`, lives in `integration_core.ports`; the
registry there finds them by a connection's `system`.
"""

from __future__ import annotations

__all__: list[str] = []
