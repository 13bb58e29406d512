"""The contract suite's harnesses for Notion and Google People, and the connections the
end-to-end tests make to their fakes (tests/harness/fakes/notion.py, google_people.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, Protocol

import httpx

from adapters.google import GooglePeopleAdapter
from adapters.notion import NotionAdapter
from adapters.sandbox_server import SandboxServer
from integration_core.clock import utcnow
from integration_core.models import Connection
from integration_core.ports import IntegrationAdapter
from tests.harness.adapters import StaticBearer
from tests.harness.fakes.google_people import GooglePeopleFake
from tests.harness.fakes.notion import NotionFake, rich, title
from tests.harness.http_faults import FaultyTransport
from tests.harness.sandbox import contact

__all__ = [
    "CONTACTS_DATABASE",
    "CONTACTS_SCHEMA",
    "GoogleHarness",
    "NotionHarness",
    "google_person",
    "notion_contact",
]

# The database id of Notion's page object example (developers.notion.com/reference/page).
CONTACTS_DATABASE = "a1d8501e-1ac1-43e9-a6bd-ea9fe6c8822b"
CONTACTS_SCHEMA = {
    "Name": "title",
    "Email": "email",
    "Phone": "phone_number",
    "Company": "rich_text",
    "City": "rich_text",
    "Lockstep ID": "rich_text",
}


def notion_contact(values: Mapping[str, str]) -> dict[str, Any]:
    """A sandbox-shaped contact as Notion property values for the contacts database."""
    return {
        "Name": title(f"{values['firstname']} {values['lastname']}"),
        "Email": {"email": values["email"]},
        "City": rich(values["city"]),
    }


def google_person(values: Mapping[str, str]) -> dict[str, Any]:
    """A sandbox-shaped contact as a Google People `Person`."""
    return {
        "names": [{"givenName": values["firstname"], "familyName": values["lastname"]}],
        "emailAddresses": [{"value": values["email"]}],
        "organizations": [{"title": values["jobtitle"]}],
        "addresses": [{"city": values["city"]}],
    }


class _Harness(Protocol):
    fake: NotionFake | GooglePeopleFake
    faults: FaultyTransport


@contextmanager
def _served(
    adapter: type[NotionAdapter | GooglePeopleAdapter],
    system: str,
    config: dict[str, Any],
    harness: _Harness,
    auth: httpx.Auth | None,
) -> Iterator[IntegrationAdapter]:
    """The harness's fake on loopback and an adapter to it through the harness's faults."""
    with SandboxServer(harness.fake) as server:
        client = httpx.Client(
            base_url=server.base_url,
            auth=auth or StaticBearer(harness.fake.token),
            transport=harness.faults,
        )
        connection = Connection(
            id=f"c-{system}",
            tenant_id="t1",
            system=system,
            config={"base_url": server.base_url, **config},
        )
        with adapter(connection, client=client) as built:
            yield built


class _Frozen:
    """While `same_time(True)`, records made share one modification time."""

    def __init__(self) -> None:
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        return self._frozen or utcnow()

    def same_time(self, on: bool) -> None:
        self._frozen = utcnow() if on else None


class NotionHarness(_Frozen):
    name = "notion"
    entity_type = "contact"
    records_path = "results"
    expires_changes = False  # a last_edited_time filter never expires
    deletes_listed: Literal["always", "incremental", "never"] = "never"
    writable = True

    def __init__(self) -> None:
        super().__init__()
        self.fake = NotionFake(
            token="secret_contract", databases={CONTACTS_DATABASE: CONTACTS_SCHEMA}, clock=self.now
        )
        self.faults = FaultyTransport(httpx.HTTPTransport())

    @contextmanager
    def adapter(self, *, auth: httpx.Auth | None = None) -> Iterator[IntegrationAdapter]:
        config = {"databases": {"contact": CONTACTS_DATABASE}, "id_property": "Lockstep ID"}
        with _served(NotionAdapter, "notion", config, self, auth) as adapter:
            yield adapter

    def create(self, values: dict[str, Any]) -> str:
        return self.fake.create(CONTACTS_DATABASE, values)

    def edit(self, external_id: str, values: dict[str, Any]) -> None:
        self.fake.update(external_id, values)

    def remove(self, external_id: str) -> None:
        self.fake.trash(external_id)

    def ids(self) -> set[str]:
        return self.fake.live_ids(CONTACTS_DATABASE)

    def sample(self, i: int) -> dict[str, Any]:
        return notion_contact(contact(i))

    def change(self, text: str) -> dict[str, Any]:
        return {"City": rich(text)}

    def probe(self, values: Mapping[str, Any]) -> Any:
        return "".join(run["plain_text"] for run in values["City"]["rich_text"])

    def is_create(self, request: httpx.Request) -> bool:
        return request.method == "POST" and request.url.path == "/v1/pages"

    def forget_changes(self) -> None:
        raise AssertionError("Notion keeps no change log to forget")

    def bad_token(self) -> str:
        return "secret_wrong"

    def good_token(self) -> str:
        return self.fake.token


class GoogleHarness(_Frozen):
    name = "google"
    entity_type = "contact"
    records_path = "connections"
    expires_changes = True  # sync tokens expire (7 days)
    deletes_listed: Literal["always", "incremental", "never"] = "incremental"
    writable = True

    def __init__(self) -> None:
        super().__init__()
        self.fake = GooglePeopleFake(token="ya29.contract", clock=self.now)
        self.faults = FaultyTransport(httpx.HTTPTransport())

    @contextmanager
    def adapter(self, *, auth: httpx.Auth | None = None) -> Iterator[IntegrationAdapter]:
        with _served(GooglePeopleAdapter, "google", {}, self, auth) as adapter:
            yield adapter

    def create(self, values: dict[str, Any]) -> str:
        return self.fake.create(values)

    def edit(self, external_id: str, values: dict[str, Any]) -> None:
        self.fake.update(external_id, values)

    def remove(self, external_id: str) -> None:
        self.fake.delete(external_id)

    def ids(self) -> set[str]:
        return self.fake.live_ids()

    def sample(self, i: int) -> dict[str, Any]:
        return google_person(contact(i))

    def change(self, text: str) -> dict[str, Any]:
        return {"addresses": [{"city": text}]}

    def probe(self, values: Mapping[str, Any]) -> Any:
        return values["addresses"][0]["city"]

    def is_create(self, request: httpx.Request) -> bool:
        return request.url.path == "/v1/people:createContact"

    def forget_changes(self) -> None:
        self.fake.forget_changes()

    def bad_token(self) -> str:
        return "ya29.wrong"

    def good_token(self) -> str:
        return self.fake.token
