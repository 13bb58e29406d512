"""GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.

The legacy `X-Hub-Signature: sha1=…` is accepted only when the caller enables it and no
sha256 header came. GitHub signs no timestamp; the inbox keys on X-GitHub-Delivery.
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
"""

from __future__ import annotations

from integration_core.webhooks._hmac import HmacScheme
from integration_core.webhooks.types import Check, Delivery, Provider

__all__ = ["PROVIDER"]

SHA256 = HmacScheme(header="X-Hub-Signature-256", prefix="sha256=")
SHA1 = HmacScheme(header="X-Hub-Signature", prefix="sha1=", algorithm="sha1")


def prepare(delivery: Delivery) -> Check:
    if delivery.allow_legacy and SHA256.header not in delivery.headers:
        return SHA1.prepare(delivery)
    return SHA256.prepare(delivery)


PROVIDER = Provider(name="github", prepare=prepare, delivery_id_headers=("X-GitHub-Delivery",))
