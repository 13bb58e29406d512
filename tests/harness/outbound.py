"""The outbound policy of tests: public https, plus loopback, where the test servers run."""

from __future__ import annotations

from integration_core.net import OutboundPolicy

__all__ = ["LOOPBACK", "LOOPBACK_CIDRS"]

# What OUTBOUND_ALLOW_PRIVATE_CIDRS is in local.settings.sample.json.
LOOPBACK_CIDRS = "127.0.0.0/8,::1/128"
LOOPBACK = OutboundPolicy.from_setting(LOOPBACK_CIDRS)
