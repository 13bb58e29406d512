"""Jira: WebSub-style X-Hub-Signature.

Atlassian publishes no vector; the reference is the documented formula,
"sha256=" + hex HMAC-SHA256(secret, raw body)
(https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks).
"""

from __future__ import annotations

import pytest

from integration_core.webhooks import Reason, delivery_id, verify_webhook
from tests.unit.webhooks.support import hmac_hex, refused

pytestmark = pytest.mark.unit

SECRET = "It's a Secret to Everybody"
BODY = b'{"timestamp":1714000000000,"webhookEvent":"jira:issue_updated","issue":{"id":"10002"}}'
HEADERS = {
    "X-Hub-Signature": "sha256=" + hmac_hex(SECRET, BODY),
    "X-Atlassian-Webhook-Identifier": "1234567890",
}


def test_signature_verifies() -> None:
    verify_webhook("jira", secret=SECRET, headers=HEADERS, body=BODY)


def test_tampered_body_is_refused() -> None:
    refused("jira", Reason.BAD_SIGNATURE, secret=SECRET, headers=HEADERS, body=BODY[:-1])


def test_wrong_secret_is_refused() -> None:
    refused("jira", Reason.BAD_SIGNATURE, secret="other", headers=HEADERS, body=BODY)


def test_missing_header_is_refused() -> None:
    refused("jira", Reason.MISSING_HEADER, secret=SECRET, headers={}, body=BODY)


def test_unknown_scheme_is_refused() -> None:
    headers = {"X-Hub-Signature": "sha1=" + hmac_hex(SECRET, BODY, "sha1")}
    refused("jira", Reason.UNKNOWN_SCHEME, secret=SECRET, headers=headers, body=BODY)


def test_delivery_id_is_the_webhook_identifier() -> None:
    assert delivery_id("jira", headers=HEADERS, body=BODY) == "jira:1234567890"
