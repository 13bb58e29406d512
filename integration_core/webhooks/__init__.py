"""Webhook signature verification and handshakes for twelve providers.

```python
from integration_core.webhooks import verify_webhook, answer_handshake, WebhookVerificationError
```
One parameterised HMAC verifier (`_hmac.py`) and one small module per provider
(`providers/`); raw body bytes, constant-time comparisons, case-insensitive headers, and
stale and future timestamps refused.
"""

from __future__ import annotations

from integration_core.webhooks.providers import PROVIDERS
from integration_core.webhooks.types import HandshakeReply, Reason, WebhookVerificationError
from integration_core.webhooks.verify import (
    answer_handshake,
    delivery_id,
    signed_timestamp,
    verify_webhook,
)

__all__ = [
    "PROVIDERS",
    "HandshakeReply",
    "Reason",
    "WebhookVerificationError",
    "answer_handshake",
    "delivery_id",
    "signed_timestamp",
    "verify_webhook",
]
