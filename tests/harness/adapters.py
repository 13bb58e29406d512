"""What the adapter contract suite needs from each provider's fake, and the sandbox's.

A harness serves its provider's fake on loopback and builds an adapter to it whose client
goes through a `FaultyTransport`; it also acts on the fake directly ("a user edits a
record"). The HubSpot and Salesforce fakes plug in with a harness of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from adapters.hubspot import HubSpotAdapter
from adapters.sandbox import SandboxAdapter
from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.clock import utcnow
from integration_core.models import Connection
from integration_core.ports import IntegrationAdapter
from tests.harness.fakes.hubspot import HubSpotFake
from tests.harness.http_faults import FaultyTransport
from tests.harness.prism import SwitchableApp
from tests.harness.sandbox import SteppingClock, contact, sandbox_connection

__all__ = [
    "AdapterHarness",
    "HubSpotHarness",
    "SandboxHarness",
    "StaticBearer",
    "hubspot_adapter",
    "hubspot_task",
    "served_hubspot",
]


class StaticBearer(httpx.Auth):
    """A bearer token, refreshed once on a 401 as `CredentialAuth` does; counts refreshes."""

    def __init__(self, token: str, *, refreshed: str | None = None) -> None:
        self.token = token
        self.refreshed = refreshed or token
        self.refreshes = 0

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self.refreshes += 1
            self.token = self.refreshed
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


class AdapterHarness(Protocol):
    name: str
    entity_type: str
    records_path: str  # where a list answer holds its records, named in malformed-answer errors
    edited_field: str  # a text field of `entity_type` the suite edits, in provider names
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

    def forget_changes(self) -> None:
        """The provider keeps no changes from before now: old cursors expire."""
        ...

    def bad_token(self) -> str:
        """A credential the provider refuses."""
        ...

    def good_token(self) -> str:
        """A credential the provider accepts."""
        ...


class SandboxHarness:
    name = "sandbox"
    entity_type = "contact"
    records_path = "results"
    edited_field = "city"
    expires_changes = True

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
    """The HubSpot adapter against the HubSpot-shaped fake (tests/harness/fakes/hubspot.py)."""

    name = "hubspot"
    records_path = "results"
    expires_changes = False  # HubSpot keeps no change log: a search never expires

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
