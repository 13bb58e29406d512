"""Shopify: base64 HMAC-SHA256 of the raw body in X-Shopify-Hmac-Sha256, against
shopify-api-js's vector and Shopify's documented formula
(https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook).
"""

from __future__ import annotations

import pytest

from integration_core.webhooks import Reason, delivery_id, verify_webhook
from tests.unit.webhooks.support import hmac_b64, refused

pytestmark = pytest.mark.unit

SECRET = "hush"
BODY = b'{"id": 820982911946154508, "email": "jon@doe.ca", "note": "caf\xc3\xa9"}'
HEADERS = {"X-Shopify-Hmac-Sha256": hmac_b64(SECRET, BODY), "X-Shopify-Webhook-Id": "b54557e4"}


# Shopify/shopify-api-js packages/shopify-api/lib/webhooks/__tests__/validate.test.ts, with
# the apiSecretKey of its test config (lib/__tests__/test-helper.ts).
OFFICIAL_SECRET = "test_secret_key"
OFFICIAL_BODY = b'{"foo": "bar"}'
OFFICIAL_HMAC = "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="


def test_official_vector_verifies() -> None:
    headers = {"X-Shopify-Hmac-Sha256": OFFICIAL_HMAC}
    verify_webhook("shopify", secret=OFFICIAL_SECRET, headers=headers, body=OFFICIAL_BODY)


def test_signature_verifies_over_raw_bytes() -> None:
    verify_webhook("shopify", secret=SECRET, headers=HEADERS, body=BODY)


def test_reserialized_body_is_refused() -> None:
    reserialized = BODY.replace(b": ", b":")
    refused("shopify", Reason.BAD_SIGNATURE, secret=SECRET, headers=HEADERS, body=reserialized)


def test_wrong_secret_is_refused() -> None:
    refused("shopify", Reason.BAD_SIGNATURE, secret="other", headers=HEADERS, body=BODY)


def test_missing_header_is_refused() -> None:
    refused("shopify", Reason.MISSING_HEADER, secret=SECRET, headers={}, body=BODY)


@pytest.mark.parametrize("value", ["not base64!", "sha256=" + HEADERS["X-Shopify-Hmac-Sha256"]])
def test_garbled_signature_is_refused(value: str) -> None:
    headers = {"X-Shopify-Hmac-Sha256": value}
    refused("shopify", Reason.BAD_SIGNATURE, secret=SECRET, headers=headers, body=BODY)


def test_delivery_id_is_the_webhook_id() -> None:
    assert delivery_id("shopify", headers=HEADERS, body=BODY) == "shopify:b54557e4"
