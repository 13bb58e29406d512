"""The systems the embedded demo can sync: the sandbox, and the HubSpot- and Salesforce-shaped
fakes (`adapters.fakes`), each served in-process at a `.invalid` host through an injected
httpx transport, so the real adapters speak real HTTP to them with no network.

A demo system is seeded and edited with canonical contact values (the demo's users work in
its UI: direct access, no API calls counted) and read back as canonical values, through
the adapter's own default mapping, so two different providers can be compared field by
field.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from adapters.fakes.hubspot import HubSpotFake
from adapters.fakes.salesforce import SalesforceFake
from adapters.hubspot import HUBSPOT_MAPPINGS
from adapters.salesforce import SALESFORCE_MAPPINGS
from adapters.sandbox import SANDBOX_MAPPINGS
from adapters.sandbox_server import SandboxAccount
from integration_core.clock import utcnow
from integration_core.mapping import ObjectMapping

__all__ = ["DEMO_SYSTEMS", "DemoSystem", "make_system", "transports"]

WsgiApp = Callable[..., Iterable[bytes]]


@dataclass
class DemoSystem:
    """One system in the demo: the app serving its API, how to connect to it, and its UI."""

    role: str  # the connection id ("crm", "marketing")
    system: str  # the connection's system
    app: WsgiApp
    config: dict[str, Any]
    credential: dict[str, Any]
    mapping: ObjectMapping
    add: Callable[[dict[str, Any]], object]
    edit: Callable[[str, dict[str, Any]], object]
    live: Callable[[], dict[str, dict[str, Any]]]
    credential_expires_at: datetime | None = None

    @property
    def host(self) -> str:
        return f"{self.role}.{self.system}.invalid"

    @property
    def label(self) -> str:
        return f"{self.role} ({self.system})"

    def create(self, person: Mapping[str, Any]) -> None:
        """A user adds a contact (canonical values) in the system's UI."""
        self.add(self.mapping.to_provider(person))

    def update(self, record_id: str, values: Mapping[str, Any]) -> None:
        self.edit(record_id, self.mapping.to_provider(values))

    def record_ids(self) -> list[str]:
        """Live contacts' ids, in creation order."""
        return list(self.live())

    def canonical(self) -> list[dict[str, Any]]:
        """Every live contact's canonical values, through the adapter's default mapping."""
        return [self.mapping.to_canonical(fields) for fields in self.live().values()]


def _sandbox(role: str) -> DemoSystem:
    account = SandboxAccount(name=role, api_key=secrets.token_urlsafe(24))
    system = DemoSystem(
        role=role,
        system="sandbox",
        app=account,
        config={},
        credential={"type": "bearer_token", "token": account.api_key},
        mapping=SANDBOX_MAPPINGS["contact"],
        add=lambda fields: account.create("contacts", fields),
        edit=lambda record_id, fields: account.update("contacts", record_id, fields),
        live=lambda: {r.id: dict(r.properties) for r in account.records("contacts")},
    )
    system.config["base_url"] = f"http://{system.host}"
    return system


def _hubspot(role: str) -> DemoSystem:
    fake = HubSpotFake(token=f"pat-{secrets.token_urlsafe(24)}")
    system = DemoSystem(
        role=role,
        system="hubspot",
        app=fake,
        # Creates upsert on a unique property (the fake's `lockstep_id`): idempotent.
        config={"id_property": "lockstep_id"},
        credential={"type": "bearer_token", "token": fake.token},  # a private-app token
        mapping=HUBSPOT_MAPPINGS["contact"],
        add=lambda fields: fake.create("contacts", fields),
        edit=lambda record_id, fields: fake.update("contacts", record_id, fields),
        live=lambda: fake.live_properties("contacts"),
    )
    system.config["base_url"] = f"http://{system.host}"
    return system


def _salesforce(role: str) -> DemoSystem:
    fake = SalesforceFake(token=secrets.token_urlsafe(24))
    system = DemoSystem(
        role=role,
        system="salesforce",
        app=fake,
        config={"external_id_field": "Lockstep_Id__c"},
        # An access token the org already issued, valid past the demo's end: nothing is
        # refreshed, so the token URL (a host that cannot resolve) is never called.
        credential={
            "type": "oauth2_authorization_code",
            "token_url": "https://login.salesforce.invalid/services/oauth2/token",
            "client_id": "lockstep-demo",
            "refresh_token": secrets.token_urlsafe(24),
            "access_token": fake.token,
        },
        credential_expires_at=utcnow() + timedelta(hours=1),
        mapping=SALESFORCE_MAPPINGS["contact"],
        add=lambda fields: fake.create("Contact", fields),
        edit=lambda record_id, fields: fake.update("Contact", record_id, fields),
        live=lambda: fake.live_fields("Contact"),
    )
    system.config["instance_url"] = f"http://{system.host}"
    return system


DEMO_SYSTEMS: Mapping[str, Callable[[str], DemoSystem]] = {
    "sandbox": _sandbox,
    "hubspot": _hubspot,
    "salesforce": _salesforce,
}


def make_system(system: str, role: str) -> DemoSystem:
    """A fresh, empty `system` connected as `role`.

    Raises:
        ValueError: a system the demo does not know.
    """
    if system not in DEMO_SYSTEMS:
        raise ValueError(f"unknown demo system {system!r} (known: {', '.join(DEMO_SYSTEMS)})")
    return DEMO_SYSTEMS[system](role)


def transports(systems: Iterable[DemoSystem]) -> dict[str, httpx.BaseTransport]:
    """In-process transports by host, one per system (the runtime's `transports=`)."""
    return {s.host: httpx.WSGITransport(app=s.app) for s in systems}
