"""Webhook registrations as the app uses them: their events raise and resolve alerts.

One constructor for the receiver, reconciliation and the admin API, so that a registration
disabled by failures, re-enabled by an admin or missing deliveries is told to the operators
whichever path changed it.
"""

from __future__ import annotations

from integration_core.notify.sources import WebhookAlerts
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import WebhookRegistrations

__all__ = ["webhook_registrations"]


def webhook_registrations(rt: Runtime) -> WebhookRegistrations:
    return WebhookRegistrations(rt.store, rt.credentials, on_event=WebhookAlerts(rt.store))
