"""Microsoft Graph: clientState on every notification, and the validationToken echo
(https://learn.microsoft.com/graph/change-notifications-delivery-webhooks)."""

from __future__ import annotations

import json

import pytest

from integration_core.webhooks import (
    Reason,
    answer_handshake,
    verify_webhook,
)
from tests.unit.webhooks.support import refused

pytestmark = pytest.mark.unit

STATE = "secretClientValue"
URL = "https://lockstep.example/api/webhooks/reg-1"


def body(*states: object) -> bytes:
    notifications = [
        {
            "subscriptionId": "7f105c7d",
            "clientState": state,
            "changeType": "updated",
            "resource": "Users/1",
        }
        for state in states
    ]
    return json.dumps({"value": notifications}).encode()


def test_client_state_verifies() -> None:
    verify_webhook("microsoft_graph", secret=STATE, headers={}, body=body(STATE, STATE))


def test_one_wrong_client_state_refuses_the_batch() -> None:
    refused(
        "microsoft_graph", Reason.BAD_SIGNATURE, secret=STATE, headers={}, body=body(STATE, "other")
    )


def test_wrong_secret_is_refused() -> None:
    refused("microsoft_graph", Reason.BAD_SIGNATURE, secret="other", headers={}, body=body(STATE))


def test_missing_client_state_is_refused() -> None:
    refused("microsoft_graph", Reason.BAD_SIGNATURE, secret=STATE, headers={}, body=body(None))


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'{"value": []}', b'{"value": {}}'])
def test_malformed_body_is_a_400(raw: bytes) -> None:
    error = refused("microsoft_graph", Reason.MALFORMED_BODY, secret=STATE, headers={}, body=raw)
    assert error.status == 400


def test_validation_token_is_echoed_as_text() -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 25b6"
    url = (
        URL + "?validationToken=Validation%3a+Testing+client+application+reachability"
        "+for+subscription+Request-Id%3a+25b6"
    )
    reply = answer_handshake("microsoft_graph", secret=STATE, headers={}, body=b"", url=url)
    assert reply is not None
    assert (reply.status, reply.content_type, reply.body) == (200, "text/plain", token.encode())


def test_oversized_validation_token_is_refused() -> None:
    refused(
        "microsoft_graph",
        Reason.MALFORMED_BODY,
        call=answer_handshake,
        secret=STATE,
        headers={},
        body=b"",
        url=URL + "?validationToken=" + "a" * 5000,
    )


def test_a_notification_is_no_handshake() -> None:
    assert (
        answer_handshake("microsoft_graph", secret=STATE, headers={}, body=body(STATE), url=URL)
        is None
    )
