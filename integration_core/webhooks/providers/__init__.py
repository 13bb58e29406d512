"""The twelve providers by the names registrations use; one small module each."""

from __future__ import annotations

from types import MappingProxyType

from integration_core.webhooks.providers import (
    github,
    google_channel,
    hubspot,
    jira,
    microsoft_graph,
    notion,
    shopify,
    slack,
    standard_webhooks,
    stripe,
    twilio,
    zoom,
)
from integration_core.webhooks.types import Provider

__all__ = ["PROVIDERS"]

PROVIDERS: MappingProxyType[str, Provider] = MappingProxyType(
    {
        module.PROVIDER.name: module.PROVIDER
        for module in (
            github,
            slack,
            stripe,
            shopify,
            hubspot,
            notion,
            twilio,
            jira,
            zoom,
            standard_webhooks,
            google_channel,
            microsoft_graph,
        )
    }
)
