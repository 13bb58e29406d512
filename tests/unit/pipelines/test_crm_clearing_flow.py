"""HubSpot and Salesforce (their fakes, in-process) kept in lockstep through the real
pipelines when a field is empty or cleared on the Salesforce side: Salesforce's empty
field (null) reaches HubSpot as the empty string HubSpot clears a property with (its
property values are strings; a null is refused), and the next rounds write nothing —
no ping-pong between "" and absent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from integration_core.clock import utcnow
from integration_core.models import Connection
from integration_core.runtime import Runtime
from tests.harness.adapters import salesforce_contact
from tests.harness.embedded import connect, embedded_runtime
from tests.harness.fakes.hubspot import HubSpotFake
from tests.harness.fakes.salesforce import SalesforceFake
from tests.harness.flows import Rounds, connect_hubspot

pytestmark = pytest.mark.unit

HUBSPOT_HOST, SALESFORCE_HOST = "portal.hubspot.invalid", "org.my.salesforce.invalid"


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.hubspot = HubSpotFake(token="pat-portal")
        self.salesforce = SalesforceFake(token="00Dx0000000flow")
        # Salesforce's contacts leave Phone and MailingCountry empty (null).
        self.people = [self.salesforce.create("Contact", salesforce_contact(i)) for i in range(3)]
        self.rt: Runtime = embedded_runtime(
            tmp_path,
            {},
            transports={
                HUBSPOT_HOST: httpx.WSGITransport(app=self.hubspot),
                SALESFORCE_HOST: httpx.WSGITransport(app=self.salesforce),
            },
        )
        connect_hubspot(self.rt, self.hubspot, f"http://{HUBSPOT_HOST}", targets=["salesforce"])
        salesforce = Connection(
            id="salesforce",
            tenant_id="t1",
            system="salesforce",
            config={
                "instance_url": f"http://{SALESFORCE_HOST}",
                "external_id_field": "Lockstep_Id__c",
            },
        )
        connect(
            self.rt,
            salesforce,
            {
                "type": "oauth2_authorization_code",
                "token_url": "https://login.salesforce.com/services/oauth2/token",
                "client_id": "lockstep-flow",
                "refresh_token": "5Aep861flow",
                "access_token": self.salesforce.token,
            },
            targets=["hubspot"],
            expires_at=utcnow() + timedelta(days=1),
        )
        self.sync = Rounds(self.rt)

    def hubspot_people(self) -> dict[str, dict[str, str]]:
        return {p["email"]: p for p in self.hubspot.live_properties("contacts").values()}

    def writes(self) -> tuple[list[tuple[str, str]], list[tuple[str, ...]]]:
        """Requests that changed something, in HubSpot and in Salesforce."""
        hubspot = [r for r in self.hubspot.requests if r[0] != "GET" and "search" not in r[1]]
        salesforce = [r for r in self.salesforce.requests if r[0] != "GET"]
        return hubspot, salesforce


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path)
    yield built
    built.rt.close()


def test_a_field_cleared_in_salesforce_is_cleared_in_hubspot_and_stays_in_lockstep(
    world: World,
) -> None:
    for _ in range(2):
        results = world.sync()
        assert not [e for r in results for e in r.errors], results
    people = world.hubspot_people()
    assert len(people) == 3
    assert all(p["phone"] == "" for p in people.values())  # empty in Salesforce

    first = salesforce_contact(0)
    world.salesforce.update("Contact", world.people[0], {"Title": None})
    world.sync()
    assert world.hubspot_people()[first["Email"]]["jobtitle"] == ""
    assert world.hubspot_people()[salesforce_contact(1)["Email"]]["jobtitle"]

    before = tuple(len(w) for w in world.writes())
    for _ in range(2):
        idle = world.sync()
        assert sum(r.pushed for r in idle) == 0
    hubspot, salesforce = world.writes()
    assert (hubspot[before[0] :], salesforce[before[1] :]) == ([], [])
