"""GitHub: X-Hub-Signature-256 against GitHub's documented example and octokit's vectors."""

from __future__ import annotations

import json

import pytest

from integration_core.webhooks import Reason, delivery_id, verify_webhook
from tests.unit.webhooks.support import hmac_hex, refused

pytestmark = pytest.mark.unit

# docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries ("Testing the
# webhook payload validation").
DOCS_SECRET = "It's a Secret to Everybody"
DOCS_BODY = b"Hello, World!"
DOCS_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# octokit/webhooks-methods.js test/verify.test.ts: {"foo": "bar"} as GitHub sends it
# (2-space indent, trailing newline), and the payload with escapes from octokit/webhooks.js#71.
OCTOKIT_SECRET = "mysecret"
OCTOKIT_BODY = (json.dumps({"foo": "bar"}, indent=2) + "\n").encode()
OCTOKIT_SIGNATURE = "sha256=e3eccac34c43c7dc1cbb905488b1b81347fcc700a7b025697a9d07862256023f"
OCTOKIT_ESCAPED_BODY = (json.dumps({"foo": "\\u001b"}, indent=2) + "\n").encode()
OCTOKIT_ESCAPED_SIGNATURE = (
    "sha256=87316067e2011fae39998b18c46a14d83b3e7c3ffdd88fb2ee5afb7d11288e60"
)


@pytest.mark.parametrize(
    ("secret", "body", "signature"),
    [
        (DOCS_SECRET, DOCS_BODY, DOCS_SIGNATURE),
        (OCTOKIT_SECRET, OCTOKIT_BODY, OCTOKIT_SIGNATURE),
        ("development", OCTOKIT_ESCAPED_BODY, OCTOKIT_ESCAPED_SIGNATURE),
    ],
)
def test_official_vectors_verify(secret: str, body: bytes, signature: str) -> None:
    verify_webhook("github", secret=secret, headers={"X-Hub-Signature-256": signature}, body=body)


def test_header_names_and_hex_case_do_not_matter() -> None:
    headers = {"x-HUB-signature-256": "sha256=" + DOCS_SIGNATURE[7:].upper()}
    verify_webhook("github", secret=DOCS_SECRET, headers=headers, body=DOCS_BODY)


def test_tampered_body_is_refused() -> None:
    refused(
        "github",
        Reason.BAD_SIGNATURE,
        secret=DOCS_SECRET,
        headers={"X-Hub-Signature-256": DOCS_SIGNATURE},
        body=DOCS_BODY + b" ",
    )


def test_wrong_secret_is_refused() -> None:
    refused(
        "github",
        Reason.BAD_SIGNATURE,
        secret="foo",
        headers={"X-Hub-Signature-256": DOCS_SIGNATURE},
        body=DOCS_BODY,
    )


def test_missing_header_is_refused() -> None:
    refused("github", Reason.MISSING_HEADER, secret=DOCS_SECRET, headers={}, body=DOCS_BODY)


@pytest.mark.parametrize("signature", ["sha512=" + "ab" * 64, "sha1=" + "ab" * 20, "foo"])
def test_unknown_scheme_is_refused(signature: str) -> None:
    headers = {"X-Hub-Signature-256": signature}
    refused("github", Reason.UNKNOWN_SCHEME, secret=DOCS_SECRET, headers=headers, body=DOCS_BODY)


def test_legacy_sha1_only_when_enabled() -> None:
    headers = {"X-Hub-Signature": "sha1=" + hmac_hex(DOCS_SECRET, DOCS_BODY, "sha1")}
    refused("github", Reason.MISSING_HEADER, secret=DOCS_SECRET, headers=headers, body=DOCS_BODY)
    verify_webhook("github", secret=DOCS_SECRET, headers=headers, body=DOCS_BODY, allow_legacy=True)


def test_sha256_wins_over_legacy_when_both_came() -> None:
    headers = {
        "X-Hub-Signature": "sha1=" + hmac_hex(DOCS_SECRET, DOCS_BODY, "sha1"),
        "X-Hub-Signature-256": "sha256=" + "00" * 32,
    }
    refused(
        "github",
        Reason.BAD_SIGNATURE,
        secret=DOCS_SECRET,
        headers=headers,
        body=DOCS_BODY,
        allow_legacy=True,
    )


def test_delivery_id_is_the_github_delivery_header() -> None:
    headers = {"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    key = delivery_id("github", headers=headers, body=DOCS_BODY)
    assert key == "github:72d3162e-cc78-11e3-81ab-4c9367dc0958"
