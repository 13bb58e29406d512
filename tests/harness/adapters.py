"""What the adapter contract suite needs from each provider's fake, and the sandbox's.

A harness serves its provider's fake on loopback and builds an adapter to it whose client
goes through a `FaultyTransport`; it also acts on the fake directly ("a user edits a
record"). The HubSpot and Salesforce fakes plug in with a harness of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import httpx

from adapters.hubspot import HubSpotAdapter
from adapters.salesforce import SalesforceAdapter
from adapters.sandbox import SandboxAdapter
from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.clock import utcnow
from integration_core.models import Connection
from integration_core.ports import IntegrationAdapter
from tests.harness.fakes.hubspot import HubSpotFake
from tests.harness.fakes.salesforce import SalesforceFake
from tests.harness.http_faults import FaultyTransport
from tests.harness.prism import SwitchableApp
from tests.harness.sandbox import SteppingClock, contact, sandbox_connection

__all__ = [
    "AdapterHarness",
    "CityProbe",
    "HubSpotHarness",
    "SalesforceHarness",
    "SandboxHarness",
    "StaticBearer",
    "hubspot_adapter",
    "salesforce_adapter",
    "salesforce_contact",
    "hubspot_task",
    "served_hubspot",
]


class StaticBearer(httpx.Auth):
    """A bearer token, refreshed once when refused (a 401, or the toolkit's `refused()`)
    as `CredentialAuth` does; counts refreshes."""

    def __init__(self, token: str, *, refreshed: str | None = None) -> None:
        self.token = token
        self.refreshed = refreshed or token
        self.refreshes = 0

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401 and self.refused():
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request

    def refused(self) -> bool:
        self.refreshes += 1
        self.token = self.refreshed
        return True


class AdapterHarness(Protocol):
    name: str
    entity_type: str
    records_path: str  # where a list answer holds its records, named in malformed-answer errors
    writable: bool  # False: a read-only provider (its write tests are skipped)
    faults: FaultyTransport

    def adapter(
        self, *, auth: httpx.Auth | None = None
    ) -> AbstractContextManager[IntegrationAdapter]:
        """An adapter over loopback, its client through `faults`."""
        ...

    def create(self, values: dict[str, Any]) -> str: ...

    def edit(self, external_id: str, values: dict[str, Any]) -> None: ...

    def remove(self, external_id: str) -> None:
        """Delete the record in the provider, as a user would."""
        ...

    def ids(self) -> set[str]:
        """Live (not deleted) records' ids."""
        ...

    def sample(self, i: int) -> dict[str, Any]:
        """Valid field values for a new record (distinct per `i`)."""
        ...

    def same_time(self, on: bool) -> None:
        """While on, records made share one modification time."""
        ...

    expires_changes: bool  # the provider keeps changes for a while only (a retention)
    # Where deleted records show up in listings: "always" (every listing, as tombstones),
    # "incremental" (change listings only, not a full one) or "never" (webhooks only).
    deletes_listed: Literal["always", "incremental", "never"]

    def change(self, text: str) -> dict[str, Any]:
        """Provider values (as a write sends them) that set the probed field to `text`."""
        ...

    def probe(self, values: Mapping[str, Any]) -> Any:
        """The probed field's value in a read record's values."""
        ...

    def is_create(self, request: httpx.Request) -> bool:
        """Is this the request that makes a record (not a lookup before it)?"""
        ...

    def forget_changes(self) -> None:
        """The provider keeps no changes from before now: old cursors expire."""
        ...

    def bad_token(self) -> str:
        """A credential the provider refuses."""
        ...

    def good_token(self) -> str:
        """A credential the provider accepts."""
        ...


class CityProbe:
    """Harnesses whose provider keeps a contact's city as a plain `city` value."""

    def change(self, text: str) -> dict[str, Any]:
        return {"city": text}

    def probe(self, values: Mapping[str, Any]) -> Any:
        return values["city"]


class SandboxHarness(CityProbe):
    name = "sandbox"
    entity_type = "contact"
    records_path = "results"
    writable = True
    expires_changes = True
    deletes_listed: Literal["always", "incremental", "never"] = "always"

    def is_create(self, request: httpx.Request) -> bool:
        return request.method == "POST"

    def __init__(self) -> None:
        self._clock = SteppingClock(datetime(2026, 1, 1, tzinfo=UTC))
        self.account = SandboxAccount(name="contract", api_key="key-contract", clock=self._clock)
        self.faults = FaultyTransport(httpx.HTTPTransport())
        self._frozen: datetime | None = None

    def _now(self) -> datetime:
        return self._frozen if self._frozen is not None else self._clock()

    @contextmanager
    def adapter(self, *, auth: httpx.Auth | None = None) -> Iterator[IntegrationAdapter]:
        with SandboxServer(self.account) as server:
            client = httpx.Client(
                base_url=server.base_url,
                auth=auth or StaticBearer(self.account.api_key),
                transport=self.faults,
            )
            with SandboxAdapter(
                sandbox_connection("c-contract", server.base_url), client=client
            ) as adapter:
                yield adapter

    def create(self, values: dict[str, Any]) -> str:
        self.account.clock = self._now
        try:
            return self.account.create("contacts", values).id
        finally:
            self.account.clock = self._clock

    def edit(self, external_id: str, values: dict[str, Any]) -> None:
        self.account.update("contacts", external_id, values)

    def remove(self, external_id: str) -> None:
        self.account.archive("contacts", external_id)

    def ids(self) -> set[str]:
        return {r.id for r in self.account.records("contacts")}

    def sample(self, i: int) -> dict[str, Any]:
        return contact(i)

    def same_time(self, on: bool) -> None:
        self._frozen = self._clock() if on else None

    def forget_changes(self) -> None:
        self.account.retention = timedelta(0)

    def bad_token(self) -> str:
        return "not-the-key"

    def good_token(self) -> str:
        return self.account.api_key


def hubspot_task(i: int) -> dict[str, str]:
    """A HubSpot task's properties (developers.hubspot.com/docs/api/crm/tasks)."""
    return {
        "hs_task_subject": f"Follow up {i}",
        "hs_task_body": f"<p>Call about order <b>{i}</b></p>",
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": "HIGH",
        "hs_timestamp": f"2026-03-{1 + i % 28:02d}T09:00:00.000Z",
    }


def hubspot_adapter(
    base_url: str,
    *,
    auth: httpx.Auth,
    transport: httpx.BaseTransport | None = None,
    **config: Any,
) -> HubSpotAdapter:
    """A HubSpot adapter for a connection with `config` (besides its base URL)."""
    client = httpx.Client(base_url=base_url, auth=auth, transport=transport)
    connection = Connection(
        id="c-hubspot", tenant_id="t1", system="hubspot", config={"base_url": base_url, **config}
    )
    return HubSpotAdapter(connection, client=client)


@contextmanager
def served_hubspot(
    fake: HubSpotFake, *, transport: httpx.BaseTransport | None = None, **config: Any
) -> Iterator[HubSpotAdapter]:
    """A HubSpot adapter for a connection with `config`, to `fake` served on loopback."""
    with (
        SandboxServer(fake) as server,
        hubspot_adapter(
            server.base_url, auth=StaticBearer(fake.token), transport=transport, **config
        ) as adapter,
    ):
        yield adapter


class HubSpotHarness:
    """The HubSpot adapter against the HubSpot-shaped fake (adapters/fakes/hubspot.py)."""

    name = "hubspot"
    records_path = "results"
    writable = True
    expires_changes = False  # HubSpot keeps no change log: a search never expires
    deletes_listed: Literal["always", "incremental", "never"] = "always"

    def is_create(self, request: httpx.Request) -> bool:
        return request.method == "POST" and request.url.path.endswith("/batch/upsert")

    def change(self, text: str) -> dict[str, Any]:
        return {self.edited_field: text}

    def probe(self, values: Mapping[str, Any]) -> Any:
        return values[self.edited_field]

    def __init__(
        self, *, entity_type: str = "contact", via: tuple[str, SwitchableApp] | None = None
    ) -> None:
        """`entity_type`: contact or task. `via`: a Prism proxy's URL and the switch behind
        it (the fake is validated against HubSpot's OpenAPI file on every request and
        answer)."""
        self.entity_type = entity_type
        self.edited_field = {"contact": "city", "task": "hs_task_subject"}[entity_type]
        self._object = {"contact": "contacts", "task": "tasks"}[entity_type]
        self._frozen: datetime | None = None
        # Real time: HubSpot listings commit our clock's start time, as against the real API.
        self.fake = HubSpotFake(token="pat-contract", clock=lambda: self._frozen or utcnow())
        self.faults = FaultyTransport(httpx.HTTPTransport())
        self._via = via

    @contextmanager
    def adapter(self, *, auth: httpx.Auth | None = None) -> Iterator[IntegrationAdapter]:
        if self._via is not None:
            url, switch = self._via
            switch.app = self.fake
            with self._adapter(url, auth) as adapter:
                yield adapter
            return
        with SandboxServer(self.fake) as server, self._adapter(server.base_url, auth) as adapter:
            yield adapter

    @contextmanager
    def _adapter(self, base_url: str, auth: httpx.Auth | None) -> Iterator[IntegrationAdapter]:
        auth = auth or StaticBearer(self.fake.token)
        with hubspot_adapter(
            base_url, auth=auth, transport=self.faults, id_property="lockstep_id"
        ) as adapter:
            yield adapter

    def create(self, values: dict[str, Any]) -> str:
        return self.fake.create(self._object, values)

    def edit(self, external_id: str, values: dict[str, Any]) -> None:
        self.fake.update(self._object, external_id, values)

    def remove(self, external_id: str) -> None:
        self.fake.archive(self._object, external_id)

    def ids(self) -> set[str]:
        return self.fake.live_ids(self._object)

    def sample(self, i: int) -> dict[str, Any]:
        return contact(i) if self.entity_type == "contact" else hubspot_task(i)

    def same_time(self, on: bool) -> None:
        self._frozen = utcnow() if on else None

    def forget_changes(self) -> None:
        raise AssertionError("HubSpot keeps no change log to forget")

    def bad_token(self) -> str:
        return "pat-wrong"

    def good_token(self) -> str:
        return self.fake.token


def salesforce_adapter(
    instance_url: str,
    *,
    auth: httpx.Auth,
    transport: httpx.BaseTransport | None = None,
    **config: Any,
) -> SalesforceAdapter:
    """A Salesforce adapter for a connection to `instance_url` with `config` besides."""
    client = httpx.Client(base_url=instance_url, auth=auth, transport=transport)
    connection = Connection(
        id="c-salesforce",
        tenant_id="t1",
        system="salesforce",
        config={"instance_url": instance_url, **config},
    )
    return SalesforceAdapter(connection, client=client)


def salesforce_contact(i: int) -> dict[str, str]:
    """`contact(i)` in Salesforce's Contact field names."""
    person = contact(i)
    return {
        "FirstName": person["firstname"],
        "LastName": person["lastname"],
        "Email": person["email"],
        "Title": person["jobtitle"],
        "MailingCity": person["city"],
    }


class SalesforceHarness:
    """The Salesforce adapter against the Salesforce-shaped fake (adapters/fakes/salesforce.py)."""

    name = "salesforce"
    entity_type = "contact"
    records_path = "records"
    expires_changes = True  # deleted rows are kept 15 days; the delete log is purged sooner
    # queryAll lists rows in the Recycle Bin as tombstones, in full scans too.
    deletes_listed: Literal["always", "incremental", "never"] = "always"
    writable = True

    def change(self, text: str) -> dict[str, Any]:
        return {"MailingCity": text}

    def probe(self, values: Mapping[str, Any]) -> Any:
        return values["MailingCity"]

    def is_create(self, request: httpx.Request) -> bool:
        # An upsert on the external id field (the suite's creates carry a key), or a POST.
        return request.method == "POST" or "/Lockstep_Id__c/" in request.url.path

    def __init__(self) -> None:
        self._frozen: datetime | None = None
        # Small pages for the suite: the real API raises any batchSize below 200 to 200.
        self.fake = SalesforceFake(
            token="00Dcontract!token", clock=lambda: self._frozen or utcnow(), min_batch_size=1
        )
        self.faults = FaultyTransport(httpx.HTTPTransport())

    @contextmanager
    def adapter(self, *, auth: httpx.Auth | None = None) -> Iterator[IntegrationAdapter]:
        with (
            SandboxServer(self.fake) as server,
            salesforce_adapter(
                server.base_url,
                auth=auth or StaticBearer(self.fake.token),
                transport=self.faults,
                external_id_field="Lockstep_Id__c",
            ) as adapter,
        ):
            yield adapter

    def create(self, values: dict[str, Any]) -> str:
        return self.fake.create("Contact", values)

    def edit(self, external_id: str, values: dict[str, Any]) -> None:
        self.fake.update("Contact", external_id, values)

    def remove(self, external_id: str) -> None:
        self.fake.delete("Contact", external_id)

    def ids(self) -> set[str]:
        return self.fake.live_ids("Contact")

    def sample(self, i: int) -> dict[str, Any]:
        return salesforce_contact(i)

    def same_time(self, on: bool) -> None:
        self._frozen = utcnow() if on else None

    def forget_changes(self) -> None:
        self.fake.purge_delete_log()

    def bad_token(self) -> str:
        return "00Dcontract!expired"

    def good_token(self) -> str:
        return self.fake.token
