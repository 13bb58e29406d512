"""A sandbox CRM and the HubSpot-shaped fake kept in lockstep through the real pipelines."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.fakes.hubspot import HubSpotFake
from tests.harness.flows import Rounds, connect_hubspot
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit

HUBSPOT_HOST = "portal.hubspot.invalid"
FIELDS = ("firstname", "lastname", "email", "jobtitle", "city")


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.crm: SandboxAccount = seeded_account("crm", contacts=5)
        self.hubspot = HubSpotFake(token="pat-portal")
        self.rt: Runtime = embedded_runtime(
            tmp_path,
            {"crm": self.crm},
            transports={HUBSPOT_HOST: httpx.WSGITransport(app=self.hubspot)},
        )
        connect_sandbox(self.rt, "crm", self.crm, targets=("hubspot",))
        connect_hubspot(self.rt, self.hubspot, f"http://{HUBSPOT_HOST}", targets=["crm"])
        self.sync = Rounds(self.rt)

    def snapshot(self) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
        crm = sorted(
            tuple(str(r.properties.get(f)) for f in FIELDS) for r in self.crm.records("contacts")
        )
        hub = sorted(
            tuple(str(o.properties.get(f)) for f in FIELDS)
            for o in self.hubspot._objects["contacts"].values()
            if o.archived_at is None
        )
        return crm, hub


@pytest.fixture
def world(tmp_path: Path) -> World:
    built = World(tmp_path)
    yield built
    built.rt.close()


def test_contacts_sync_both_ways_with_hubspot_and_an_idle_round_writes_nothing(
    world: World,
) -> None:
    world.sync()
    crm, hub = world.snapshot()
    assert crm == hub
    assert len(hub) == 5

    edited = sorted(world.hubspot.live_ids("contacts"))[0]
    world.hubspot.update("contacts", edited, {"city": "Paris"})
    world.sync()
    crm, hub = world.snapshot()
    assert crm == hub
    assert [r for r in world.crm.records("contacts") if r.properties["city"] == "Paris"]

    idle = world.sync()
    assert sum(r.pushed for r in idle) == 0

    world.hubspot.archive("contacts", edited)
    world.sync()
    crm, hub = world.snapshot()
    assert crm == hub
    assert len(crm) == 4
