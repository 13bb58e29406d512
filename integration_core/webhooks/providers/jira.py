"""Jira Cloud: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>` (WebSub style).

Only admin-registered webhooks with a secret are signed; Jira signs no timestamp, and the
inbox keys on X-Atlassian-Webhook-Identifier, which stays the same across retries.
https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks
"""

from __future__ import annotations

from integration_core.webhooks._hmac import HmacScheme
from integration_core.webhooks.types import Provider

__all__ = ["PROVIDER"]

SCHEME = HmacScheme(header="X-Hub-Signature", prefix="sha256=")

PROVIDER = Provider(
    name="jira", prepare=SCHEME.prepare, delivery_id_headers=("X-Atlassian-Webhook-Identifier",)
)
