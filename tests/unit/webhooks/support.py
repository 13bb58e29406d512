"""Shared by the per-provider tests: independent reference MACs and a refusal assertion.

The reference functions are written from the providers' documented formulas with hashlib
and hmac directly, never through the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest

from integration_core.webhooks import Reason, WebhookVerificationError, verify_webhook

__all__ = ["NOW", "hmac_b64", "hmac_hex", "refused"]

NOW = 1_700_000_000.0


def hmac_hex(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, getattr(hashlib, algorithm)).hexdigest()


def hmac_b64(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    digest = hmac.new(secret.encode(), message, getattr(hashlib, algorithm)).digest()
    return base64.b64encode(digest).decode()


def refused(
    provider: str,
    reason: Reason,
    *,
    call: Callable[..., object] = verify_webhook,
    **request: Any,
) -> WebhookVerificationError:
    """Assert the request (to `call`: verify_webhook or answer_handshake) is refused for
    `reason`, and that no secret leaks into the error."""
    with pytest.raises(WebhookVerificationError) as caught:
        call(provider, **request)
    assert caught.value.reason is reason, str(caught.value)
    secrets = request["secret"]
    for secret in [secrets] if isinstance(secrets, str) else secrets:
        assert not secret or secret not in str(caught.value)
    return caught.value
