"""The Salesforce-shaped fake ships in `adapters.fakes.salesforce` (the demo serves it too)."""

from __future__ import annotations

from adapters.fakes.salesforce import SalesforceFake, sf_time

__all__ = ["SalesforceFake", "sf_time"]
