"""The WebhookReceiver pipeline on the embedded stack: registrations, the inbox, claim-check,
audit rows and every refusal, through `receive_webhook` as the function calls it."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration_core.clock import utcnow
from integration_core.errors import PermanentError
from integration_core.messaging import INBOUND_QUEUE
from integration_core.messaging.inline import InlineMessageQueue
from integration_core.models import MessageKind, SyncMessage
from integration_core.observability import install_log_context, log_context
from integration_core.pipelines.webhook_intake import MAX_BODY_BYTES, receive_webhook
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.webhooks.audit import AUDIT
from integration_core.webhooks.bodies import INLINE_BODY_BYTES
from integration_core.webhooks.inbox import INBOX, Inbox
from integration_core.webhooks.registrations import (
    RegistrationEvent,
    RegistrationStatus,
    WebhookRegistration,
    WebhookRegistrations,
)
from tests.harness.embedded import embedded_runtime
from tests.harness.webhooks import OutageQueue, github_delivery, slack_delivery

pytestmark = pytest.mark.unit
TENANT, CONNECTION = "t1", "gh"


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = embedded_runtime(tmp_path, {})
    runtime.queue = OutageQueue(runtime.queue)
    yield runtime
    runtime.close()


def _registrations(
    rt: Runtime, events: list[RegistrationEvent] | None = None
) -> WebhookRegistrations:
    sink = events.append if events is not None else (lambda event: None)
    return WebhookRegistrations(
        rt.store, rt.credentials, on_event=sink, failing_after=2, disabled_after=4
    )


def _register(
    rt: Runtime, provider: str = "github", **options: Any
) -> tuple[WebhookRegistration, str]:
    registration, secret = _registrations(rt).register(TENANT, CONNECTION, provider, **options)
    assert secret is not None
    return registration, secret


def _queued(rt: Runtime) -> list[SyncMessage]:
    """The messages now on sync-inbound, taken off it."""
    queue = rt.queue.inner  # type: ignore[attr-defined]
    assert isinstance(queue, InlineMessageQueue)
    received = queue.receive(INBOUND_QUEUE, max_messages=100)
    for r in received:
        queue.complete(r)
    return [r.message for r in received]


def _post(
    rt: Runtime, registration_id: str, headers: dict[str, str], body: bytes, **kw: Any
) -> Any:
    return receive_webhook(rt, registration_id, headers=headers, body=body, **kw)


def _audit(rt: Runtime) -> list[dict[str, Any]]:
    return rt.store.query(AUDIT, order_by=[("at", False)])


# --- registrations ---------------------------------------------------------------------------


def test_register_keeps_the_secret_out_of_the_registration_and_a_signed_delivery_gets_in(
    rt: Runtime,
) -> None:
    registration, secret = _register(rt)
    stored = rt.store.get(WebhookRegistration.container, TENANT, registration.id)
    assert secret not in json.dumps(stored)
    headers, body = github_delivery(secret)
    reply = _post(rt, registration.id, headers, body)
    assert reply.status == 202
    [message] = _queued(rt)
    assert message.kind is MessageKind.WEBHOOK
    assert message.payload["registration_id"] == registration.id
    assert base64.b64decode(message.payload["body"]) == body


def test_an_accepted_secret_is_the_one_that_verifies(rt: Runtime) -> None:
    registration, secret = _register(rt, secret="given-secret")
    assert secret == "given-secret"
    assert _post(rt, registration.id, *github_delivery("given-secret")).status == 202
    assert _post(rt, registration.id, *github_delivery("another")).status == 401


def test_rotation_verifies_both_secrets_during_the_overlap_and_only_the_new_one_after(
    rt: Runtime,
) -> None:
    registration, old = _register(rt)
    new = _registrations(rt).rotate(TENANT, registration.id, overlap=timedelta(hours=1))
    assert _post(rt, registration.id, *github_delivery(old)).status == 202
    assert _post(rt, registration.id, *github_delivery(new)).status == 202
    newest = _registrations(rt).rotate(TENANT, registration.id, overlap=timedelta(0))
    assert _post(rt, registration.id, *github_delivery(new)).status == 401
    assert _post(rt, registration.id, *github_delivery(newest)).status == 202


def test_registering_an_id_twice_is_refused_and_keeps_the_first_secret(rt: Runtime) -> None:
    from integration_core.errors import ConflictError

    registration, secret = _register(rt)
    with pytest.raises(ConflictError):
        _register(rt, registration_id=registration.id)
    assert _post(rt, registration.id, *github_delivery(secret)).status == 202


def test_unregister_removes_the_registration_and_its_secret(rt: Runtime) -> None:
    registration, secret = _register(rt)
    _registrations(rt).unregister(TENANT, registration.id)
    assert _post(rt, registration.id, *github_delivery(secret)).status == 404
    assert rt.store.query("credentials", partition_key=TENANT) == []


def test_consecutive_failures_mark_failing_then_disabled_with_events_and_410(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[RegistrationEvent] = []
    registration, secret = _register(rt)
    registrations = _registrations(rt, events)
    for _ in range(2):
        registrations.record_failure(registrations.get(TENANT, registration.id), "bad_signature")
    assert registrations.get(TENANT, registration.id).status is RegistrationStatus.FAILING
    registrations.record_success(registrations.get(TENANT, registration.id))
    assert registrations.get(TENANT, registration.id).status is RegistrationStatus.ACTIVE
    for _ in range(4):
        registrations.record_failure(registrations.get(TENANT, registration.id), "bad_signature")
    assert registrations.get(TENANT, registration.id).status is RegistrationStatus.DISABLED
    assert [e.kind for e in events] == ["failing", "recovered", "failing", "disabled"]
    assert _post(rt, registration.id, *github_delivery(secret)).status == 410
    assert _queued(rt) == []


def test_forged_deliveries_count_as_failures_through_the_receiver(rt: Runtime) -> None:
    registration, secret = _register(rt)
    for _ in range(3):
        assert _post(rt, registration.id, *github_delivery("forged")).status == 401
    stored = _registrations(rt).get(TENANT, registration.id)
    assert stored.consecutive_failures == 3
    assert _post(rt, registration.id, *github_delivery(secret)).status == 202
    assert _registrations(rt).get(TENANT, registration.id).consecutive_failures == 0


# --- refusals --------------------------------------------------------------------------------


def test_unknown_registration_is_404_and_enqueues_nothing(rt: Runtime) -> None:
    assert _post(rt, "nope", *github_delivery("x")).status == 404
    assert _queued(rt) == []


def test_forged_delivery_is_401_enqueues_nothing_and_audits_the_reason(rt: Runtime) -> None:
    registration, secret = _register(rt)
    headers, body = github_delivery("wrong")
    reply = _post(rt, registration.id, headers, body)
    assert reply.status == 401
    assert _queued(rt) == []
    [row] = _audit(rt)
    assert (row["outcome"], row["reason"], row["status"]) == ("refused", "bad_signature", 401)
    assert secret not in json.dumps(row)
    assert body.decode() not in json.dumps(row)


def test_stale_slack_timestamp_is_401(rt: Runtime) -> None:
    registration, secret = _register(rt, provider="slack")
    stale = utcnow().timestamp() - 3600
    reply = _post(rt, registration.id, *slack_delivery(secret, b'{"event": {}}', timestamp=stale))
    assert reply.status == 401
    assert _audit(rt)[0]["reason"] == "stale_timestamp"


def test_a_body_over_the_cap_is_413(rt: Runtime) -> None:
    registration, secret = _register(rt)
    headers, _ = github_delivery(secret)
    assert _post(rt, registration.id, headers, b"x" * (MAX_BODY_BYTES + 1)).status == 413
    assert _queued(rt) == []


def test_a_signed_body_that_is_not_json_is_400(rt: Runtime) -> None:
    import hashlib
    import hmac

    registration, secret = _register(rt)
    body = b"{not json"
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Delivery": "d1", "X-Hub-Signature-256": f"sha256={signature}"}
    assert _post(rt, registration.id, headers, body).status == 400
    assert _queued(rt) == []


# --- inbox -----------------------------------------------------------------------------------


def test_a_duplicate_delivery_is_answered_200_and_not_enqueued_again(rt: Runtime) -> None:
    registration, secret = _register(rt)
    headers, body = github_delivery(secret, delivery="same-id")
    assert _post(rt, registration.id, headers, body).status == 202
    assert _post(rt, registration.id, headers, body).status == 200
    assert len(_queued(rt)) == 1
    assert [r["outcome"] for r in _audit(rt)] == ["accepted", "duplicate"]


def test_a_queue_outage_answers_503_and_the_retry_enqueues_exactly_once(rt: Runtime) -> None:
    registration, secret = _register(rt)
    headers, body = github_delivery(secret, delivery="retry-me")
    rt.queue.down = True  # type: ignore[attr-defined]
    reply = _post(rt, registration.id, headers, body)
    assert (reply.status, reply.headers.get("Retry-After")) == (503, "5")
    assert len(rt.store.query(INBOX, partition_key=TENANT)) == 1  # written, not enqueued
    rt.queue.down = False  # type: ignore[attr-defined]
    assert _post(rt, registration.id, headers, body).status == 202
    assert _post(rt, registration.id, headers, body).status == 200
    assert len(_queued(rt)) == 1


def test_a_delivery_s_log_lines_carry_its_registration_s_tenant(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    factory = logging.getLogRecordFactory()
    install_log_context()
    caplog.set_level(logging.INFO, logger="integration_core")
    registration, secret = _register(rt)
    rt.queue.down = True  # type: ignore[attr-defined]
    caplog.clear()
    try:
        with log_context(correlation_id="delivery-1"):  # as the function opens it
            assert _post(rt, registration.id, *github_delivery(secret)).status == 503
    finally:
        logging.setLogRecordFactory(factory)
    lines = [r for r in caplog.records if r.name.startswith("integration_core")]
    assert lines
    assert {(r.correlation_id, r.tenant) for r in lines} == {("delivery-1", TENANT)}  # type: ignore[attr-defined]


def test_an_inbox_write_failure_answers_503_and_the_retry_succeeds(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integration_core.errors import RetryableError

    registration, secret = _register(rt)
    headers, body = github_delivery(secret)
    real_create = rt.store.create

    def failing_create(container: str, document: Any) -> dict[str, Any]:
        if container == INBOX:
            raise RetryableError("store unreachable")
        return real_create(container, document)

    monkeypatch.setattr(rt.store, "create", failing_create)
    assert _post(rt, registration.id, headers, body).status == 503
    assert _queued(rt) == []
    monkeypatch.setattr(rt.store, "create", real_create)
    assert _post(rt, registration.id, headers, body).status == 202
    assert len(_queued(rt)) == 1


def test_a_large_body_travels_by_claim_check_and_reads_back_whole(rt: Runtime) -> None:
    registration, secret = _register(rt)
    headers, body = github_delivery(secret, {"blob": "y" * (INLINE_BODY_BYTES + 10)})
    assert _post(rt, registration.id, headers, body).status == 202
    [message] = _queued(rt)
    assert message.payload["body"] is None
    assert len(message.to_json()) < 64 * 1024
    assert rt.bodies.get(message.payload["body_ref"]) == body
    inbox = Inbox(rt.store, rt.bodies)
    assert inbox.body(inbox.get(TENANT, message.payload["inbox_id"])) == body


def test_secret_headers_are_not_kept_in_the_inbox(rt: Runtime) -> None:
    registration, secret = _register(rt, provider="google_channel")
    headers = {
        "X-Goog-Channel-Token": secret,
        "X-Goog-Channel-ID": "ch",
        "X-Goog-Message-Number": "2",
        "X-Goog-Resource-State": "exists",
    }
    assert _post(rt, registration.id, headers, b"").status == 202
    [entry] = rt.store.query(INBOX, partition_key=TENANT)
    assert secret not in json.dumps(entry)


def test_replay_one_delivery_and_a_time_range_each_enqueue_once_under_new_ids(
    rt: Runtime,
) -> None:
    registration, secret = _register(rt)
    began = utcnow()
    for n in range(3):
        assert _post(rt, registration.id, *github_delivery(secret, {"n": n})).status == 202
    first = _queued(rt)
    inbox = Inbox(rt.store, rt.bodies)
    replayed = inbox.replay(rt.queue, TENANT, first[0].payload["inbox_id"])
    again = inbox.replay(rt.queue, TENANT, first[0].payload["inbox_id"])
    ranged = inbox.replay_range(rt.queue, TENANT, registration.id, began, utcnow())
    ids = [m.message_id for m in first] + [replayed.message_id, again.message_id]
    ids += [m.message_id for m in ranged]
    assert len(ranged) == 3
    assert len(set(ids)) == len(ids) == 8
    assert len(_queued(rt)) == 5


# --- handshakes ------------------------------------------------------------------------------


def test_slack_url_verification_is_answered_and_not_enqueued(rt: Runtime) -> None:
    registration, secret = _register(rt, provider="slack")
    body = json.dumps({"type": "url_verification", "challenge": "c-123"}).encode()
    reply = _post(rt, registration.id, *slack_delivery(secret, body))
    assert reply.status == 200
    assert b"c-123" in reply.body
    assert _queued(rt) == []


def test_graph_validation_token_is_echoed_as_text(rt: Runtime) -> None:
    registration, _ = _register(rt, provider="microsoft_graph")
    url = f"https://example.test/api/webhooks/{registration.id}?validationToken=abc%20123"
    reply = _post(rt, registration.id, {}, b"", url=url)
    assert (reply.status, reply.content_type, reply.body) == (200, "text/plain", b"abc 123")
    assert _queued(rt) == []


def test_notion_verification_token_becomes_the_secret_of_a_pending_registration(
    rt: Runtime,
) -> None:
    import hashlib
    import hmac

    registration, secret = _registrations(rt).register(TENANT, CONNECTION, "notion")
    assert secret is None
    assert registration.status is RegistrationStatus.PENDING
    token = "secret_notion_token"
    handshake = json.dumps({"verification_token": token}).encode()
    assert _post(rt, registration.id, {}, handshake).status == 200
    # A second, unsigned token posted later changes nothing.
    assert _post(rt, registration.id, {}, b'{"verification_token": "attacker"}').status == 200
    body = b'{"type": "page.content_updated", "entity": {"id": "p1"}}'
    signature = "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    reply = _post(rt, registration.id, {"X-Notion-Signature": signature}, body)
    assert reply.status == 202


# --- fuzz ------------------------------------------------------------------------------------

_header_names = st.sampled_from(
    [
        "X-Hub-Signature-256",
        "X-GitHub-Delivery",
        "X-Slack-Signature",
        "X-Slack-Request-Timestamp",
        "Stripe-Signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-HubSpot-Signature-v3",
        "X-Twilio-Signature",
        "Content-Type",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    provider=st.sampled_from(
        ["github", "slack", "stripe", "standard_webhooks", "hubspot", "twilio"]
    ),
    headers=st.dictionaries(_header_names, st.text(max_size=80), max_size=6),
    body=st.binary(max_size=300),
)
def test_fuzzed_headers_and_bodies_never_get_a_5xx(
    rt: Runtime, provider: str, headers: dict[str, str], body: bytes
) -> None:
    found = rt.store.query(
        WebhookRegistration.container, filters=[Filter("provider", "=", provider)], limit=1
    )
    registration_id = found[0]["id"] if found else _register(rt, provider=provider)[0].id
    reply = _post(rt, registration_id, headers, body, url="https://example.test/hook?a=1")
    assert reply.status < 500


# --- the worker's side -----------------------------------------------------------------------


def test_the_inbound_worker_reads_the_delivery_inline_or_by_claim_check(rt: Runtime) -> None:
    from integration_core.pipelines import process_inbound
    from integration_core.pipelines.webhook_delivery import read_delivery

    registration, secret = _register(rt)
    small = github_delivery(secret, {"n": 1})
    large = github_delivery(secret, {"blob": "y" * (INLINE_BODY_BYTES + 10)})
    for headers, body in (small, large):
        assert _post(rt, registration.id, headers, body).status == 202
    messages = _queued(rt)
    assert [read_delivery(rt, m).body for m in messages] == [small[1], large[1]]
    for message in messages:  # the registration names a connection that was never made
        with pytest.raises(PermanentError, match="Connection 'gh' does not exist"):
            process_inbound(rt, message)
