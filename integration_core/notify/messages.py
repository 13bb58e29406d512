"""What an alert says, and how Slack and Teams are sent it.

A message is built from fixed wording per alert kind plus ids and counts only: never a
secret, never a record's content, never a provider's error text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Alert", "AlertKind", "DestinationKind", "Phase", "render"]


class AlertKind(StrEnum):
    SYNC_FAILING = "sync_failing"
    NEEDS_REAUTH = "needs_reauth"
    WEBHOOK_DISABLED = "webhook_disabled"
    WEBHOOKS_MISSED = "webhooks_missed"
    RATE_LIMIT_EXHAUSTED = "rate_limit_exhausted"
    LIMITER_FALLBACK = "limiter_fallback"
    DECISION_WAITING = "decision_waiting"
    MASS_DELETE_HELD = "mass_delete_held"
    CIRCUIT_OPEN = "circuit_open"


class DestinationKind(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"


class Phase(StrEnum):
    """An incident's messages: the first alert, digests while it lasts, its resolution."""

    ALERT = "alert"
    DIGEST = "digest"
    RESOLVED = "resolved"


TITLES: Mapping[AlertKind, str] = {
    AlertKind.SYNC_FAILING: "A sync task keeps failing",
    AlertKind.NEEDS_REAUTH: "A connection needs to be re-authorized",
    AlertKind.WEBHOOK_DISABLED: "A webhook registration was disabled",
    AlertKind.WEBHOOKS_MISSED: "Reconciliation found missed webhooks",
    AlertKind.RATE_LIMIT_EXHAUSTED: "A rate limit has been exhausted for long",
    AlertKind.LIMITER_FALLBACK: "The rate limiter runs on its local fallback",
    AlertKind.DECISION_WAITING: "A conflict or duplicate has waited too long for a decision",
    AlertKind.MASS_DELETE_HELD: "A mass delete is held for an admin",
    AlertKind.CIRCUIT_OPEN: "A provider is failing; its connection's circuit is open",
}
PREFIX: Mapping[Phase, str] = {
    Phase.ALERT: "Alert",
    Phase.DIGEST: "Still happening",
    Phase.RESOLVED: "Resolved",
}


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One occurrence of trouble: ids (tenant, subject) and counts, nothing else."""

    tenant_id: str
    kind: AlertKind
    subject_id: str
    counts: Mapping[str, int] = field(default_factory=dict)


def render(
    destination: DestinationKind, alert: Alert, phase: Phase, counts: Mapping[str, int]
) -> dict[str, Any]:
    """The JSON body `destination` expects for `alert` in `phase`."""
    title = f"{PREFIX[phase]}: {TITLES[alert.kind]}"
    facts = {"tenant": alert.tenant_id, "subject": alert.subject_id} | {
        name: str(int(value)) for name, value in sorted(counts.items())
    }
    if destination is DestinationKind.SLACK:
        return _slack(title, facts)
    return _teams(title, facts)


def _slack(title: str, facts: Mapping[str, str]) -> dict[str, Any]:
    """An incoming-webhook body: `text` for notifications, blocks for the channel."""
    lines = "\n".join(f"*{_slack_escape(k)}*: `{_slack_escape(v)}`" for k, v in facts.items())
    return {
        "text": title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
        ],
    }


def _slack_escape(text: str) -> str:
    # Slack's formatting rules: &, < and > are the only control characters to escape.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _teams(title: str, facts: Mapping[str, str]) -> dict[str, Any]:
    """A Teams Workflows webhook body: a message whose attachment is an Adaptive Card.

    The "Post to a channel when a webhook request is received" workflow takes this shape
    (Microsoft's "Create incoming webhooks with Workflows for Microsoft Teams").
    """
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": title,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts.items()]},
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
