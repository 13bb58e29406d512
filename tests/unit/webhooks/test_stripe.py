"""Stripe: t= and v1= over "<t>.<body>", with the payload and secret of stripe-python's tests.

stripe-python computes its vectors at test time (tests/test_webhook.py), so the signature here
comes from Stripe's documented formula: hex HMAC-SHA256(secret, "<t>.<payload>")
(https://docs.stripe.com/webhooks#verify-manually).
"""

from __future__ import annotations

import pytest

from integration_core.webhooks import Reason, signed_timestamp, verify_webhook
from tests.unit.webhooks.support import NOW, hmac_hex, refused

pytestmark = pytest.mark.unit

# stripe/stripe-python tests/test_webhook.py
SECRET = "whsec_test_secret"
BODY = b"""{
  "id": "evt_test_webhook",
  "object": "event",
  "data": { "object": { "id": "rdr_123", "object": "terminal.reader" } }
}"""
T = str(int(NOW))


def v1(body: bytes = BODY, t: str = T, secret: str = SECRET) -> str:
    return hmac_hex(secret, t.encode() + b"." + body)


def check(header: str, **request: object) -> None:
    verify_webhook(
        "stripe",
        **({"secret": SECRET, "body": BODY, "now": NOW} | request),
        headers={"Stripe-Signature": header},
    )


def test_valid_header_verifies() -> None:
    check(f"t={T},v1={v1()}")


def test_any_v1_may_match_and_other_schemes_are_ignored() -> None:
    check(f"t={T},v0={'ab' * 32},v1=bad_signature,v1={v1()},v2=zzz")


def test_tampered_body_is_refused() -> None:
    headers = {"Stripe-Signature": f"t={T},v1={v1()}"}
    refused(
        "stripe", Reason.BAD_SIGNATURE, secret=SECRET, headers=headers, body=BODY + b" ", now=NOW
    )


def test_wrong_secret_is_refused() -> None:
    headers = {"Stripe-Signature": f"t={T},v1={v1(secret='whsec_other')}"}
    refused("stripe", Reason.BAD_SIGNATURE, secret=SECRET, headers=headers, body=BODY, now=NOW)


def test_missing_header_is_refused() -> None:
    refused("stripe", Reason.MISSING_HEADER, secret=SECRET, headers={}, body=BODY, now=NOW)


@pytest.mark.parametrize(
    "header", ["bad_header", "i'm not even a real signature header", f"v1={'ab' * 32}"]
)
def test_malformed_header_is_refused(header: str) -> None:
    headers = {"Stripe-Signature": header}
    refused("stripe", Reason.BAD_TIMESTAMP, secret=SECRET, headers=headers, body=BODY, now=NOW)


def test_only_an_unknown_scheme_is_refused() -> None:
    headers = {"Stripe-Signature": f"t={T},v0={v1()}"}
    refused("stripe", Reason.UNKNOWN_SCHEME, secret=SECRET, headers=headers, body=BODY, now=NOW)


def test_stale_and_future_timestamps_are_refused() -> None:
    for t, reason in (
        (str(int(NOW) - 301), Reason.STALE_TIMESTAMP),
        (str(int(NOW) + 301), Reason.FUTURE_TIMESTAMP),
    ):
        headers = {"Stripe-Signature": f"t={t},v1={v1(t=t)}"}
        refused("stripe", reason, secret=SECRET, headers=headers, body=BODY, now=NOW)


def test_the_timestamp_is_signed() -> None:
    later = str(int(NOW) + 1)
    headers = {"Stripe-Signature": f"t={later},v1={v1()}"}
    refused("stripe", Reason.BAD_SIGNATURE, secret=SECRET, headers=headers, body=BODY, now=NOW)


def test_signed_timestamp_is_exposed() -> None:
    assert signed_timestamp("stripe", headers={"stripe-signature": f"t={T},v1=x"}) == NOW
