"""HubSpot and Salesforce contacts kept in lockstep through the function app's registrations,
on Azurite + the Cosmos emulator + Redis.

The HubSpot-shaped and Salesforce-shaped fakes serve on loopback; Salesforce's OAuth
credential is refreshed against a real token endpoint on loopback (its access tokens are
the only ones the Salesforce fake accepts). Both systems start with the same people plus
some of their own; after the rounds each holds one record per person, edits made on
either side reach the other, a delete in Salesforce reaches HubSpot, and an idle round
writes nothing (also after a field is cleared in Salesforce: HubSpot clears it with "").
Then a conflict (both sides change one field: the later edit wins on both)
and a HubSpot outage (503 with Retry-After: the work waits, then converges).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.models import Connection
from integration_core.runtime import Runtime
from tests.e2e.conftest import runtime
from tests.harness.adapters import salesforce_contact
from tests.harness.embedded import connect
from tests.harness.fakes.hubspot import HubSpotFake
from tests.harness.fakes.salesforce import SalesforceFake
from tests.harness.flows import WORKERS, connect_hubspot, host_round, schedule
from tests.harness.function_host import FunctionHost
from tests.harness.oauth_server import OAuthServer
from tests.harness.sandbox import contact

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
TENANT = "t1"
SHARED, HUBSPOT_ONLY, SALESFORCE_ONLY = range(0, 3), range(3, 5), range(5, 7)


@dataclass
class Outage:
    """HubSpot's API as served: while `down`, every request is answered 503 with a
    Retry-After of a second (an HTML page, as a load balancer sends)."""

    app: Callable[..., Iterable[bytes]]
    down: bool = False
    refused: int = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not self.down:
            return self.app(environ, start_response)
        self.refused += 1
        start_response(
            "503 Service Unavailable", [("Content-Type", "text/html"), ("Retry-After", "1")]
        )
        return [b"<html><body>503 Service Unavailable</body></html>"]


@dataclass
class Crms:
    hubspot: HubSpotFake
    salesforce: SalesforceFake
    rt: Runtime
    outage: Outage


@pytest.fixture
def crms(host: FunctionHost) -> Iterator[Crms]:
    hubspot = HubSpotFake(token="pat-e2e")
    with OAuthServer() as oauth:
        salesforce = SalesforceFake(
            token="never-issued",
            accepts=lambda token: token.startswith("at-") and token in oauth.issued_tokens(),
        )
        for i in [*SHARED, *HUBSPOT_ONLY]:
            hubspot.create("contacts", contact(i))
        for i in [*SHARED, *SALESFORCE_ONLY]:
            salesforce.create("Contact", salesforce_contact(i))  # Phone empty
        outage = Outage(hubspot)
        with SandboxServer(outage) as hs_server, SandboxServer(salesforce) as sf_server:
            oauth.instance_url = sf_server.base_url  # where the token answers say the org is
            rt = runtime(host)
            connect_hubspot(rt, hubspot, hs_server.base_url, targets=["salesforce"])
            connect(
                rt,
                Connection(
                    id="salesforce",
                    tenant_id=TENANT,
                    system="salesforce",
                    config={
                        "instance_url": sf_server.base_url,
                        "external_id_field": "Lockstep_Id__c",
                    },
                ),
                {
                    "type": "oauth2_authorization_code",
                    "token_url": oauth.token_url,
                    "client_id": oauth.client_id,
                    "client_secret": oauth.client_secret,
                    "refresh_token": oauth.issue_refresh_token(),
                },
                targets=["hubspot"],
            )
            yield Crms(hubspot, salesforce, rt, outage)


def _people(crms: Crms) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Each system's live contacts by email (a repeated email fails the test)."""
    hubspot: dict[str, dict[str, Any]] = {}
    for object_id in crms.hubspot.live_ids("contacts"):
        record = crms.hubspot._objects["contacts"][int(object_id)].properties
        assert record["email"] not in hubspot, f"two HubSpot contacts for {record['email']}"
        hubspot[record["email"]] = record
    salesforce: dict[str, dict[str, Any]] = {}
    for row_id in crms.salesforce.live_ids("Contact"):
        fields = crms.salesforce._rows[row_id].fields
        assert fields["Email"] not in salesforce, f"two Salesforce contacts for {fields['Email']}"
        salesforce[fields["Email"]] = fields
    return hubspot, salesforce


@pytest.fixture
def extra_settings() -> dict[str, str]:
    """The outage below may open HubSpot's circuit breaker (shared through Redis with the
    tests before it): it cools off in a second here, not a minute, so the test waits for
    the probe instead of timing out."""
    return {"BREAKER_COOLDOWN_SECONDS": "1"}


def test_hubspot_and_salesforce_contacts_stay_in_lockstep_one_record_per_person(
    host: FunctionHost, crms: Crms
) -> None:
    for _ in range(3):
        host_round(host, crms.rt)
    hubspot, salesforce = _people(crms)
    everyone = {contact(i)["email"] for i in range(7)}
    assert set(hubspot) == everyone
    assert set(salesforce) == everyone
    for email, person in hubspot.items():
        twin = salesforce[email]
        assert (twin["FirstName"], twin["LastName"]) == (person["firstname"], person["lastname"])

    # Edits on both sides, to different people and to different fields of one person.
    one, two = contact(0)["email"], contact(5)["email"]
    hs_id = next(i for i in crms.hubspot.live_ids("contacts") if _email(crms, i) == one)
    sf_id = next(i for i in crms.salesforce.live_ids("Contact") if _sf_email(crms, i) == two)
    crms.hubspot.update("contacts", hs_id, {"city": "Lisbon"})
    crms.salesforce.update("Contact", sf_id, {"Title": "CTO", "MailingCity": "Oslo"})
    for _ in range(2):
        host_round(host, crms.rt)
    hubspot, salesforce = _people(crms)
    assert salesforce[one]["MailingCity"] == "Lisbon"
    assert (hubspot[two]["jobtitle"], hubspot[two]["city"]) == ("CTO", "Oslo")
    assert len(hubspot) == len(salesforce) == 7

    # A field cleared in Salesforce is cleared in HubSpot (with "": HubSpot refuses null).
    crms.salesforce.update("Contact", sf_id, {"Title": None})
    for _ in range(2):
        host_round(host, crms.rt)
    hubspot, salesforce = _people(crms)
    assert (hubspot[two]["jobtitle"], salesforce[two]["Title"]) == ("", None)

    # A delete in Salesforce (a Recycle Bin row, listed as a tombstone) reaches HubSpot.
    gone = contact(6)["email"]
    crms.salesforce.delete(
        "Contact",
        next(i for i in crms.salesforce.live_ids("Contact") if _sf_email(crms, i) == gone),
    )
    for _ in range(2):
        host_round(host, crms.rt)
    hubspot, salesforce = _people(crms)
    assert gone not in salesforce
    assert gone not in hubspot
    assert len(hubspot) == len(salesforce) == 6

    # An idle round writes nothing anywhere.
    before = (len(crms.hubspot.requests), crms.salesforce.requests.copy())
    host_round(host, crms.rt)
    assert not [r for r in crms.salesforce.requests[len(before[1]) :] if r[0] != "GET"]
    assert not [
        r for r in crms.hubspot.requests[before[0] :] if r[0] != "GET" and "search" not in r[1]
    ]


def _email(crms: Crms, object_id: str) -> str:
    return str(crms.hubspot._objects["contacts"][int(object_id)].properties.get("email"))


def _sf_email(crms: Crms, row_id: str) -> str:
    return str(crms.salesforce._rows[row_id].fields.get("Email"))


def test_a_conflict_and_an_outage_still_converge_and_an_idle_round_writes_nothing(
    host: FunctionHost, crms: Crms
) -> None:
    for _ in range(3):
        host_round(host, crms.rt)
    one, two = contact(1)["email"], contact(2)["email"]
    hs_id = next(i for i in crms.hubspot.live_ids("contacts") if _email(crms, i) == one)
    sf_id = next(i for i in crms.salesforce.live_ids("Contact") if _sf_email(crms, i) == one)

    # A conflict: both sides change one field of one person, Salesforce later.
    crms.hubspot.update("contacts", hs_id, {"jobtitle": "VP"})
    time.sleep(0.05)
    crms.salesforce.update("Contact", sf_id, {"Title": "Director"})
    for _ in range(2):
        host_round(host, crms.rt)
    hubspot, salesforce = _people(crms)
    assert hubspot[one]["jobtitle"] == salesforce[one]["Title"] == "Director"

    # An outage: HubSpot answers 503 while Salesforce is edited; the edit arrives after.
    crms.outage.down = True
    sf_two = next(i for i in crms.salesforce.live_ids("Contact") if _sf_email(crms, i) == two)
    crms.salesforce.update("Contact", sf_two, {"MailingCity": "Reykjavik"})
    schedule(host, crms.rt)
    # Each worker twice while HubSpot is down: its read and the push to it are postponed
    # by the Retry-After; Salesforce's read succeeds.
    runs = [host.run_queue_once(name) for _ in range(2) for name in WORKERS]
    assert crms.outage.refused > 0
    assert not any(run.poisoned for run in runs)
    assert _people(crms)[0][two]["city"] != "Reykjavik"
    crms.outage.down = False
    time.sleep(1.5)  # the postponed messages are due again
    runs = host.drain(WORKERS)
    assert not any(run.poisoned for run in runs)
    for _ in range(2):
        host_round(host, crms.rt)
    hubspot, salesforce = _people(crms)
    assert hubspot[two]["city"] == salesforce[two]["MailingCity"] == "Reykjavik"
    assert hubspot[one]["jobtitle"] == salesforce[one]["Title"] == "Director"
    assert len(hubspot) == len(salesforce) == 7

    # An idle round writes nothing anywhere.
    before = (len(crms.hubspot.requests), len(crms.salesforce.requests))
    host_round(host, crms.rt)
    assert not [r for r in crms.salesforce.requests[before[1] :] if r[0] != "GET"]
    assert not [
        r for r in crms.hubspot.requests[before[0] :] if r[0] != "GET" and "search" not in r[1]
    ]
