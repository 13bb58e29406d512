"""HubSpot v1, v2 and v3 against hubspot-api-python's vectors and HubSpot's documented examples."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from integration_core.webhooks import Reason, signed_timestamp, verify_webhook
from tests.unit.webhooks.support import refused

pytestmark = pytest.mark.unit

# HubSpot/hubspot-api-python tests/spec/utils/test_signature.py
SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
BODY = b"{'example_field':'example_value'}"
URL = "https://www.example.com/webhook_uri"
V1 = "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750"
V2 = "4fe4e3a7d3cf09db53be39d0a58130e2aaba074ec123a9e355b876a689a1c383"
V2_GET = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
V3 = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
V3_TIMESTAMP_MS = "15000000"

# developers.hubspot.com/docs/faq/v1-request-validation: the documented v1 example.
DOCS_V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
DOCS_V1 = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"


def v3_headers(signature: str = V3, timestamp: str = V3_TIMESTAMP_MS) -> dict[str, str]:
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


def v3_reference(method: str, uri: str, body: bytes, timestamp: str, secret: str = SECRET) -> str:
    """HubSpot's v3 formula: base64 HMAC-SHA256(secret, method + uri + body + timestamp)."""
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


V3_NOW = int(V3_TIMESTAMP_MS) / 1000


@pytest.mark.parametrize(
    ("version", "signature", "method", "body"),
    [
        ("v1", V1, "POST", BODY),
        ("v2", V2, "POST", BODY),
        ("v2", V2_GET, "GET", b""),
        ("v1", DOCS_V1, "POST", DOCS_V1_BODY),
    ],
)
def test_official_v1_v2_vectors_verify(
    version: str, signature: str, method: str, body: bytes
) -> None:
    headers = {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": version}
    verify_webhook("hubspot", secret=SECRET, headers=headers, body=body, url=URL, method=method)


def test_official_v3_vector_verifies() -> None:
    verify_webhook("hubspot", secret=SECRET, headers=v3_headers(), body=BODY, url=URL, now=V3_NOW)


def test_v3_wins_when_its_headers_are_present() -> None:
    headers = v3_headers("A" * 44) | {
        "X-HubSpot-Signature": V1,
        "X-HubSpot-Signature-Version": "v1",
    }
    refused(
        "hubspot",
        Reason.BAD_SIGNATURE,
        secret=SECRET,
        headers=headers,
        body=BODY,
        url=URL,
        now=V3_NOW,
    )


def test_v3_covers_method_url_body_and_timestamp() -> None:
    base = {"secret": SECRET, "body": BODY, "url": URL, "now": V3_NOW}
    refused("hubspot", Reason.BAD_SIGNATURE, headers=v3_headers(), **base | {"method": "PUT"})
    refused("hubspot", Reason.BAD_SIGNATURE, headers=v3_headers(), **base | {"url": URL + "?a=1"})
    refused("hubspot", Reason.BAD_SIGNATURE, headers=v3_headers(), **base | {"body": BODY + b" "})
    refused("hubspot", Reason.BAD_SIGNATURE, headers=v3_headers(timestamp="15000001"), **base)
    refused("hubspot", Reason.BAD_SIGNATURE, headers=v3_headers(), **base | {"secret": "other"})


def test_v3_decodes_the_listed_escapes_in_the_uri() -> None:
    received = "https://www.example.com/webhook_uri?email=jo%40x.org%2Cal%3Aex&space=a%20b"
    decoded = "https://www.example.com/webhook_uri?email=jo@x.org,al:ex&space=a%20b"
    signature = v3_reference("POST", decoded, BODY, V3_TIMESTAMP_MS)
    verify_webhook(
        "hubspot", secret=SECRET, headers=v3_headers(signature), body=BODY, url=received, now=V3_NOW
    )


def test_v3_stale_and_future_timestamps_are_refused() -> None:
    base = {"secret": SECRET, "body": BODY, "url": URL}
    refused("hubspot", Reason.STALE_TIMESTAMP, headers=v3_headers(), now=V3_NOW + 301, **base)
    refused("hubspot", Reason.FUTURE_TIMESTAMP, headers=v3_headers(), now=V3_NOW - 301, **base)


def test_v3_timestamp_is_milliseconds() -> None:
    assert signed_timestamp("hubspot", headers=v3_headers()) == V3_NOW


def test_missing_headers_are_refused() -> None:
    base = {"secret": SECRET, "body": BODY, "url": URL, "now": V3_NOW}
    refused("hubspot", Reason.MISSING_HEADER, headers={}, **base)
    refused("hubspot", Reason.MISSING_HEADER, headers={"X-HubSpot-Signature-v3": V3}, **base)
    refused("hubspot", Reason.MISSING_HEADER, headers={"X-HubSpot-Signature": V1}, **base)


def test_unknown_version_is_refused() -> None:
    headers = {"X-HubSpot-Signature": V1, "X-HubSpot-Signature-Version": "v9"}
    refused("hubspot", Reason.UNKNOWN_SCHEME, secret=SECRET, headers=headers, body=BODY, url=URL)


def test_v1_tampered_body_and_wrong_secret_are_refused() -> None:
    headers = {"X-HubSpot-Signature": V1, "X-HubSpot-Signature-Version": "v1"}
    refused("hubspot", Reason.BAD_SIGNATURE, secret=SECRET, headers=headers, body=BODY + b"x")
    refused("hubspot", Reason.BAD_SIGNATURE, secret="other", headers=headers, body=BODY)


def test_v3_without_url_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="url"):
        verify_webhook("hubspot", secret=SECRET, headers=v3_headers(), body=BODY, now=V3_NOW)
