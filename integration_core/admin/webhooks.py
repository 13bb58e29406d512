"""Webhook registrations for the admin API and the CLI: register, list, get, rotate the
secret, enable, unregister, health, the deliveries (outcome and reason), and replays.

Every call is scoped to one tenant: another tenant's registration or delivery is not found.
A secret Lockstep generates is answered once, to the call that made it (register, rotate),
and never again; the admin audit log records each write with ids only.

With `subscribeAt` (the app's public base URL), the subscription is also made at the
provider, where the connection's adapter has an API for it (`WebhookSubscriber`, e.g. the
sandbox's POST /v1/webhooks): the secret then goes to the provider and is not answered;
rotating sends the new one there (after it verifies here, so no delivery falls between),
and unregistering removes the subscription first.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.alias_generators import to_camel

from integration_core.admin.audit import record_write
from integration_core.admin.connections import InvalidRequestError
from integration_core.admin.pages import Page, PageQuery, paginate
from integration_core.admin.requests import AdminRequest, Id
from integration_core.errors import LockstepError, NotFoundError
from integration_core.models import Connection, UtcDatetime
from integration_core.pipelines.registrations import webhook_registrations
from integration_core.ports import WebhookSubscriber
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.storage.concurrency import get_or_none
from integration_core.webhooks import PROVIDERS
from integration_core.webhooks.audit import Outcome, WebhookAudit
from integration_core.webhooks.inbox import Inbox, InboxEntry
from integration_core.webhooks.registrations import WebhookRegistration, WebhookRegistrations

__all__ = [
    "MAX_REPLAYS",
    "DeliveryQuery",
    "DeliveryView",
    "RegisteredWebhook",
    "ReplayRange",
    "ReplayStarted",
    "RotatedSecret",
    "WebhookCreate",
    "WebhookHealth",
    "WebhookRotate",
    "enable_webhook",
    "get_webhook",
    "list_deliveries",
    "list_webhooks",
    "register_webhook",
    "replay_delivery",
    "replay_range",
    "rotate_webhook",
    "unregister_webhook",
    "webhook_health",
]

log = logging.getLogger(__name__)

# One range replay enqueues at most this many deliveries; a larger range is refused.
MAX_REPLAYS = 1000
EntityType = Literal["contact", "company", "task"]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=1024)]


HttpsUrl = Annotated[str, Field(pattern=r"^https://\S+$", max_length=2048)]


class WebhookCreate(AdminRequest):
    """A registration: without `secret` one is generated (Notion's arrives in its handshake).
    `subscribe_at`: the app's public base URL; the subscription is made at the provider for
    `{subscribe_at}/api/webhooks/{id}` (then also the URL it signs: not with `public_url`)."""

    id: Id | None = None
    connection_id: Id
    provider: Annotated[str, Field(min_length=1, max_length=64)]
    secret: Secret | None = None
    public_url: HttpsUrl | None = None
    subscribe_at: HttpsUrl | None = None
    entity_types: list[EntityType] = Field(default_factory=list, max_length=3)

    @model_validator(mode="after")
    def _one_url(self) -> Self:
        if self.public_url is not None and self.subscribe_at is not None:
            raise ValueError("give publicUrl or subscribeAt, not both")
        return self


class WebhookRotate(AdminRequest):
    """A new secret (given, or generated); the old one verifies for `overlap_seconds`."""

    secret: Secret | None = None
    overlap_seconds: int = Field(default=24 * 3600, ge=0, le=7 * 24 * 3600)


class ReplayRange(AdminRequest):
    """Deliveries received in [since, until) (times with a zone)."""

    since: UtcDatetime
    until: UtcDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class DeliveryQuery(PageQuery):
    """`?limit=&after=&outcome=` on the deliveries list."""

    outcome: Outcome | None = None


class _View(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class RegisteredWebhook(WebhookRegistration):
    """The new registration, the secret to give the provider (shown once), and the path
    deliveries go to."""

    secret: str | None = None
    path: str


class RotatedSecret(_View):
    """`secret`: the new one, when Lockstep generated it and no subscription took it."""

    id: str
    secret: str | None
    overlap_seconds: int


class DeliveryView(WebhookAudit):
    """One answered delivery; `inbox_id` names the inbox entry a replay takes (accepted
    and duplicate deliveries only)."""

    inbox_id: str | None = None


class WebhookHealth(_View):
    id: str
    status: str
    consecutive_failures: int
    last_failure_reason: str | None = None
    missed_webhooks: int
    missed_in_window: int
    last_missed_at: UtcDatetime | None = None
    last_delivery: DeliveryView | None = None


class ReplayStarted(_View):
    message_ids: list[str]


def _registrations(rt: Runtime) -> WebhookRegistrations:
    return webhook_registrations(rt)


def _audit(rt: Runtime, tenant_id: str, actor: str, action: str, registration_id: str) -> None:
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action=action,
        resource="webhook",
        resource_id=registration_id,
    )


def get_webhook(rt: Runtime, tenant_id: str, registration_id: str) -> WebhookRegistration:
    return _registrations(rt).get(tenant_id, registration_id)


def list_webhooks(
    rt: Runtime, tenant_id: str, *, after: str | None = None, limit: int = 50
) -> Page[WebhookRegistration]:
    return paginate(rt.store, WebhookRegistration, tenant_id, after=after, limit=limit)


@contextmanager
def _subscriber(rt: Runtime, connection: Connection) -> Iterator[WebhookSubscriber]:
    """The connection's adapter, where its provider has an API to register webhooks."""
    with rt.connectors.adapter_for(connection) as adapter:
        if not isinstance(adapter, WebhookSubscriber) or adapter.webhook_provider is None:
            raise InvalidRequestError(
                f"{connection.system} has no API to register webhooks; register the"
                " endpoint at the provider by hand"
            )
        yield adapter


def _connection(rt: Runtime, tenant_id: str, connection_id: str) -> Connection:
    found = get_or_none(rt.store, Connection.container, tenant_id, connection_id)
    if found is None:
        raise InvalidRequestError(f"connection {connection_id!r} does not exist")
    return Connection.from_document(found)


def register_webhook(
    rt: Runtime, tenant_id: str, request: WebhookCreate, *, actor: str
) -> RegisteredWebhook:
    """Checked first (a known provider, an existing connection, an adapter that can
    subscribe when asked to), then registered, then subscribed at the provider."""
    if request.provider not in PROVIDERS:
        known = ", ".join(sorted(PROVIDERS))
        raise InvalidRequestError(f"unknown webhook provider {request.provider!r} ({known})")
    connection = _connection(rt, tenant_id, request.connection_id)
    registration_id = request.id or uuid.uuid4().hex
    registrations = _registrations(rt)

    def register(public_url: str | None) -> tuple[WebhookRegistration, str | None]:
        return registrations.register(
            tenant_id,
            connection.id,
            request.provider,
            secret=request.secret.get_secret_value() if request.secret else None,
            public_url=public_url,
            registration_id=registration_id,
            entity_types=request.entity_types,
        )

    if request.subscribe_at is None:
        registration, secret = register(request.public_url)
    else:
        url = f"{request.subscribe_at.rstrip('/')}/api/webhooks/{registration_id}"
        with _subscriber(rt, connection) as subscriber:
            if subscriber.webhook_provider != request.provider:
                raise InvalidRequestError(
                    f"{connection.system} deliveries are verified as"
                    f" {subscriber.webhook_provider!r}, not {request.provider!r}"
                )
            registration, secret = register(url)
            registration = _subscribe(
                registrations, subscriber, registration, secret, request.entity_types
            )
            secret = None  # the provider has it; nobody else needs it
    _audit(rt, tenant_id, actor, "register", registration.id)
    return RegisteredWebhook.model_validate(
        registration.model_dump()
        | {
            # Only a secret Lockstep made is answered: a given one is the caller's already.
            "secret": secret if request.secret is None else None,
            "path": f"/api/webhooks/{registration.id}",
        }
    )


def _subscribe(
    registrations: WebhookRegistrations,
    subscriber: WebhookSubscriber,
    registration: WebhookRegistration,
    secret: str | None,
    entity_types: Sequence[str],
) -> WebhookRegistration:
    """The subscription at the provider; if it cannot be made, nothing stays registered."""
    try:
        if secret is None or registration.public_url is None:
            raise InvalidRequestError("a subscription needs a secret and a URL")
        subscription_id = subscriber.subscribe_webhook(
            url=registration.public_url, secret=secret, entity_types=entity_types
        )
    except LockstepError:
        registrations.unregister(registration.tenant_id, registration.id)
        raise
    try:
        return registrations.set_subscription(registration, subscription_id)
    except LockstepError:
        subscriber.unsubscribe_webhook(subscription_id)
        registrations.unregister(registration.tenant_id, registration.id)
        raise


def rotate_webhook(
    rt: Runtime, tenant_id: str, registration_id: str, request: WebhookRotate, *, actor: str
) -> RotatedSecret:
    """The new secret verifies here first (with the old one during the overlap), then a
    subscription at the provider gets it; a failure there is raised, the old one still
    verifying for the overlap, so that the rotation can be repeated."""
    registrations = _registrations(rt)
    registration = registrations.get(tenant_id, registration_id)
    secret = registrations.rotate(
        tenant_id,
        registration_id,
        secret=request.secret.get_secret_value() if request.secret else None,
        overlap=timedelta(seconds=request.overlap_seconds),
    )
    _audit(rt, tenant_id, actor, "rotate", registration_id)
    subscription = registration.subscription_id
    if subscription is not None:
        with _subscriber(rt, _connection(rt, tenant_id, registration.connection_id)) as provider:
            provider.rotate_webhook_secret(subscription, secret)
    answered = secret if request.secret is None and subscription is None else None
    return RotatedSecret(
        id=registration_id, secret=answered, overlap_seconds=request.overlap_seconds
    )


def enable_webhook(
    rt: Runtime, tenant_id: str, registration_id: str, *, actor: str
) -> WebhookRegistration:
    """A failing or disabled registration becomes active again (its streak forgotten)."""
    enabled = _registrations(rt).enable(tenant_id, registration_id)
    _audit(rt, tenant_id, actor, "enable", registration_id)
    return enabled


def unregister_webhook(rt: Runtime, tenant_id: str, registration_id: str, *, actor: str) -> None:
    """A subscription at the provider is removed first (one already gone there is fine)."""
    registrations = _registrations(rt)
    registration = registrations.get(tenant_id, registration_id)
    subscription = registration.subscription_id
    if subscription is not None:
        connection = get_or_none(
            rt.store, Connection.container, tenant_id, registration.connection_id
        )
        if connection is None:
            log.warning("webhook %s: its connection is gone; unsubscribe by hand", registration_id)
        else:
            with _subscriber(rt, Connection.from_document(connection)) as provider:
                try:
                    provider.unsubscribe_webhook(subscription)
                except NotFoundError:
                    log.info("webhook %s: the provider no longer had it", registration_id)
    registrations.unregister(tenant_id, registration_id)
    _audit(rt, tenant_id, actor, "unregister", registration_id)


def _delivery_view(row: WebhookAudit) -> DeliveryView:
    admitted = row.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE) and row.delivery_id
    inbox_id = InboxEntry.make_id(row.registration_id, row.delivery_id or "") if admitted else None
    return DeliveryView.model_validate(row.model_dump() | {"inbox_id": inbox_id})


def list_deliveries(
    rt: Runtime,
    tenant_id: str,
    registration_id: str,
    *,
    outcome: Outcome | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[DeliveryView]:
    """The registration's answered deliveries, oldest first (audit rows, kept 30 days)."""
    get_webhook(rt, tenant_id, registration_id)  # not found, rather than an empty list
    filters = [Filter("registrationId", "=", registration_id)]
    if outcome is not None:
        filters.append(Filter("outcome", "=", outcome.value))
    found = paginate(rt.store, WebhookAudit, tenant_id, filters=filters, after=after, limit=limit)
    return Page[DeliveryView](items=[_delivery_view(r) for r in found.items], next=found.next)


def webhook_health(rt: Runtime, tenant_id: str, registration_id: str) -> WebhookHealth:
    registration = get_webhook(rt, tenant_id, registration_id)
    last = rt.store.query(
        WebhookAudit.container,
        partition_key=tenant_id,
        filters=[Filter("registrationId", "=", registration_id)],
        order_by=[("id", True)],
        limit=1,
    )
    return WebhookHealth(
        id=registration.id,
        status=registration.status.value,
        consecutive_failures=registration.consecutive_failures,
        last_failure_reason=registration.last_failure_reason,
        missed_webhooks=registration.missed_webhooks,
        missed_in_window=registration.missed_in_window,
        last_missed_at=registration.last_missed_at,
        last_delivery=_delivery_view(WebhookAudit.from_document(last[0])) if last else None,
    )


def replay_delivery(
    rt: Runtime, tenant_id: str, registration_id: str, inbox_id: str, *, actor: str
) -> ReplayStarted:
    """Enqueue one delivery again (applied once more, once)."""
    get_webhook(rt, tenant_id, registration_id)
    inbox = Inbox(rt.store, rt.bodies)
    if inbox.get(tenant_id, inbox_id).registration_id != registration_id:
        raise NotFoundError(f"delivery {inbox_id!r} of webhook {registration_id!r} not found")
    message = inbox.replay(rt.queue, tenant_id, inbox_id)
    _audit(rt, tenant_id, actor, "replay", registration_id)
    return ReplayStarted(message_ids=[message.message_id])


def replay_range(
    rt: Runtime, tenant_id: str, registration_id: str, request: ReplayRange, *, actor: str
) -> ReplayStarted:
    """Enqueue again every delivery received in the range (at most MAX_REPLAYS)."""
    get_webhook(rt, tenant_id, registration_id)
    inbox = Inbox(rt.store, rt.bodies)
    entries = inbox.between(
        tenant_id, registration_id, request.since, request.until, limit=MAX_REPLAYS + 1
    )
    if len(entries) > MAX_REPLAYS:
        raise InvalidRequestError(
            f"over {MAX_REPLAYS} deliveries in the range; replay a narrower one"
        )
    messages = [inbox.replay(rt.queue, tenant_id, entry.id) for entry in entries]
    _audit(rt, tenant_id, actor, "replay", registration_id)
    return ReplayStarted(message_ids=[m.message_id for m in messages])
