"""A sandbox CRM kept in lockstep with a Notion contacts database and a Google account's
contacts, through the real pipelines, each fake served over loopback HTTP.

Both ways, edits field by field, an idle round that writes nothing, deletes (Notion's by
its signed `page.deleted` webhook, Google's by its sync listing), a Google channel ping
that pulls at once, and an expired sync token that rescans without deleting anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.clock import to_iso, utcnow
from integration_core.models import Connection
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import WebhookRegistrations
from tests.harness.embedded import connect, connect_sandbox, embedded_runtime
from tests.harness.fakes.google_people import GooglePeopleFake
from tests.harness.fakes.notion import NotionFake, rich
from tests.harness.flows import Rounds
from tests.harness.notion_google import (
    CONTACTS_DATABASE,
    CONTACTS_SCHEMA,
    google_person,
    notion_contact,
)
from tests.harness.sandbox import contact, seeded_account
from tests.harness.webhooks import notion_delivery

pytestmark = pytest.mark.e2e

TENANT = "t1"
URL = "https://lockstep.example/api/webhooks/hook"


class World:
    def __init__(self, tmp_path: Path, stack: ExitStack) -> None:
        self.crm: SandboxAccount = seeded_account("crm", contacts=4)
        # Notion keeps edit times to the minute; `later` moves its clock past the minute
        # our own writes were made in, as a user's edit minutes after a sync would be.
        self.later = timedelta(0)
        self.notion = NotionFake(
            token="secret_e2e",
            databases={CONTACTS_DATABASE: CONTACTS_SCHEMA},
            clock=lambda: utcnow() + self.later,
        )
        self.google = GooglePeopleFake(token="ya29.e2e")
        # Each system already holds one person of its own.
        self.notion.create(CONTACTS_DATABASE, notion_contact(contact(10)))
        self.google.create(google_person(contact(11)))
        notion_url = stack.enter_context(SandboxServer(self.notion)).base_url
        google_url = stack.enter_context(SandboxServer(self.google)).base_url
        self.rt: Runtime = embedded_runtime(tmp_path, {"crm": self.crm})
        connect_sandbox(self.rt, "crm", self.crm, targets=("notion", "google"))
        self._connect(
            "notion",
            {
                "base_url": notion_url,
                "databases": {"contact": CONTACTS_DATABASE},
                "id_property": "Lockstep ID",
            },
            {"type": "bearer_token", "token": self.notion.token},
        )
        self._connect(
            "google",
            {"base_url": google_url},
            {
                "type": "oauth2_authorization_code",
                "token_url": "https://oauth2.googleapis.com/token",
                "client_id": "lockstep-e2e",
                "refresh_token": "1//refresh-e2e",
                "access_token": self.google.token,
            },
        )
        self.sync = Rounds(self.rt)

    def _connect(self, system: str, config: dict[str, Any], credential: dict[str, Any]) -> None:
        connect(
            self.rt,
            Connection(id=system, tenant_id=TENANT, system=system, config=config),
            credential,
            targets=[c for c in ("crm", "notion", "google") if c != system],
            expires_at=utcnow() + timedelta(days=1),
        )

    def deliver(self, provider: str, headers: dict[str, str], body: bytes) -> None:
        reply = receive_webhook(
            self.rt, self.registration(provider), headers=headers, body=body, url=URL
        )
        assert reply.status == 202, reply.body
        assert drain_queues(self.rt).poisoned == []

    def registration(self, provider: str) -> str:
        registration, _ = WebhookRegistrations(self.rt.store, self.rt.credentials).register(
            TENANT,
            "notion" if provider == "notion" else "google",
            provider,
            secret=SECRETS[provider],
        )
        return registration.id

    # -- what each system holds, as (first name, last name, email, city) --

    def crm_people(self) -> set[tuple[str, ...]]:
        return {
            (p["firstname"], p["lastname"], p["email"], p["city"])
            for p in (r.properties for r in self.crm.records("contacts"))
        }

    def notion_people(self) -> set[tuple[str, ...]]:
        people = set()
        for page_id in self.notion.live_ids(CONTACTS_DATABASE):
            props = self.notion.page(page_id)["properties"]
            first, _, last = _text(props["Name"]["title"]).rpartition(" ")
            people.add((first, last, props["Email"]["email"], _text(props["City"]["rich_text"])))
        return people

    def google_people(self) -> set[tuple[str, ...]]:
        people = set()
        for person_id in self.google.live_ids():
            person = self.google.person(person_id)
            name = person["names"][0]
            people.add(
                (
                    name["givenName"],
                    name["familyName"],
                    person["emailAddresses"][0]["value"],
                    person["addresses"][0]["city"],
                )
            )
        return people


SECRETS = {"notion": "notion-verification-token", "google_channel": "channel-token-e2e"}


def _text(runs: list[dict[str, Any]]) -> str:
    return "".join(run["plain_text"] for run in runs)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with ExitStack() as stack:
        built = World(tmp_path, stack)
        yield built
        built.rt.close()


def test_notion_and_google_stay_in_lockstep_with_the_crm(world: World) -> None:
    world.sync()
    world.sync()  # the people first read from Notion and Google reach the other system
    assert len(world.crm_people()) == 6
    assert world.notion_people() == world.crm_people() == world.google_people()

    # Notion -> CRM -> Google, one field.
    page_id = sorted(world.notion.live_ids(CONTACTS_DATABASE))[0]
    world.notion.update(page_id, {"City": rich("Paris")})
    world.sync()
    world.sync()
    assert sum(1 for person in world.crm_people() if person[3] == "Paris") == 1
    assert world.notion_people() == world.crm_people() == world.google_people()

    # CRM -> Google: the update merges into the contact (its other name part kept).
    record = world.crm.records("contacts")[0]
    world.crm.update("contacts", record.id, {"firstname": "Ada"})
    world.sync()
    assert world.notion_people() == world.crm_people() == world.google_people()
    assert ("Ada", record.properties["lastname"]) in {p[:2] for p in world.google_people()}

    idle = world.sync()
    assert sum(r.pushed for r in idle) == 0


def test_a_notion_page_trashed_is_deleted_everywhere_through_its_webhook(world: World) -> None:
    world.sync()
    world.sync()
    page_id = sorted(world.notion.live_ids(CONTACTS_DATABASE))[1]
    email = world.notion.page(page_id)["properties"]["Email"]["email"]
    world.later = timedelta(minutes=2)
    world.notion.trash(page_id)
    world.sync()  # a query never lists a trashed page: the pull alone deletes nothing
    assert email in {p[2] for p in world.crm_people()}

    # https://developers.notion.com/reference/webhooks-events-delivery
    event = {
        "id": "367cba44-b6f3-4c92-81e7-6a2e9659efd4",
        "timestamp": to_iso(utcnow() + world.later),
        "workspace_id": "13950b26-c203-4f3b-b97d-93ec06319565",
        "workspace_name": "Quantify Labs",
        "subscription_id": "29d75c0d-5546-4414-8459-7b7a92f1fc4b",
        "integration_id": "0ef2e755-4912-8096-91c1-00376a88a5ca",
        "type": "page.deleted",
        "authors": [{"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}],
        "attempt_number": 1,
        "entity": {"id": page_id, "type": "page"},
        "data": {"parent": {"id": CONTACTS_DATABASE, "type": "database"}},
    }
    headers, body = notion_delivery(SECRETS["notion"], event)
    world.deliver("notion", headers, body)
    assert email not in {p[2] for p in world.crm_people()}
    assert email not in {p[2] for p in world.google_people()}


def test_google_deletes_pings_and_an_expired_sync_token(world: World) -> None:
    world.sync()
    world.sync()
    first, second = sorted(world.google.live_ids())[:2]
    gone = world.google.person(second)["emailAddresses"][0]["value"]
    world.google.delete(second)
    world.sync()  # the sync listing names the deleted contact
    assert gone not in {p[2] for p in world.crm_people()}
    assert gone not in {p[2] for p in world.notion_people()}

    # A channel ping names no contact: the contacts task pulls at once, no scheduler round.
    world.google.update(first, {"addresses": [{"city": "Lisbon"}]})
    headers = {
        "X-Goog-Channel-ID": "01234567-89ab-cdef-0123456789ab",
        "X-Goog-Channel-Token": SECRETS["google_channel"],
        "X-Goog-Message-Number": "2",
        "X-Goog-Resource-ID": "ret08u3rv24htgh289g",
        "X-Goog-Resource-URI": "https://people.googleapis.com/v1/people/me/connections",
        "X-Goog-Resource-State": "exists",
    }
    world.deliver("google_channel", headers, b"")
    assert sum(1 for person in world.crm_people() if person[3] == "Lisbon") == 1

    # Sync tokens expire: the full rescan deletes nothing and writes nothing.
    before = world.crm_people()
    world.google.forget_changes()
    rescan = world.sync()
    assert world.crm_people() == before == world.google_people()
    assert sum(r.pushed for r in rescan) == 0
