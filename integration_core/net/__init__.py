"""Outbound HTTP: where requests for a connection may go, and clients that enforce it."""

from __future__ import annotations

from integration_core.net.excerpt import body_excerpt
from integration_core.net.policy import OutboundPolicy, OutboundPolicyError, parse_cidrs
from integration_core.net.transport import GuardedTransport, outbound_client, outbound_options

__all__ = [
    "body_excerpt",
    "GuardedTransport",
    "OutboundPolicy",
    "OutboundPolicyError",
    "outbound_client",
    "outbound_options",
    "parse_cidrs",
]
