"""Google push channels: X-Goog-Channel-Token compared with the channel's token
(https://developers.google.com/calendar/api/guides/push#receiving-notifications)."""

from __future__ import annotations

import pytest

from integration_core.webhooks import (
    Reason,
    answer_handshake,
    delivery_id,
    verify_webhook,
)
from tests.unit.webhooks.support import refused

pytestmark = pytest.mark.unit

TOKEN = "target=lockstep-reg-42"
HEADERS = {
    "X-Goog-Channel-ID": "01234567-89ab-cdef-0123456789ab",
    "X-Goog-Channel-Token": TOKEN,
    "X-Goog-Message-Number": "7",
    "X-Goog-Resource-State": "exists",
}


def test_token_verifies() -> None:
    verify_webhook("google_channel", secret=TOKEN, headers=HEADERS, body=b"")


def test_wrong_token_is_refused() -> None:
    refused("google_channel", Reason.BAD_SIGNATURE, secret=TOKEN + "x", headers=HEADERS, body=b"")
    refused("google_channel", Reason.BAD_SIGNATURE, secret=TOKEN[:-1], headers=HEADERS, body=b"")


@pytest.mark.parametrize("missing", ["X-Goog-Channel-Token", "X-Goog-Channel-ID"])
def test_missing_header_is_refused(missing: str) -> None:
    partial = {k: v for k, v in HEADERS.items() if k != missing}
    refused("google_channel", Reason.MISSING_HEADER, secret=TOKEN, headers=partial, body=b"")


def test_sync_message_is_verified_then_answered() -> None:
    sync = HEADERS | {"X-Goog-Resource-State": "sync", "X-Goog-Message-Number": "1"}
    reply = answer_handshake("google_channel", secret=TOKEN, headers=sync, body=b"")
    assert reply is not None
    assert reply.status == 200
    refused(
        "google_channel",
        Reason.BAD_SIGNATURE,
        call=answer_handshake,
        secret="other",
        headers=sync,
        body=b"",
    )
    assert answer_handshake("google_channel", secret=TOKEN, headers=HEADERS, body=b"") is None


def test_delivery_id_is_channel_and_message_number() -> None:
    key = delivery_id("google_channel", headers=HEADERS, body=b"")
    assert key == "google_channel:01234567-89ab-cdef-0123456789ab:7"
