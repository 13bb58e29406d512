"""Twilio: every vector of twilio-python's request validator tests."""

from __future__ import annotations

import pytest

from integration_core.webhooks import Reason, delivery_id, verify_webhook
from integration_core.webhooks.providers.twilio import url_variants
from tests.unit.webhooks.support import refused

pytestmark = pytest.mark.unit

# twilio/twilio-python tests/unit/test_request_validator.py
TOKEN = "12345"
URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
FORM = (
    b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212"
    b"&Caller=%2B14158675309"
)
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
JSON_BODY = b'{"property": "value", "boolean": true}'
BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def verify(url: str, body: bytes, signature: str, *, content_type: bool = True) -> None:
    headers = {"X-Twilio-Signature": signature} | (FORM_TYPE if content_type else {})
    verify_webhook("twilio", secret=TOKEN, headers=headers, body=body, url=url)


def test_form_params_sorted_and_concatenated() -> None:
    verify(URI, FORM, EXPECTED)


def test_duplicate_params_sort_by_value() -> None:
    verify(
        URI, b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234", "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    )


def test_port_is_removed_on_https() -> None:
    verify(URI.replace(".com", ".com:1234"), FORM, EXPECTED)


def test_port_is_kept_on_http() -> None:
    verify(
        URI.replace(".com", ".com:1234").replace("https", "http"),
        FORM,
        "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
    )


def test_default_port_is_added_on_https() -> None:
    verify(URI, FORM, "kvajT1Ptam85bY51eRf/AJRuM3w=")


def test_default_port_is_added_on_http() -> None:
    verify(URI.replace("https", "http"), FORM, "0ZXoZLH/DfblKGATFgpif+LLRf4=")


def test_json_body_with_body_sha256() -> None:
    url = URI + "&bodySHA256=" + BODY_HASH
    verify(url, JSON_BODY, "a9nBmqA0ju/hNViExpshrM61xv4=", content_type=False)


def test_json_body_that_does_not_match_body_sha256_is_refused() -> None:
    url = URI + "&bodySHA256=" + BODY_HASH
    headers = {"X-Twilio-Signature": "a9nBmqA0ju/hNViExpshrM61xv4="}
    refused(
        "twilio",
        Reason.BAD_SIGNATURE,
        secret=TOKEN,
        headers=headers,
        body=JSON_BODY + b" ",
        url=url,
    )


def test_unsigned_json_body_is_refused() -> None:
    headers = {"X-Twilio-Signature": EXPECTED, "Content-Type": "application/json"}
    refused("twilio", Reason.MALFORMED_BODY, secret=TOKEN, headers=headers, body=JSON_BODY, url=URI)


def test_tampered_param_is_refused() -> None:
    headers = {"X-Twilio-Signature": EXPECTED} | FORM_TYPE
    body = FORM.replace(b"Digits=1234", b"Digits=9999")
    refused("twilio", Reason.BAD_SIGNATURE, secret=TOKEN, headers=headers, body=body, url=URI)


def test_other_url_is_refused() -> None:
    headers = {"X-Twilio-Signature": EXPECTED} | FORM_TYPE
    other = URI.replace("myapp", "yourapp")
    refused("twilio", Reason.BAD_SIGNATURE, secret=TOKEN, headers=headers, body=FORM, url=other)


def test_wrong_token_is_refused() -> None:
    headers = {"X-Twilio-Signature": EXPECTED} | FORM_TYPE
    refused("twilio", Reason.BAD_SIGNATURE, secret="54321", headers=headers, body=FORM, url=URI)


def test_missing_header_is_refused() -> None:
    refused("twilio", Reason.MISSING_HEADER, secret=TOKEN, headers=FORM_TYPE, body=FORM, url=URI)


def test_delivery_id_is_the_idempotency_token() -> None:
    headers = {"I-Twilio-Idempotency-Token": "a1b2"}
    assert delivery_id("twilio", headers=headers, body=FORM) == "twilio:a1b2"


def test_url_variants_keep_host_case_userinfo_and_ipv6() -> None:
    assert url_variants("https://u:p@Example.COM:8443/a?b=1") == (
        "https://u:p@Example.COM/a?b=1",
        "https://u:p@Example.COM:8443/a?b=1",
    )
    assert url_variants("http://[::1]/hook") == ("http://[::1]/hook", "http://[::1]:80/hook")
