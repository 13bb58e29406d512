"""What holds for every provider: rotation, unknown names, no secret, no leaks, and a fuzz of
headers and bodies that never raises anything but WebhookVerificationError."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration_core.webhooks import (
    PROVIDERS,
    Reason,
    WebhookVerificationError,
    answer_handshake,
    delivery_id,
    signed_timestamp,
    verify_webhook,
)
from tests.unit.webhooks.support import NOW, hmac_b64, hmac_hex, refused

pytestmark = pytest.mark.unit

CURRENT, PREVIOUS = "current-secret", "previous-secret"
BODY = b'{"action": "opened"}'


def github_headers(secret: str) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac_hex(secret, BODY)}


def test_the_twelve_providers_by_name() -> None:
    assert set(PROVIDERS) == {
        "github", "slack", "stripe", "shopify", "hubspot", "notion", "twilio", "jira",
        "zoom", "standard_webhooks", "google_channel", "microsoft_graph",
    }  # fmt: skip


@pytest.mark.parametrize("signed_with", [CURRENT, PREVIOUS])
def test_a_rotated_secret_verifies_with_current_or_previous(signed_with: str) -> None:
    verify_webhook(
        "github", secret=[CURRENT, PREVIOUS], headers=github_headers(signed_with), body=BODY
    )


def test_after_the_overlap_the_previous_secret_is_refused() -> None:
    refused(
        "github",
        Reason.BAD_SIGNATURE,
        secret=[CURRENT],
        headers=github_headers(PREVIOUS),
        body=BODY,
    )


@pytest.mark.parametrize("secret", ["", [], ["", ""]])
def test_no_secret_is_refused_never_accepted(secret: str | list[str]) -> None:
    refused("github", Reason.NO_SECRET, secret=secret, headers=github_headers(""), body=BODY)


def test_unknown_provider_is_refused() -> None:
    for call in (verify_webhook, answer_handshake):
        refused(
            "myspace", Reason.UNKNOWN_PROVIDER, call=call, secret=CURRENT, headers={}, body=BODY
        )


def test_refusals_log_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("github", secret=CURRENT, headers=github_headers("forged"), body=BODY)
    assert caplog.records
    assert CURRENT not in caplog.text
    assert hmac_hex(CURRENT, BODY) not in caplog.text


def test_delivery_id_falls_back_to_a_body_hash() -> None:
    first = delivery_id("stripe", headers={}, body=BODY)
    assert first == delivery_id("stripe", headers={"Stripe-Signature": "t=1,v1=x"}, body=BODY)
    assert first != delivery_id("stripe", headers={}, body=BODY + b" ")
    assert delivery_id("github", headers={"X-GitHub-Delivery": " "}, body=BODY).startswith(
        "github:sha256:"
    )


def test_providers_without_a_signed_time_expose_none() -> None:
    assert signed_timestamp("github", headers=github_headers(CURRENT)) is None


HEADER_NAMES = st.sampled_from(
    [
        "X-Hub-Signature-256", "X-Hub-Signature", "X-Slack-Signature", "X-Slack-Request-Timestamp",
        "Stripe-Signature", "X-Shopify-Hmac-Sha256", "X-HubSpot-Signature-v3",
        "X-HubSpot-Request-Timestamp", "X-HubSpot-Signature", "X-HubSpot-Signature-Version",
        "X-Notion-Signature", "X-Twilio-Signature", "Content-Type", "x-zm-signature",
        "x-zm-request-timestamp", "webhook-id", "webhook-timestamp", "webhook-signature",
        "X-Goog-Channel-Token", "X-Goog-Channel-ID", "X-Goog-Resource-State",
    ]
)  # fmt: skip
HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        ["v0=", "sha256=", "t=1,v1=", "v1,", "v1a,", "whsec_", "sync", "v3", "v1"]
    ).flatmap(
        lambda prefix: st.text(alphabet="0123456789abcdefABCDEF=+/,. ", max_size=90).map(
            prefix.__add__
        )
    ),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.just(str(int(NOW))),
    st.just("application/x-www-form-urlencoded"),
)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b'{"type": "url_verification", "challenge": 1}',
            b'{"value": [{}]}',
            b'{"event": "endpoint.url_validation", "payload": []}',
            b'{"verification_token": ""}',
            b"a=%ff&b",
            b"\xff\xfe",
        ]
    ),  # fmt: skip
)
URLS = st.one_of(
    st.just("https://x.example/hook?validationToken=&bodySHA256=zz"),
    st.text(max_size=60).map(lambda tail: "https://x.example:99999/" + tail),
    st.text(max_size=60).map(lambda tail: "http://[::1/" + tail),
)
# Long enough that finding one in a message means it leaked, not that it is a common word.
SECRETS = st.one_of(
    st.text(min_size=1, max_size=20).map("s3cr3t-value-".__add__),
    st.sampled_from(["whpk_AAAAAAAAAAAAAAA", "whpk_" + "A" * 43 + "=", "whsec_%%%%%%%%%%%"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    provider=st.sampled_from(sorted(PROVIDERS)),
    headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=6),
    body=BODIES,
    url=URLS,
    secret=SECRETS,
)
def test_fuzzed_deliveries_are_refused_cleanly(
    provider: str, headers: dict[str, str], body: bytes, url: str, secret: str
) -> None:
    """Anything a stranger can send ends in a verdict, never in another exception."""
    for call in (verify_webhook, answer_handshake):
        try:
            call(provider, secret=secret, headers=headers, body=body, url=url, now=NOW)
        except WebhookVerificationError as err:
            message = str(err)
        else:
            message = ""
        assert secret not in message
    delivery_id(provider, headers=headers, body=body)
    signed_timestamp(provider, headers=headers)


@pytest.mark.parametrize(
    ("provider", "headers"),
    [
        ("stripe", {"Stripe-Signature": "t=\u00b2,v1=00"}),
        ("standard_webhooks", {"webhook-timestamp": "\u0663\u00b2"}),
        ("slack", {"X-Slack-Request-Timestamp": "\u00b2"}),
    ],
)
def test_a_timestamp_of_other_digits_is_no_timestamp(
    provider: str, headers: dict[str, str]
) -> None:
    """str.isdigit() admits '²'; float() does not. A stranger's header must not raise."""
    assert signed_timestamp(provider, headers=headers) is None


T = str(int(NOW))


def _v0(secret: str, body: bytes) -> str:
    return "v0=" + hmac_hex(secret, b"v0:" + T.encode() + b":" + body)


# Each provider's documented formula, written out here; the code under test never signs.
REFERENCE_SIGNERS = {
    "github": lambda s, b: {"X-Hub-Signature-256": "sha256=" + hmac_hex(s, b)},
    "jira": lambda s, b: {"X-Hub-Signature": "sha256=" + hmac_hex(s, b)},
    "notion": lambda s, b: {"X-Notion-Signature": "sha256=" + hmac_hex(s, b)},
    "shopify": lambda s, b: {"X-Shopify-Hmac-Sha256": hmac_b64(s, b)},
    "slack": lambda s, b: {"X-Slack-Signature": _v0(s, b), "X-Slack-Request-Timestamp": T},
    "zoom": lambda s, b: {"x-zm-signature": _v0(s, b), "x-zm-request-timestamp": T},
    "stripe": lambda s, b: {"Stripe-Signature": f"t={T},v1=" + hmac_hex(s, T.encode() + b"." + b)},
}  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    provider=st.sampled_from(sorted(REFERENCE_SIGNERS)),
    secret=st.text(max_size=40).map("s3cr3t:".__add__),
    body=st.binary(min_size=1, max_size=200),
    flip=st.integers(min_value=0),
)
def test_any_raw_body_verifies_and_any_changed_byte_is_refused(
    provider: str, secret: str, body: bytes, flip: int
) -> None:
    """Raw bytes, not text: bodies that are not UTF-8 verify too, and one flipped byte fails."""
    headers = REFERENCE_SIGNERS[provider](secret, body)
    verify_webhook(provider, secret=secret, headers=headers, body=body, now=NOW)
    at = flip % len(body)
    tampered = body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]
    refused(provider, Reason.BAD_SIGNATURE, secret=secret, headers=headers, body=tampered, now=NOW)
    refused(
        provider, Reason.BAD_SIGNATURE, secret=secret + "x", headers=headers, body=body, now=NOW
    )


@pytest.mark.parametrize("secret", ["", ["", ""]])
def test_an_empty_secret_never_verifies_a_handshake(secret: str | list[str]) -> None:
    """HMAC with an empty key is a signature anyone can make."""
    body = b'{"type": "url_verification", "challenge": "c"}'
    headers = {"X-Slack-Signature": _v0("", body), "X-Slack-Request-Timestamp": T}
    refused(
        "slack",
        Reason.NO_SECRET,
        call=answer_handshake,
        secret=secret,
        headers=headers,
        body=body,
        now=NOW,
    )
