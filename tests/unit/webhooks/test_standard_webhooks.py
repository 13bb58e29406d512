"""Standard Webhooks: the libraries' v1 (HMAC) and v1a (Ed25519) vectors, and a cross-check
against the `standardwebhooks` package's own signer."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks.webhooks import Webhook

from integration_core.webhooks import Reason, delivery_id, signed_timestamp, verify_webhook
from tests.unit.webhooks.support import refused

pytestmark = pytest.mark.unit

# standard-webhooks/standard-webhooks libraries/python/tests/test_webhooks.py (test_sign_function)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
V1 = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
# libraries/go/webhook_asymmetric_test.go (TestAsymmetricWebhookSign): the Ed25519 seed and
# the v1a signature it makes over the same message.
SEED = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
V1A = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
# From the library tests' negative cases: a well-formed signature that matches nothing.
OTHER = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="


def public_key_secret(seed: str = SEED) -> str:
    private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "whpk_" + base64.b64encode(raw).decode()


def headers(signature: str, timestamp: int = TIMESTAMP, msg_id: str = MSG_ID) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def accepted(signature: str, *, secret: str = SECRET, body: bytes = BODY) -> None:
    verify_webhook(
        "standard_webhooks", secret=secret, headers=headers(signature), body=body, now=TIMESTAMP
    )


def refuse(reason: Reason, sent: dict[str, str], **request: object) -> None:
    request = {"secret": SECRET, "body": BODY, "now": TIMESTAMP} | request
    refused("standard_webhooks", reason, headers=sent, **request)


def test_v1_vector_verifies_with_and_without_prefix() -> None:
    accepted(V1)
    accepted(V1, secret=SECRET.removeprefix("whsec_"))


def test_v1a_vector_verifies_with_the_public_key() -> None:
    accepted(V1A, secret=public_key_secret())


def test_any_signature_of_the_keys_version_may_match() -> None:
    many = " ".join([OTHER, "v2," + V1[3:], V1, V1A])
    accepted(many)
    accepted(many, secret=public_key_secret())


def test_package_signer_agrees() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = '{"type": "contact.updated", "data": {"id": "42", "name": "Zoë"}}'
    signature = Webhook(SECRET).sign(msg_id="msg_1", timestamp=now, data=body)
    verify_webhook(
        "standard_webhooks",
        secret=SECRET,
        headers=headers(signature, int(now.timestamp()), "msg_1"),
        body=body.encode(),
        now=now.timestamp(),
    )


def test_tampered_body_and_id_are_refused() -> None:
    refuse(Reason.BAD_SIGNATURE, headers(V1), body=BODY + b" ")
    refuse(Reason.BAD_SIGNATURE, headers(V1, msg_id="msg_2"))
    refuse(Reason.BAD_SIGNATURE, headers(V1A), body=BODY + b" ", secret=public_key_secret())


def test_wrong_secret_is_refused() -> None:
    other = "whsec_" + base64.b64encode(b"another key of some length!").decode()
    refuse(Reason.BAD_SIGNATURE, headers(V1), secret=other)
    other_public = public_key_secret(base64.b64encode(b"B" * 32).decode())
    refuse(Reason.BAD_SIGNATURE, headers(V1A), secret=other_public)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_refused(missing: str) -> None:
    refuse(Reason.MISSING_HEADER, {k: v for k, v in headers(V1).items() if k != missing})


def test_stale_and_future_timestamps_are_refused() -> None:
    refuse(Reason.STALE_TIMESTAMP, headers(V1), now=TIMESTAMP + 301)
    refuse(Reason.FUTURE_TIMESTAMP, headers(V1), now=TIMESTAMP - 301)


@pytest.mark.parametrize("signature", ["v2," + V1[3:], "v1b,Zm9v", "garbage"])
def test_unknown_scheme_only_is_refused(signature: str) -> None:
    refuse(Reason.UNKNOWN_SCHEME, headers(signature))


@pytest.mark.parametrize("signature", ["v1,", "v1,not-base64!", "v1a,"])
def test_partial_signature_is_refused(signature: str) -> None:
    refuse(Reason.BAD_SIGNATURE, headers(signature))


def test_delivery_id_and_timestamp_are_exposed() -> None:
    key = delivery_id("standard_webhooks", headers=headers(V1), body=BODY)
    assert key == f"standard_webhooks:{MSG_ID}"
    assert signed_timestamp("standard_webhooks", headers=headers(V1)) == TIMESTAMP
