"""Where a tenant's alerts go: Slack incoming webhooks and Teams Workflows webhooks.

The admin API calls these service functions. A webhook URL is a secret (whoever holds it
may post to the channel): it lives in the secret store and is registered for redaction;
the document in `notification-destinations` holds only its kind, name and host.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from integration_core.clock import to_iso, utcnow
from integration_core.errors import PermanentError
from integration_core.models import deterministic_id
from integration_core.net import OutboundPolicyError
from integration_core.notify.messages import DestinationKind
from integration_core.observability import register_secrets
from integration_core.runtime import Runtime
from integration_core.storage import DocumentStore, Filter

__all__ = [
    "DESTINATIONS",
    "Destination",
    "add_destination",
    "destination_url",
    "destinations_of",
    "list_destinations",
    "remove_destination",
]

DESTINATIONS = "notification-destinations"


@dataclass(frozen=True)
class Destination:
    id: str
    tenant_id: str
    kind: DestinationKind
    name: str
    host: str

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "tenantId": self.tenant_id,
            "kind": self.kind.value,
            "name": self.name,
            "host": self.host,
        }

    @classmethod
    def from_document(cls, document: dict[str, object]) -> Destination:
        return cls(
            id=str(document["id"]),
            tenant_id=str(document["tenantId"]),
            kind=DestinationKind(str(document["kind"])),
            name=str(document["name"]),
            host=str(document["host"]),
        )


def _secret_name(tenant_id: str, destination_id: str) -> str:
    return f"notify-{deterministic_id(tenant_id, destination_id)}"


def add_destination(rt: Runtime, tenant_id: str, *, kind: str, name: str, url: str) -> Destination:
    """Store a destination (same name: replaced). Bad input raises PermanentError."""
    try:
        destination_kind = DestinationKind(kind)
    except ValueError as err:
        raise PermanentError(f"kind must be one of {[k.value for k in DestinationKind]}") from err
    if not name.strip():
        raise PermanentError("a destination needs a name")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as err:
        raise PermanentError("url is not a URL") from err
    if not parsed.host:
        raise PermanentError("url has no host")
    try:
        rt.connectors.policy.check_scheme(parsed)
    except OutboundPolicyError as err:
        raise PermanentError(str(err)) from err
    destination = Destination(
        id=deterministic_id(tenant_id, "destination", name),
        tenant_id=tenant_id,
        kind=destination_kind,
        name=name,
        host=parsed.host,
    )
    register_secrets([url])
    rt.secrets.set(_secret_name(tenant_id, destination.id), url)
    rt.store.upsert(DESTINATIONS, destination.to_json() | {"createdAt": to_iso(utcnow())})
    return destination


def list_destinations(rt: Runtime, tenant_id: str) -> list[Destination]:
    return destinations_of(rt.store, tenant_id)


def destinations_of(store: DocumentStore, tenant_id: str) -> list[Destination]:
    documents = store.query(
        DESTINATIONS, partition_key=tenant_id, filters=[Filter("tenantId", "=", tenant_id)]
    )
    return [Destination.from_document(d) for d in documents]


def remove_destination(rt: Runtime, tenant_id: str, destination_id: str) -> None:
    rt.store.delete(DESTINATIONS, tenant_id, destination_id)
    rt.secrets.delete(_secret_name(tenant_id, destination_id))


def destination_url(rt: Runtime, tenant_id: str, destination_id: str) -> str:
    """The destination's webhook URL; `NotFoundError` once it was removed."""
    url = rt.secrets.get(_secret_name(tenant_id, destination_id))
    register_secrets([url])
    return url
