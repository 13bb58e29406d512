"""A Slack workspace's people (the Slack-shaped fake on loopback) flowing one way into the
hub and on to a sandbox CRM through the real pipelines; deactivations delete, a failed
scan deletes nothing, and nothing is ever written to Slack."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.models import Connection, Entity
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.webhooks.registrations import WebhookRegistrations
from tests.harness.embedded import connect, connect_sandbox, embedded_runtime
from tests.harness.fakes.slack import SlackFake
from tests.harness.flows import Rounds
from tests.harness.http_faults import FaultyTransport
from tests.harness.webhooks import slack_delivery

pytestmark = pytest.mark.unit

SLACK_HOST = "workspace.slack.invalid"


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.crm = SandboxAccount(name="crm", api_key="key-crm")
        self.slack = SlackFake()
        self.people = [
            self.slack.add_user(
                {
                    "first_name": f"Person{i}",
                    "last_name": "Example",
                    "email": f"person{i}@example.com",
                    "title": "Engineer",
                }
            )
            for i in range(5)
        ]
        self.slack.add_user({"first_name": "Deploy", "last_name": "Bot"}, is_bot=True)
        self.faults = FaultyTransport(httpx.WSGITransport(app=self.slack))
        # Two users a page, so that a scan can fail part way; no circuit breaker in the way.
        self.rt: Runtime = embedded_runtime(
            tmp_path,
            {"crm": self.crm},
            transports={SLACK_HOST: self.faults},
            sync_page_size=2,
            breaker_failures=1000,
        )
        connect_sandbox(self.rt, "crm", self.crm)  # the CRM pushes nowhere: Slack is read-only
        slack = Connection(
            id="slack",
            tenant_id="t1",
            system="slack",
            config={"base_url": f"http://{SLACK_HOST}/api"},
        )
        connect(
            self.rt, slack, {"type": "bearer_token", "token": self.slack.token}, targets=["crm"]
        )
        self.sync = Rounds(self.rt)

    def crm_emails(self) -> set[str]:
        return {str(r.properties.get("email")) for r in self.crm.records("contacts")}

    def live_entities(self) -> int:
        documents = self.rt.store.query(
            Entity.container, partition_key="t1", filters=[Filter("entityType", "=", "contact")]
        )
        return sum(1 for d in documents if not d.get("deleted"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path)
    with SandboxServer(built.slack):  # also reachable on loopback, as a real deployment
        yield built
    built.rt.close()


def test_slack_people_flow_one_way_into_the_hub_and_deactivations_delete(world: World) -> None:
    world.sync()
    expected = {f"person{i}@example.com" for i in range(5)}
    assert world.crm_emails() == expected  # the bot is no contact
    assert world.live_entities() == 5

    # A scan that fails part way (Slack down after the first page) deletes nothing.
    world.slack.edit(world.people[0], {"title": "Staff engineer"})
    world.faults.pass_next()
    world.faults.answer(503, content=b"upstream connect error", count=5)  # every retry
    world.sync(poisoned=True)  # the follow-up for page 2 gave up
    assert world.crm_emails() == expected
    assert world.live_entities() == 5

    world.slack.deactivate(world.people[1])
    world.sync()  # the interrupted scan ends
    world.sync()  # a new one sees the deactivation
    assert world.crm_emails() == expected - {"person1@example.com"}
    assert world.live_entities() == 4
    titles = {
        r.properties.get("email"): r.properties.get("jobtitle")
        for r in world.crm.records("contacts")
    }
    assert titles["person0@example.com"] == "Staff engineer"
    assert not [m for m in world.slack.requests if m not in {"users.list", "users.info"}]


def test_a_user_change_event_reaches_the_crm_without_a_scan(world: World) -> None:
    world.sync()
    world.slack.deactivate(world.people[2])
    # api.slack.com/events/user_change inside the Events API wrapper
    # (api.slack.com/apis/connections/events-api#callback-field).
    body = json.dumps(
        {
            "token": "XXYYZZ",
            "team_id": "T012AB3C4",
            "api_app_id": "AXXXXXXXXX",
            "event": {
                "type": "user_change",
                "user": {"id": world.people[2], "deleted": True, "is_bot": False},
                "cache_ts": 1502138686,
                "event_ts": "1502138686.000100",
            },
            "type": "event_callback",
            "event_id": "Ev08MFMKH6",
            "event_time": int(time.time()),
            "authed_users": ["W012A3CDE"],
        }
    ).encode()
    registration, secret = WebhookRegistrations(world.rt.store, world.rt.credentials).register(
        "t1", "slack", "slack"
    )
    assert secret is not None
    headers, _ = slack_delivery(secret, body)
    url = "https://lockstep.example/api/webhooks/slack"
    reply = receive_webhook(world.rt, registration.id, headers=headers, body=body, url=url)
    assert reply.status == 202, reply.body
    assert drain_queues(world.rt).poisoned == []
    assert "person2@example.com" not in world.crm_emails()
    assert world.slack.requests.count("users.info") == 1  # the thin event, read once
