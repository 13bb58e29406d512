"""WebhookReceiver's pipeline: a delivery is verified, written to the inbox, then answered.

Order, each step refusing before the next costs anything:
1. rate limit per registration (429 + Retry-After);
2. the registration: unknown 404, disabled 410 (nothing enqueued); body cap (413);
3. a provider's endpoint check is answered (verified where the provider signs it);
4. the signature and signed time (401; 400 for a URL or body that cannot be read);
5. the inbox entry, keyed by the provider's delivery id, then the message on sync-inbound.
   A repeat of an enqueued delivery is answered 200 and not processed again; if the inbox
   write or the enqueue fails the answer is 503, so the provider retries and nothing that
   was acknowledged is lost.
Every answer to a delivery for a registration that exists writes a `webhook-audit` row.

Redis sees one round trip per delivery, the limiter's script: dedup is the inbox's
create-if-absent in the document store, which must be durable before the 2xx anyway. The
registration and its secrets come from a cache of a few seconds (registration_cache.py
bounds how late another instance's disable or rotation is seen here).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from integration_core.errors import LockstepError
from integration_core.observability import log_context
from integration_core.observability.metrics import record_webhook
from integration_core.pipelines.registrations import webhook_registrations
from integration_core.pipelines.webhook_lookups import LookupBudget
from integration_core.ratelimit import Limit
from integration_core.runtime import Runtime
from integration_core.webhooks import (
    HandshakeReply,
    Reason,
    WebhookVerificationError,
    answer_handshake,
    delivery_id,
    verify_webhook,
)
from integration_core.webhooks.audit import Outcome, write_audit
from integration_core.webhooks.inbox import Inbox, InboxStatus
from integration_core.webhooks.registrations import (
    RegistrationStatus,
    WebhookRegistration,
    WebhookRegistrations,
)
from integration_core.webhooks.types import Headers

__all__ = ["MAX_BODY_BYTES", "WebhookReply", "receive_webhook"]

log = logging.getLogger(__name__)

# GitHub caps payloads at 25 MB; no provider we verify sends more.
# https://docs.github.com/en/webhooks/webhook-events-and-payloads#payload-cap
MAX_BODY_BYTES = 25 * 1024 * 1024
# Providers whose deliveries are form-encoded (Twilio) or may have no body (Google's
# channel notifications put everything in headers); every other one sends JSON.
_NOT_JSON = frozenset({"twilio", "google_channel"})
# Refusals a newer secret could turn into an acceptance.
_SECRET_REASONS = frozenset({Reason.BAD_SIGNATURE, Reason.NO_SECRET})
# Distinct unknown ids cost a cross-partition query each: they spend a budget per source
# address and fleet-wide (webhook_lookups.py).
_lookups = LookupBudget()


@functools.lru_cache(maxsize=10_000)
def _limit(registration_id: str, per_minute: int) -> tuple[Limit]:
    """The registration's limit, one object per id: the limiter finds its plan by identity."""
    return (Limit(f"webhook:{registration_id}", per_minute, 60.0, integration=""),)


@dataclass(frozen=True)
class WebhookReply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_reply(
    status: int, body: Mapping[str, str], headers: Mapping[str, str] | None = None
) -> WebhookReply:
    return WebhookReply(status, json.dumps(body).encode(), headers=dict(headers or {}))


@dataclass
class _Delivery:
    rt: Runtime
    registrations: WebhookRegistrations
    registration: WebhookRegistration
    headers: Mapping[str, str]
    body: bytes
    url: str | None
    method: str
    began: float
    delivery_id: str | None = None

    def answer(
        self, outcome: Outcome, reply: WebhookReply, reason: str | None = None
    ) -> WebhookReply:
        record_webhook(outcome.value)
        write_audit(
            self.rt.store,
            tenant_id=self.registration.tenant_id,
            registration_id=self.registration.id,
            provider=self.registration.provider,
            outcome=outcome,
            status=reply.status,
            reason=reason,
            delivery_id=self.delivery_id,
            latency_ms=(time.perf_counter() - self.began) * 1000,
        )
        return reply


def receive_webhook(
    rt: Runtime,
    registration_id: str,
    *,
    headers: Mapping[str, str],
    body: bytes,
    url: str | None = None,
    method: str = "POST",
) -> WebhookReply:
    """Answer one delivery to `POST /api/webhooks/{registration_id}`. Bad input is a 4xx;
    a failure of our own store, secrets or queue (a LockstepError) is a 503."""
    began = time.perf_counter()
    decision = rt.limiter.acquire(_limit(registration_id, rt.settings.webhook_requests_per_minute))
    if not decision.allowed:
        retry_after = max(1, math.ceil(decision.retry_after))
        return _json_reply(429, {"error": "too many deliveries"}, {"Retry-After": str(retry_after)})
    wait = _lookups.retry_after(rt.limiter, registration_id, headers)
    if wait is not None:
        return _json_reply(
            429, {"error": "too many unknown registrations"}, {"Retry-After": str(wait)}
        )
    registrations = webhook_registrations(rt)
    try:
        registration = registrations.find(registration_id)
    except LockstepError as err:
        return _unavailable(err)
    if registration is None:
        # No audit row: the id names no tenant, and anyone can make up ids.
        _lookups.missed(rt.limiter, registration_id, headers)
        log.info("webhook for an unknown registration refused")
        return _json_reply(404, {"error": "unknown webhook registration"})
    _lookups.found(registration_id)
    # Folded once here, not again by the handshake, the verifier and the delivery id.
    folded = Headers(headers)
    delivery = _Delivery(rt, registrations, registration, folded, body, url, method, began)
    with log_context(tenant_id=registration.tenant_id):
        return _receive(delivery)


def _receive(delivery: _Delivery) -> WebhookReply:
    registration, body = delivery.registration, delivery.body
    if registration.status is RegistrationStatus.DISABLED:
        return delivery.answer(
            Outcome.REFUSED,
            _json_reply(410, {"error": "webhook registration is disabled"}),
            "disabled",
        )
    if len(body) > MAX_BODY_BYTES:
        return delivery.answer(
            Outcome.REFUSED, _json_reply(413, {"error": "body too large"}), "body_too_large"
        )
    verify_url = _signed_url(registration, delivery.url)
    try:
        handshake = _verify(delivery, verify_url)
    except WebhookVerificationError as err:
        return _refused(delivery, err)
    except LockstepError as err:
        return delivery.answer(Outcome.UNAVAILABLE, _unavailable(err), type(err).__name__)
    if handshake is not None:
        if handshake.verification_token:
            try:
                delivery.registrations.accept_verification_token(
                    registration, handshake.verification_token
                )
            except LockstepError as err:
                return delivery.answer(Outcome.UNAVAILABLE, _unavailable(err), type(err).__name__)
        reply = WebhookReply(handshake.status, handshake.body, handshake.content_type)
        return delivery.answer(Outcome.HANDSHAKE, reply)
    if not _well_formed(registration.provider, body):
        return delivery.answer(
            Outcome.REFUSED, _json_reply(400, {"error": "malformed body"}), "malformed_body"
        )
    return _admit(delivery)


def _admit(delivery: _Delivery) -> WebhookReply:
    rt, registration = delivery.rt, delivery.registration
    delivery.delivery_id = delivery_id(
        registration.provider, headers=delivery.headers, body=delivery.body
    )
    inbox = Inbox(rt.store, rt.bodies)
    try:
        entry, new = inbox.admit(
            tenant_id=registration.tenant_id,
            registration_id=registration.id,
            connection_id=registration.connection_id,
            provider=registration.provider,
            delivery_id=delivery.delivery_id,
            headers=delivery.headers,
            body=delivery.body,
        )
        if not new and entry.status is InboxStatus.ENQUEUED:
            return delivery.answer(Outcome.DUPLICATE, _json_reply(200, {"status": "duplicate"}))
        inbox.enqueue(rt.queue, entry)
        delivery.registrations.record_success(registration)
    except LockstepError as err:
        return delivery.answer(Outcome.UNAVAILABLE, _unavailable(err), type(err).__name__)
    return delivery.answer(Outcome.ACCEPTED, _json_reply(202, {"status": "accepted"}))


def _verify(delivery: _Delivery, url: str | None) -> HandshakeReply | None:
    """The provider's handshake reply if the delivery is one, else None once its signature
    verifies. The secrets come from the cache first; a signature they refuse is checked
    against the store's, since a secret rotated on another instance is not cached here yet.
    """
    try:
        return _verified(delivery, url, fresh=False)
    except WebhookVerificationError as err:
        if err.reason not in _SECRET_REASONS:
            raise
    return _verified(delivery, url, fresh=True)


def _verified(delivery: _Delivery, url: str | None, *, fresh: bool) -> HandshakeReply | None:
    """`_verify` with the registration's secrets (`fresh`: read from the store)."""
    registration = delivery.registration
    secrets = delivery.registrations.secrets(registration, fresh=fresh)
    handshake = answer_handshake(
        registration.provider, secret=secrets, headers=delivery.headers, body=delivery.body, url=url
    )
    if handshake is None:
        verify_webhook(
            registration.provider,
            secret=secrets,
            headers=delivery.headers,
            body=delivery.body,
            url=url,
            method=delivery.method,
        )
    return handshake


def _refused(delivery: _Delivery, err: WebhookVerificationError) -> WebhookReply:
    try:
        delivery.registrations.record_failure(delivery.registration, err.reason.value)
    except LockstepError as failure:
        log.warning("could not record a webhook failure (%s)", type(failure).__name__)
    reply = _json_reply(err.status, {"error": str(err)})
    return delivery.answer(Outcome.REFUSED, reply, err.reason.value)


def _unavailable(err: LockstepError) -> WebhookReply:
    """Our side failed: 503, so the provider delivers again later."""
    log.warning("webhook delivery not accepted, the provider will retry (%s)", type(err).__name__)
    return _json_reply(503, {"error": "try again later"}, {"Retry-After": "5"})


def _signed_url(registration: WebhookRegistration, url: str | None) -> str | None:
    """The URL the provider signed: the registration's public URL (behind a proxy) with the
    request's query string, else the URL as received."""
    if registration.public_url is None or url is None:
        return url if url is not None else registration.public_url
    query = urlsplit(url).query
    return registration.public_url + (f"?{query}" if query else "")


def _well_formed(provider: str, body: bytes) -> bool:
    if provider in _NOT_JSON:
        return True
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True
