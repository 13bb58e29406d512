"""Alerts to Slack and Teams, against a local HTTP receiver standing in for their URLs.

An outage raising the same alert a thousand times sends one alert, one digest and one
"resolved" to each destination; a failing destination is retried and never blocks the
caller; no message carries a secret or anything but ids and counts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.clock import utcnow
from integration_core.errors import PermanentError
from integration_core.notify import (
    Alert,
    AlertKind,
    add_destination,
    deliver_outbox,
    list_destinations,
    raise_alert,
    resolve,
    send_digests,
)
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.http_servers import RecordingServer
from tests.harness.notifications import alert_bodies, alert_titles
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit
DIGEST = timedelta(minutes=15)
OUTAGE = Alert(
    tenant_id="t1", kind=AlertKind.CIRCUIT_OPEN, subject_id="crm", counts={"failures": 5}
)


@pytest.fixture
def crm() -> SandboxAccount:
    return seeded_account("crm", contacts=3)


@pytest.fixture
def rt(tmp_path: Path, crm: SandboxAccount) -> Iterator[Runtime]:
    runtime = embedded_runtime(tmp_path, {"crm": crm})
    yield runtime
    runtime.close()


@pytest.fixture
def crm_to_slack(rt: Runtime, crm: SandboxAccount, slack: RecordingServer) -> Runtime:
    """The crm sandbox connected; the tenant's alerts go to the Slack receiver."""
    connect_sandbox(rt, "crm", crm)
    add_destination(rt, "t1", kind="slack", name="ops", url=f"{slack.url}/hook")
    return rt


def test_an_outage_sends_one_alert_one_digest_and_one_resolution(
    rt: Runtime, slack: RecordingServer, teams: RecordingServer
) -> None:
    add_destination(rt, "t1", kind="slack", name="ops", url=f"{slack.url}/services/T/B/secret1")
    add_destination(rt, "t1", kind="teams", name="oncall", url=f"{teams.url}/workflows/secret2")
    start = utcnow()
    opened = [raise_alert(rt.store, OUTAGE, now=start) for _ in range(1000)]
    assert opened.count(True) == 1
    deliver_outbox(rt)
    assert (
        send_digests(rt.store, interval=DIGEST, now=start + timedelta(minutes=5)) == 0
    )  # too soon
    assert send_digests(rt.store, interval=DIGEST, now=start + DIGEST) == 1
    assert send_digests(rt.store, interval=DIGEST, now=start + 3 * DIGEST) == 0  # nothing new
    deliver_outbox(rt, now=start + 3 * DIGEST)
    assert resolve(rt.store, "t1", AlertKind.CIRCUIT_OPEN, "crm")
    assert not resolve(rt.store, "t1", AlertKind.CIRCUIT_OPEN, "crm")
    deliver_outbox(rt, now=start + 3 * DIGEST)

    for server in (slack, teams):
        titles = alert_titles(server)
        assert len(titles) == 3, titles
        assert [t.split(":")[0] for t in titles] == ["Alert", "Still happening", "Resolved"]
    digest = alert_bodies(teams)[1]["attachments"][0]["content"]["body"][1]["facts"]
    assert {"title": "since_last_message", "value": "999"} in digest
    assert alert_bodies(teams)[0]["attachments"][0]["contentType"] == (
        "application/vnd.microsoft.card.adaptive"
    )
    # A new occurrence after the resolution is a new incident: alerted again.
    assert raise_alert(rt.store, OUTAGE)


def test_a_failing_destination_is_retried_later_and_blocks_nothing(
    rt: Runtime, slack: RecordingServer
) -> None:
    add_destination(rt, "t1", kind="slack", name="ops", url=f"{slack.url}/hook")
    slack.reply.status = 503
    assert raise_alert(rt.store, OUTAGE)  # no HTTP call here: the sync path never waits
    assert slack.received == []
    report = deliver_outbox(rt, attempts=3, backoff_seconds=0)
    assert (report.sent, report.postponed, len(slack.received)) == (0, 1, 3)
    slack.reply.status = 200
    assert deliver_outbox(rt, backoff_seconds=0).sent == 0  # waits for its next turn
    report = deliver_outbox(rt, now=utcnow() + timedelta(hours=1), backoff_seconds=0)
    assert report.sent == 1
    assert len(slack.received) == 4


def test_a_destination_refusing_the_message_fails_it_at_once(
    rt: Runtime, slack: RecordingServer
) -> None:
    add_destination(rt, "t1", kind="slack", name="ops", url=f"{slack.url}/hook")
    slack.reply.status = 404
    raise_alert(rt.store, OUTAGE)
    report = deliver_outbox(rt, backoff_seconds=0)
    assert (report.failed, len(slack.received)) == (1, 1)
    assert deliver_outbox(rt, now=utcnow() + timedelta(days=1)).sent == 0


def test_a_destination_the_outbound_policy_refuses_fails_and_the_others_still_get_theirs(
    rt: Runtime, slack: RecordingServer
) -> None:
    """A tenant's URL naming a private address (as a rebinding name would at send time) is
    refused when connecting: that message fails, the run goes on."""
    add_destination(rt, "t0", kind="slack", name="inside", url="https://10.255.255.1/hook")
    add_destination(rt, "t1", kind="slack", name="ops", url=f"{slack.url}/hook")
    start = utcnow()
    raise_alert(rt.store, dataclasses.replace(OUTAGE, tenant_id="t0"), now=start)
    raise_alert(rt.store, OUTAGE, now=start + timedelta(seconds=1))
    report = deliver_outbox(rt, now=start + timedelta(seconds=2), backoff_seconds=0)
    assert (report.sent, report.failed, len(slack.received)) == (1, 1, 1)


def test_no_message_or_listing_carries_a_secret_or_the_url(
    rt: Runtime, slack: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{slack.url}/services/T000/B000/XXXXsecretXXXX"
    add_destination(rt, "t1", kind="slack", name="ops", url=url)
    raise_alert(rt.store, OUTAGE)
    deliver_outbox(rt)
    (destination,) = list_destinations(rt, "t1")
    assert "XXXXsecretXXXX" not in json.dumps(destination.to_json())
    assert "XXXXsecretXXXX" not in slack.received[0].body.decode()
    assert "XXXXsecretXXXX" not in caplog.text


def test_bad_destinations_are_refused_with_a_clear_error(rt: Runtime) -> None:
    with pytest.raises(PermanentError, match="kind must be one of"):
        add_destination(rt, "t1", kind="email", name="x", url="https://example.com/h")
    with pytest.raises(PermanentError, match="needs a name"):
        add_destination(rt, "t1", kind="slack", name=" ", url="https://example.com/h")
    with pytest.raises(PermanentError):
        add_destination(rt, "t1", kind="slack", name="x", url="ftp://example.com/h")
    assert list_destinations(rt, "t1") == []


def test_a_connection_needing_reauth_alerts_and_a_working_credential_resolves(
    crm_to_slack: Runtime, crm: SandboxAccount, slack: RecordingServer
) -> None:
    rt = crm_to_slack
    crm.api_key = "revoked-by-the-provider"  # noqa: S105 - a test value
    run_scheduler(rt)
    drain_queues(rt)
    rt.credentials.store_credential("t1", "crm", {"type": "bearer_token", "token": crm.api_key})
    deliver_outbox(rt)
    titles = alert_titles(slack)
    assert titles == [
        "Alert: A connection needs to be re-authorized",
        "Resolved: A connection needs to be re-authorized",
    ]
    assert all("crm" in r.body.decode() for r in slack.received)


def test_a_failing_destination_is_tried_once_per_run_and_others_still_get_theirs(
    rt: Runtime, slack: RecordingServer, teams: RecordingServer
) -> None:
    add_destination(rt, "t1", kind="slack", name="ops", url=f"{slack.url}/hook")
    add_destination(rt, "t1", kind="teams", name="oncall", url=f"{teams.url}/hook")
    slack.reply.status = 500
    for subject in ("crm", "mkt", "erp"):
        raise_alert(
            rt.store, Alert(tenant_id="t1", kind=AlertKind.NEEDS_REAUTH, subject_id=subject)
        )
    report = deliver_outbox(rt, attempts=2, backoff_seconds=0)
    assert len(teams.received) == 3
    assert len(slack.received) == 2  # one message's attempts; the others wait for a later run
    assert (report.sent, report.postponed) == (3, 3)


def test_a_sync_failing_repeatedly_alerts_once_and_resolves_when_it_succeeds(
    crm_to_slack: Runtime, crm: SandboxAccount, slack: RecordingServer
) -> None:
    rt = crm_to_slack
    crm.inject_fault(500, count=4)  # four failed deliveries, below the breaker's five
    run_scheduler(rt)
    report = drain_queues(rt, max_attempts=5)
    deliver_outbox(rt)
    assert (report.failures, report.poisoned) == (4, [])
    assert alert_titles(slack) == [
        "Alert: A sync task keeps failing",
        "Resolved: A sync task keeps failing",
    ]
    assert "crm-contact" in slack.received[0].body.decode()
