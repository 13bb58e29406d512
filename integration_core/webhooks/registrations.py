"""Webhook registrations: where a provider delivers, for whom, and which secret signs it.

The registration document (container `webhooks`) names the provider, tenant and connection
and points at a credential; the signing secret itself lives only in the SecretStore, through
the CredentialService. Rotating keeps the previous secret valid for an overlap window, so a
provider that still signs with the old one is not refused. Consecutive verification
failures mark a registration failing, then disabled, and each step emits an event: a
misconfigured secret is noticed instead of silently dropping every delivery. Changes a
scheduled pull finds that no delivery announced are counted on the registration
(`record_missed`, pipelines/reconcile.py), and `missed_webhooks` is emitted when a day's
count reaches the threshold: a subscription that broke silently is noticed too.
"""

from __future__ import annotations

import base64
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from integration_core.clock import to_iso, utcnow
from integration_core.credentials.service import CredentialService
from integration_core.credentials.types import WebhookSecret
from integration_core.errors import InvalidIdError, LockstepError, NotFoundError, PermanentError
from integration_core.models import Document, UtcDatetime
from integration_core.storage import DocumentStore, Filter
from integration_core.storage.concurrency import update_document
from integration_core.storage.ids import check_id
from integration_core.webhooks.providers import PROVIDERS
from integration_core.webhooks.registration_cache import cache_for

__all__ = [
    "RegistrationEvent",
    "RegistrationStatus",
    "WebhookRegistration",
    "WebhookRegistrations",
    "generate_secret",
]

log = logging.getLogger(__name__)

FAILING_AFTER = 5
DISABLED_AFTER = 50
# Missed webhooks are counted per window; the event fires once per window.
MISSED_WINDOW = timedelta(hours=24)


class RegistrationStatus(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"  # Notion: waiting for the verification_token that becomes the secret
    FAILING = "failing"
    DISABLED = "disabled"


# A registration's update: its new status, consecutive failures, last failure reason.
_Change = tuple[RegistrationStatus, int, str | None]


class WebhookRegistration(Document):
    """One endpoint `POST /api/webhooks/{id}`. Holds a credential id, never a secret.

    `public_url` is the URL as the provider calls it (HubSpot v3 and Twilio sign it), when a
    proxy makes it differ from the one the function sees. `entity_types` are the record
    types its deliveries announce (empty: every type the connection syncs); the missed
    counters say how many changes pulls found that no delivery announced.
    `subscription_id` is the provider's id of the subscription Lockstep made there, if any.
    """

    container: ClassVar[str] = "webhooks"

    provider: str
    connection_id: str
    credential_id: str
    status: RegistrationStatus = RegistrationStatus.ACTIVE
    public_url: str | None = None
    entity_types: list[str] = Field(default_factory=list)
    subscription_id: str | None = None
    consecutive_failures: int = 0
    last_failure_reason: str | None = None
    missed_webhooks: int = 0
    missed_in_window: int = 0
    missed_window_started_at: UtcDatetime | None = None
    last_missed_at: UtcDatetime | None = None
    created_at: UtcDatetime = Field(default_factory=utcnow)
    updated_at: UtcDatetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class RegistrationEvent:
    """A registration changed health (`failing`, `disabled`, `recovered`, `enabled` by an
    admin), was rotated, or pulls found changes it did not announce (`missed_webhooks`)."""

    kind: str
    tenant_id: str
    registration_id: str
    provider: str
    detail: dict[str, str] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)


def _log_event(event: RegistrationEvent) -> None:
    log.warning(
        "webhook registration event %s",
        event.kind,
        extra={
            "event_kind": event.kind,
            "tenant_id": event.tenant_id,
            "registration_id": event.registration_id,
            "provider": event.provider,
            **{f"detail_{k}": v for k, v in event.detail.items()},
        },
    )


def generate_secret(provider: str) -> str:
    """A fresh random signing secret; Standard Webhooks keys carry their `whsec_` prefix."""
    raw = secrets.token_bytes(32)
    if provider == "standard_webhooks":
        return "whsec_" + base64.b64encode(raw).decode("ascii")
    return raw.hex()


class WebhookRegistrations:
    """Register, rotate, unregister, look up and keep the health of registrations."""

    def __init__(
        self,
        store: DocumentStore,
        credentials: CredentialService,
        *,
        on_event: Callable[[RegistrationEvent], None] | None = None,
        failing_after: int = FAILING_AFTER,
        disabled_after: int = DISABLED_AFTER,
    ) -> None:
        self._store = store
        self._credentials = credentials
        self._on_event = on_event
        self._failing_after = failing_after
        self._disabled_after = disabled_after
        self._cache = cache_for(store)

    def register(
        self,
        tenant_id: str,
        connection_id: str,
        provider: str,
        *,
        secret: str | None = None,
        public_url: str | None = None,
        registration_id: str | None = None,
        entity_types: Sequence[str] = (),
    ) -> tuple[WebhookRegistration, str | None]:
        """Create a registration; returns it and the secret to give the provider.

        Without `secret` one is generated, except for Notion, whose secret arrives in its
        verification handshake (the registration waits as `pending` until then).
        """
        if provider not in PROVIDERS:
            raise PermanentError(f"no webhook verifier for provider {provider!r}")
        registration_id = registration_id or uuid.uuid4().hex
        pending = secret is None and provider == "notion"
        if secret is None and not pending:
            secret = generate_secret(provider)
        name = f"webhook:{registration_id}"
        registration = WebhookRegistration(
            id=registration_id,
            tenant_id=tenant_id,
            provider=provider,
            connection_id=connection_id,
            credential_id=self._credentials.credential_id_for(tenant_id, connection_id, name),
            public_url=public_url,
            entity_types=list(entity_types),
            status=RegistrationStatus.PENDING if pending else RegistrationStatus.ACTIVE,
        )
        # The registration first: an id in use fails here, before its secret is touched.
        self._store.create(WebhookRegistration.container, registration.to_document())
        # A pending Notion registration gets a random secret no delivery can be signed with.
        placeholder = secrets.token_hex(32)
        try:
            self._credentials.store_credential(
                tenant_id,
                connection_id,
                WebhookSecret(secret=SecretStr(secret or placeholder)),
                name=name,
            )
        except LockstepError:
            self._store.delete(WebhookRegistration.container, tenant_id, registration_id)
            raise
        finally:
            self._cache.forget(registration_id)
        log.info(
            "webhook registration created",
            extra={"tenant_id": tenant_id, "registration_id": registration_id},
        )
        return registration, secret

    def find(self, registration_id: str) -> WebhookRegistration | None:
        """The registration, looked up by id alone (the route carries no tenant); from the
        cache while it is fresh (registration_cache.py says how stale it may be)."""
        cached = self._cache.registration(registration_id)
        if cached is not None:
            return cached
        try:
            check_id(registration_id)
        except InvalidIdError:
            return None  # could never name a registration: a miss, without a query
        generation = self._cache.generation()
        found = self._store.query(
            WebhookRegistration.container, filters=[Filter("id", "=", registration_id)], limit=1
        )
        if not found:
            return None
        registration = WebhookRegistration.from_document(found[0])
        self._cache.put(registration, generation)
        return registration

    def get(self, tenant_id: str, registration_id: str) -> WebhookRegistration:
        document = self._store.get(WebhookRegistration.container, tenant_id, registration_id)
        return WebhookRegistration.from_document(document)

    def secrets(self, registration: WebhookRegistration, *, fresh: bool = False) -> list[str]:
        """The secrets a delivery may be signed with now: current, then previous in overlap.
        Cached with a registration `find` returned, unless `fresh`."""
        cached = None if fresh else self._cache.secrets(registration)
        if cached is not None:
            return list(cached)
        generation = self._cache.generation()
        found = self._credentials.webhook_secrets(
            registration.tenant_id, registration.credential_id
        )
        self._cache.attach(registration, generation, tuple(found))
        return found

    def rotate(
        self,
        tenant_id: str,
        registration_id: str,
        *,
        secret: str | None = None,
        overlap: timedelta = timedelta(hours=24),
    ) -> str:
        """Replace the secret (given, or generated); the old one verifies for `overlap`."""
        registration = self.get(tenant_id, registration_id)
        new_secret = secret or generate_secret(registration.provider)
        try:
            self._credentials.rotate(
                tenant_id,
                registration.credential_id,
                WebhookSecret(secret=SecretStr(new_secret)),
                overlap=overlap,
            )
        finally:
            self._cache.forget(registration_id)
        self._emit("rotated", registration, {"overlap_seconds": str(int(overlap.total_seconds()))})
        return new_secret

    def accept_verification_token(self, registration: WebhookRegistration, token: str) -> bool:
        """Notion's handshake token becomes the secret, once, while the registration waits
        for it; a token posted to an active registration changes nothing (it is unsigned)."""
        if registration.status is not RegistrationStatus.PENDING or not token:
            return False
        self._credentials.rotate(
            registration.tenant_id,
            registration.credential_id,
            WebhookSecret(secret=SecretStr(token)),
            overlap=timedelta(0),
        )
        self._update(registration, lambda current: (RegistrationStatus.ACTIVE, 0, None))
        return True

    def unregister(self, tenant_id: str, registration_id: str) -> None:
        """Delete the registration and its secret; later deliveries get 404."""
        registration = self.get(tenant_id, registration_id)
        try:
            self._store.delete(WebhookRegistration.container, tenant_id, registration_id)
        finally:
            self._cache.forget(registration_id)
        try:
            self._credentials.delete_credential(tenant_id, registration.credential_id)
        except NotFoundError:
            log.debug("webhook secret already gone", extra={"registration_id": registration_id})

    def enable(self, tenant_id: str, registration_id: str) -> WebhookRegistration:
        """Re-activate a disabled or failing registration (an admin's decision)."""
        registration = self.get(tenant_id, registration_id)
        before, after = self._update(registration, lambda _: (RegistrationStatus.ACTIVE, 0, None))
        if after.status is not before.status:
            self._emit("enabled", after)
        return after

    def record_failure(self, registration: WebhookRegistration, reason: str) -> None:
        """One more consecutive verification failure; may mark it failing, then disabled."""

        def fail(current: WebhookRegistration) -> _Change:
            failures = current.consecutive_failures + 1
            status = current.status
            if failures >= self._disabled_after:
                status = RegistrationStatus.DISABLED
            elif failures >= self._failing_after and status is RegistrationStatus.ACTIVE:
                status = RegistrationStatus.FAILING
            return status, failures, reason

        before, after = self._update(registration, fail)
        if after.status is not before.status:
            self._emit(after.status.value, after, {"reason": reason})

    def record_success(self, registration: WebhookRegistration) -> None:
        """A verified delivery: the failure streak ends (one write only if there was one)."""
        if registration.consecutive_failures == 0:
            return

        def recover(current: WebhookRegistration) -> _Change:
            failing = current.status is RegistrationStatus.FAILING
            return (RegistrationStatus.ACTIVE if failing else current.status), 0, None

        before, after = self._update(registration, recover)
        if after.status is not before.status:
            self._emit("recovered", after)

    def set_subscription(
        self, registration: WebhookRegistration, subscription_id: str
    ) -> WebhookRegistration:
        """Remember the subscription made at the provider for this registration."""

        def mutate(document: dict[str, Any]) -> dict[str, Any]:
            return document | {"subscriptionId": subscription_id, "updatedAt": to_iso(utcnow())}

        return self._write(registration, mutate)

    def for_connection(self, tenant_id: str, connection_id: str) -> list[WebhookRegistration]:
        """The connection's registrations, by id."""
        documents = self._store.query(
            WebhookRegistration.container,
            partition_key=tenant_id,
            filters=[Filter("connectionId", "=", connection_id)],
            order_by=[("id", False)],
        )
        return [WebhookRegistration.from_document(d) for d in documents]

    def record_missed(
        self,
        registration: WebhookRegistration,
        count: int,
        *,
        threshold: int,
        now: datetime | None = None,
    ) -> WebhookRegistration:
        """Count `count` changes a pull found that no delivery announced. The day's count
        reaching `threshold` emits `missed_webhooks` (once per window)."""
        now = now or utcnow()
        crossed: list[int] = []

        def mutate(document: dict[str, Any]) -> dict[str, Any]:
            current = WebhookRegistration.from_document(document)
            started = current.missed_window_started_at
            before = current.missed_in_window
            if started is None or now - started >= MISSED_WINDOW:
                started, before = now, 0
            after = before + count
            crossed[:] = [after] if before < threshold <= after else []
            return document | {
                "missedWebhooks": current.missed_webhooks + count,
                "missedInWindow": after,
                "missedWindowStartedAt": to_iso(started),
                "lastMissedAt": to_iso(now),
            }

        updated = self._write(registration, mutate)
        if crossed:
            window = str(int(MISSED_WINDOW.total_seconds()))
            self._emit(
                "missed_webhooks",
                updated,
                {"missed": str(crossed[0]), "window_seconds": window},
            )
        return updated

    def _update(
        self, registration: WebhookRegistration, change: Callable[[WebhookRegistration], _Change]
    ) -> tuple[WebhookRegistration, WebhookRegistration]:
        """Apply `change` (status, failures, last failure reason or None) to the stored
        registration under its etag; returns it as it was and as it is now."""
        seen: list[WebhookRegistration] = []

        def mutate(document: dict[str, Any]) -> dict[str, Any]:
            current = WebhookRegistration.from_document(document)
            seen[:] = [current]
            status, failures, reason = change(current)
            changes: dict[str, Any] = {
                "status": status.value,
                "consecutiveFailures": failures,
                "updatedAt": to_iso(utcnow()),
            }
            if reason is not None:
                changes["lastFailureReason"] = reason
            return document | changes

        after = self._write(registration, mutate)
        return seen[0], after

    def _write(
        self,
        registration: WebhookRegistration,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> WebhookRegistration:
        """`mutate` applied to the stored registration under its etag; what is stored now."""
        try:
            stored = update_document(
                self._store,
                WebhookRegistration.container,
                registration.tenant_id,
                registration.id,
                mutate,
            )
        finally:
            self._cache.forget(registration.id)
        return WebhookRegistration.from_document(stored or {})

    def _emit(
        self, kind: str, registration: WebhookRegistration, detail: dict[str, str] | None = None
    ) -> None:
        event = RegistrationEvent(
            kind=kind,
            tenant_id=registration.tenant_id,
            registration_id=registration.id,
            provider=registration.provider,
            detail=detail or {},
        )
        _log_event(event)
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception as err:  # noqa: BLE001 - a broken notifier must not break intake
            log.warning("webhook event sink failed (%s)", type(err).__name__)
