"""Slack v0 signatures against python-slack-sdk's vector, and the url_verification handshake."""

from __future__ import annotations

import json

import pytest

from integration_core.webhooks import (
    Reason,
    answer_handshake,
    signed_timestamp,
    verify_webhook,
)
from tests.unit.webhooks.support import hmac_hex, refused

pytestmark = pytest.mark.unit

# slackapi/python-slack-sdk tests/slack_sdk/signature/test_signature_verifier.py
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
    b"collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700"
    b"885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c"
    b"447fce8b6703c"
)
TIMESTAMP = "1531420618"
SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
HEADERS = {"X-Slack-Request-Timestamp": TIMESTAMP, "X-Slack-Signature": SIGNATURE}
NOW = float(TIMESTAMP)


def signed(body: bytes, timestamp: str = TIMESTAMP, secret: str = SECRET) -> dict[str, str]:
    """Slack's documented base string: v0:<timestamp>:<body>."""
    signature = "v0=" + hmac_hex(secret, b"v0:" + timestamp.encode() + b":" + body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def test_official_vector_verifies() -> None:
    verify_webhook("slack", secret=SECRET, headers=HEADERS, body=BODY, now=NOW)
    assert signed(BODY) == HEADERS


def test_tampered_body_is_refused() -> None:
    refused(
        "slack", Reason.BAD_SIGNATURE, secret=SECRET, headers=HEADERS, body=BODY + b"--", now=NOW
    )


def test_wrong_secret_is_refused() -> None:
    refused("slack", Reason.BAD_SIGNATURE, secret="x" * 32, headers=HEADERS, body=BODY, now=NOW)


@pytest.mark.parametrize("missing", ["X-Slack-Request-Timestamp", "X-Slack-Signature"])
def test_missing_header_is_refused(missing: str) -> None:
    headers = {k: v for k, v in HEADERS.items() if k != missing}
    refused("slack", Reason.MISSING_HEADER, secret=SECRET, headers=headers, body=BODY, now=NOW)


def test_stale_and_future_timestamps_are_refused() -> None:
    refused(
        "slack", Reason.STALE_TIMESTAMP, secret=SECRET, headers=HEADERS, body=BODY, now=NOW + 301
    )
    refused(
        "slack", Reason.FUTURE_TIMESTAMP, secret=SECRET, headers=HEADERS, body=BODY, now=NOW - 301
    )
    verify_webhook("slack", secret=SECRET, headers=HEADERS, body=BODY, now=NOW + 300)


def test_without_now_the_clock_refuses_the_2018_vector() -> None:
    refused("slack", Reason.STALE_TIMESTAMP, secret=SECRET, headers=HEADERS, body=BODY)


def test_tolerance_is_the_callers() -> None:
    refused(
        "slack",
        Reason.STALE_TIMESTAMP,
        secret=SECRET,
        headers=HEADERS,
        body=BODY,
        now=NOW + 11,
        tolerance_seconds=10,
    )


def test_unknown_scheme_is_refused() -> None:
    headers = HEADERS | {"X-Slack-Signature": "v1=" + SIGNATURE[3:]}
    refused("slack", Reason.UNKNOWN_SCHEME, secret=SECRET, headers=headers, body=BODY, now=NOW)


def test_non_numeric_timestamp_is_refused() -> None:
    headers = HEADERS | {"X-Slack-Request-Timestamp": "1531420618.5"}
    refused("slack", Reason.BAD_TIMESTAMP, secret=SECRET, headers=headers, body=BODY, now=NOW)


def test_url_verification_is_verified_then_echoed() -> None:
    body = json.dumps(
        {"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV", "type": "url_verification"}
    )
    reply = answer_handshake(
        "slack", secret=SECRET, headers=signed(body.encode()), body=body.encode(), now=NOW
    )
    assert reply is not None
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert json.loads(reply.body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}


def test_forged_url_verification_is_refused() -> None:
    body = b'{"type": "url_verification", "challenge": "abc"}'
    headers = signed(body, secret="other")
    refused(
        "slack",
        Reason.BAD_SIGNATURE,
        call=answer_handshake,
        secret=SECRET,
        headers=headers,
        body=body,
        now=NOW,
    )


def test_an_event_is_no_handshake() -> None:
    body = b'{"type": "event_callback", "event": {}}'
    assert (
        answer_handshake("slack", secret=SECRET, headers=signed(body), body=body, now=NOW) is None
    )


def test_signed_timestamp_is_exposed() -> None:
    assert signed_timestamp("slack", headers=HEADERS) == NOW
    assert signed_timestamp("slack", headers={}) is None
