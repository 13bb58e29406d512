"""The HubSpot-shaped fake ships in `adapters.fakes.hubspot` (the demo serves it too)."""

from __future__ import annotations

from adapters.fakes.hubspot import SEARCH_LIMIT, HubSpotFake

__all__ = ["HubSpotFake", "SEARCH_LIMIT"]
