"""Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`.

Shopify signs no timestamp (X-Shopify-Triggered-At is unsigned, so it proves nothing);
replays are the inbox's job, keyed on X-Shopify-Webhook-Id.
https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook
"""

from __future__ import annotations

from integration_core.webhooks._hmac import HmacScheme
from integration_core.webhooks.types import Provider

__all__ = ["PROVIDER"]

SCHEME = HmacScheme(header="X-Shopify-Hmac-Sha256", encoding="base64")

PROVIDER = Provider(
    name="shopify",
    prepare=SCHEME.prepare,
    delivery_id_headers=("X-Shopify-Webhook-Id",),
)
