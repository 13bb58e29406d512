"""Telling operators: alerts to Slack and Teams, deduplicated into incidents, sent off the
sync path.
"""

from __future__ import annotations

from integration_core.notify.delivery import DeliveryReport, deliver_outbox
from integration_core.notify.destinations import (
    Destination,
    add_destination,
    list_destinations,
    remove_destination,
)
from integration_core.notify.incidents import raise_alert, resolve, send_digests
from integration_core.notify.messages import Alert, AlertKind, DestinationKind, Phase
from integration_core.notify.notifier import run_notifier
from integration_core.notify.sources import CredentialAlerts

__all__ = [
    "Alert",
    "AlertKind",
    "CredentialAlerts",
    "DeliveryReport",
    "Destination",
    "DestinationKind",
    "Phase",
    "add_destination",
    "deliver_outbox",
    "list_destinations",
    "raise_alert",
    "remove_destination",
    "resolve",
    "run_notifier",
    "send_digests",
]
