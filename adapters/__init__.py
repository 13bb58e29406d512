"""Adapters: one small module per provider, each a spec run by the toolkit (`adapters.toolkit`).

The contract they implement, `IntegrationAdapter`, lives in `integration_core.ports`; the
registry there finds them by a connection's `system`. `parse_webhook(system, headers=...,
body=...)` turns a verified delivery into change notices with that system's parser.
"""

from __future__ import annotations

from integration_core.ports import parse_webhook

__all__ = ["parse_webhook"]
