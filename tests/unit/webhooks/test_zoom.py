"""Zoom: x-zm-signature over "v0:<timestamp>:<body>", and endpoint.url_validation.

Zoom publishes no vector; the references are its documented formulas: "v0=" + hex
HMAC-SHA256(secret token, "v0:" + x-zm-request-timestamp + ":" + body), and encryptedToken =
hex HMAC-SHA256(secret token, plainToken)
(https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events).
"""

from __future__ import annotations

import json

import pytest

from integration_core.webhooks import (
    Reason,
    answer_handshake,
    delivery_id,
    verify_webhook,
)
from tests.unit.webhooks.support import NOW, hmac_hex, refused

pytestmark = pytest.mark.unit

SECRET = "PWeHeLkPQr2dwaqRRNnTpw"
BODY = (
    b'{"event":"meeting.started","payload":{"account_id":"D8cJuqWVQ623CI4Q8yQK0Q",'
    b'"object":{"id":"1234567890"}},"event_ts":1700000000000}'
)
TS = str(int(NOW))


def signed(body: bytes, ts: str = TS, secret: str = SECRET) -> dict[str, str]:
    signature = "v0=" + hmac_hex(secret, b"v0:" + ts.encode() + b":" + body)
    return {
        "x-zm-signature": signature,
        "x-zm-request-timestamp": ts,
        "x-zm-trackingid": "v=2.0&x=1",
    }


def test_signature_verifies() -> None:
    verify_webhook("zoom", secret=SECRET, headers=signed(BODY), body=BODY, now=NOW)


def test_tampered_body_is_refused() -> None:
    refused(
        "zoom", Reason.BAD_SIGNATURE, secret=SECRET, headers=signed(BODY), body=BODY + b" ", now=NOW
    )


def test_wrong_secret_is_refused() -> None:
    refused("zoom", Reason.BAD_SIGNATURE, secret="other", headers=signed(BODY), body=BODY, now=NOW)


@pytest.mark.parametrize("missing", ["x-zm-signature", "x-zm-request-timestamp"])
def test_missing_header_is_refused(missing: str) -> None:
    headers = {k: v for k, v in signed(BODY).items() if k != missing}
    refused("zoom", Reason.MISSING_HEADER, secret=SECRET, headers=headers, body=BODY, now=NOW)


def test_stale_and_future_timestamps_are_refused() -> None:
    old, new = str(int(NOW) - 301), str(int(NOW) + 301)
    refused(
        "zoom", Reason.STALE_TIMESTAMP, secret=SECRET, headers=signed(BODY, old), body=BODY, now=NOW
    )
    refused(
        "zoom",
        Reason.FUTURE_TIMESTAMP,
        secret=SECRET,
        headers=signed(BODY, new),
        body=BODY,
        now=NOW,
    )


def test_unknown_scheme_is_refused() -> None:
    headers = signed(BODY) | {"x-zm-signature": "v1=" + "ab" * 32}
    refused("zoom", Reason.UNKNOWN_SCHEME, secret=SECRET, headers=headers, body=BODY, now=NOW)


def test_url_validation_is_verified_then_answered() -> None:
    body = json.dumps(
        {
            "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
            "event_ts": 1654503849680,
            "event": "endpoint.url_validation",
        }
    ).encode()
    reply = answer_handshake("zoom", secret=SECRET, headers=signed(body), body=body, now=NOW)
    assert reply is not None
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert json.loads(reply.body) == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": hmac_hex(SECRET, b"qgg8vlvZRS6UYooatFL8Aw"),
    }


def test_url_validation_answers_with_the_secret_that_verified() -> None:
    body = b'{"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}}'
    reply = answer_handshake(
        "zoom", secret=["new-secret", SECRET], headers=signed(body), body=body, now=NOW
    )
    assert reply is not None
    assert json.loads(reply.body)["encryptedToken"] == hmac_hex(SECRET, b"abc")


def test_forged_url_validation_is_refused() -> None:
    body = b'{"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}}'
    headers = signed(body, secret="x")
    refused(
        "zoom",
        Reason.BAD_SIGNATURE,
        call=answer_handshake,
        secret=SECRET,
        headers=headers,
        body=body,
        now=NOW,
    )


def test_url_validation_without_plain_token_is_malformed() -> None:
    body = b'{"event": "endpoint.url_validation", "payload": {}}'
    error = refused(
        "zoom",
        Reason.MALFORMED_BODY,
        call=answer_handshake,
        secret=SECRET,
        headers=signed(body),
        body=body,
        now=NOW,
    )
    assert error.status == 400


def test_delivery_id_is_the_tracking_id() -> None:
    assert delivery_id("zoom", headers=signed(BODY), body=BODY) == "zoom:v=2.0&x=1"
