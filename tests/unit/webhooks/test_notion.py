"""Notion: X-Notion-Signature and the one-time verification_token.

Notion publishes no vector; the reference is the documented formula,
"sha256=" + hex HMAC-SHA256(verification_token, raw body)
(https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads-recommended).
"""

from __future__ import annotations

import pytest

from integration_core.webhooks import Reason, answer_handshake, verify_webhook
from tests.unit.webhooks.support import hmac_hex, refused

pytestmark = pytest.mark.unit

TOKEN = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
BODY = (
    b'{"id":"367cba44-b6f3-4c92-81e7-6a2e9659efd4","type":"page.content_updated",'
    b'"entity":{"id":"153104cd-477e-809d-8dc4-ff2d96ae3090","type":"page"}}'
)
HEADERS = {"X-Notion-Signature": "sha256=" + hmac_hex(TOKEN, BODY)}


def test_signature_verifies() -> None:
    verify_webhook("notion", secret=TOKEN, headers=HEADERS, body=BODY)


def test_tampered_body_is_refused() -> None:
    refused("notion", Reason.BAD_SIGNATURE, secret=TOKEN, headers=HEADERS, body=BODY + b"\n")


def test_wrong_secret_is_refused() -> None:
    refused("notion", Reason.BAD_SIGNATURE, secret="secret_other", headers=HEADERS, body=BODY)


def test_missing_header_is_refused() -> None:
    refused("notion", Reason.MISSING_HEADER, secret=TOKEN, headers={}, body=BODY)


def test_unknown_scheme_is_refused() -> None:
    headers = {"X-Notion-Signature": "sha1=" + hmac_hex(TOKEN, BODY, "sha1")}
    refused("notion", Reason.UNKNOWN_SCHEME, secret=TOKEN, headers=headers, body=BODY)


def test_verification_token_is_surfaced_for_the_registration() -> None:
    body = b'{"verification_token":"' + TOKEN.encode() + b'"}'
    reply = answer_handshake("notion", secret="", headers={}, body=body)
    assert reply is not None
    assert reply.status == 200
    assert reply.verification_token == TOKEN


@pytest.mark.parametrize(
    "body",
    [BODY, b'{"verification_token": 5}', b'{"verification_token": "x", "type": "page"}', b"[]"],
)
def test_anything_else_is_no_handshake(body: bytes) -> None:
    assert answer_handshake("notion", secret=TOKEN, headers={}, body=body) is None


def test_a_signed_delivery_is_never_a_handshake() -> None:
    body = b'{"verification_token":"x"}'
    headers = {"X-Notion-Signature": "sha256=" + hmac_hex(TOKEN, body)}
    assert answer_handshake("notion", secret=TOKEN, headers=headers, body=body) is None
