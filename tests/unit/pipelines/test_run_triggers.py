"""Every run says what started it: the scheduler's timer, a webhook delivery, an admin's
run-now, a replay from the inbox, a resync, or released deletes. The trigger is set by
whoever enqueues the run's first message and carried by every message that continues it
(more pages, a postponed copy, the pull a channel ping asks for); results stored before it
existed, or with a trigger this version does not know, still load (as unknown).

On the embedded stack, through the same functions the admin API, the CLI and the timer call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.admin import resync, tasks
from integration_core.admin import webhooks as hooks
from integration_core.admin.entities import EntityEdit, edit_entity
from integration_core.clock import to_iso, utcnow
from integration_core.errors import RetryableError
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import (
    Connection,
    Entity,
    SyncMessage,
    SyncResult,
    SyncTask,
    Trigger,
)
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.inbound import process_inbound
from integration_core.pipelines.mass_delete import list_held_deletes, release_held_deletes
from integration_core.pipelines.scheduler import pull_message, run_scheduler
from integration_core.pipelines.throttle import reschedule
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.ports import validate_connection
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import WebhookRegistrations
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.fakes.google_people import GooglePeopleFake
from tests.harness.notion_google import google_person
from tests.harness.sandbox import contact, seeded_account
from tests.harness.webhooks import standard_webhooks_delivery

pytestmark = pytest.mark.unit

TENANT = "t1"
TASK = "crm-contact"
URL = "https://lockstep.example/api/webhooks/hook"


@pytest.fixture
def crm() -> SandboxAccount:
    return seeded_account("crm", contacts=3)


@pytest.fixture
def rt(tmp_path: Path, crm: SandboxAccount) -> Iterator[Runtime]:
    with closing(embedded_runtime(tmp_path, {"crm": crm})) as runtime:
        connect_sandbox(runtime, "crm", crm)
        yield runtime


def _results(rt: Runtime) -> list[SyncResult]:
    """Every stored result, oldest first."""
    found = rt.store.query(SyncResult.container, partition_key=TENANT)
    return sorted((SyncResult.from_document(d) for d in found), key=lambda r: r.started_at)


def _run(rt: Runtime) -> list[SyncResult]:
    """Drain the queues; the results this added."""
    before = {r.id for r in _results(rt)}
    assert drain_queues(rt).poisoned == []
    return [r for r in _results(rt) if r.id not in before]


def _run_scheduled(rt: Runtime) -> None:
    run_scheduler(rt)
    _run(rt)


def _queued(rt: Runtime) -> list[SyncMessage]:
    return [m.message for m in rt.queue.receive(INBOUND_QUEUE, max_messages=50)]


def test_the_timer_starts_schedule_runs_and_a_follow_up_page_keeps_it(
    tmp_path: Path,
) -> None:
    crm = seeded_account("crm", contacts=22)
    # One record a page: a pull stops after MAX_PAGES_PER_MESSAGE and a follow-up goes on.
    with closing(embedded_runtime(tmp_path, {"crm": crm}, sync_page_size=1)) as rt:
        connect_sandbox(rt, "crm", crm)
        run_scheduler(rt)
        runs = _run(rt)
        assert len(runs) == 2  # the first message and its follow-up
        assert {(r.task_id, r.trigger) for r in runs} == {(TASK, Trigger.SCHEDULE)}
        assert sum(r.created for r in runs) == 22


def test_run_now_is_manual_while_running_and_when_done(rt: Runtime) -> None:
    result_id = tasks.run_task_now(rt, TENANT, TASK, actor="test")
    running = tasks.get_result(rt, TENANT, result_id)
    assert (running["status"], running["trigger"]) == ("running", "manual")
    _run(rt)
    done = tasks.get_result(rt, TENANT, result_id)
    assert (done["status"], done["trigger"]) == ("success", "manual")
    listed = tasks.list_results(rt, TENANT, TASK).items
    assert [r.trigger for r in listed] == [Trigger.MANUAL]


def test_a_resync_is_a_resync_run(rt: Runtime) -> None:
    result_id = resync.start_resync(rt, TENANT, TASK, actor="test")
    [run] = _run(rt)
    assert (run.id, run.task_id, run.trigger) == (result_id, TASK, Trigger.RESYNC)


def test_a_delivery_is_a_webhook_run_of_its_task_and_each_replay_a_replay_run(
    rt: Runtime, crm: SandboxAccount
) -> None:
    _run_scheduled(rt)
    registration, secret = WebhookRegistrations(rt.store, rt.credentials).register(
        TENANT, "crm", "standard_webhooks"
    )
    assert secret is not None
    record = crm.records("contacts")[0]
    crm.update("contacts", record.id, {"city": "Lyon"})
    event = crm.webhook_event("contacts", record.id)
    headers, body = standard_webhooks_delivery(secret, json.dumps({"events": [event]}).encode())
    assert receive_webhook(rt, registration.id, headers=headers, body=body, url=URL).status == 202
    [delivered] = _run(rt)
    assert (delivered.task_id, delivered.trigger, delivered.updated) == (
        TASK,
        Trigger.WEBHOOK,
        1,
    )

    [delivery] = hooks.list_deliveries(rt, TENANT, registration.id).items
    assert delivery.inbox_id is not None
    hooks.replay_delivery(rt, TENANT, registration.id, delivery.inbox_id, actor="test")
    [replayed] = _run(rt)
    span = hooks.ReplayRange(since=utcnow() - timedelta(hours=1), until=utcnow())
    hooks.replay_range(rt, TENANT, registration.id, span, actor="test")
    [ranged] = _run(rt)
    for run in (replayed, ranged):
        # Applied once more: the record's state is what the hub has already.
        assert (run.task_id, run.trigger, run.updated, run.unchanged) == (
            TASK,
            Trigger.REPLAY,
            0,
            1,
        )


def test_the_pull_a_channel_ping_asks_for_is_a_run_of_the_same_trigger(tmp_path: Path) -> None:
    google = GooglePeopleFake(token="ya29.unit")  # noqa: S106 - the fake's own token
    google.create(google_person(contact(1)))
    with SandboxServer(google) as server, closing(embedded_runtime(tmp_path, {})) as rt:
        _connect_google(rt, server.base_url, google.token)
        registration, _ = WebhookRegistrations(rt.store, rt.credentials).register(
            TENANT, "google", "google_channel", secret="channel-token-unit"
        )
        ping = {
            "X-Goog-Channel-ID": "01234567-89ab-cdef-0123456789ab",
            "X-Goog-Channel-Token": "channel-token-unit",
            "X-Goog-Message-Number": "2",
            "X-Goog-Resource-ID": "ret08u3rv24htgh289g",
            "X-Goog-Resource-URI": "https://people.googleapis.com/v1/people/me/connections",
            "X-Goog-Resource-State": "exists",
        }
        reply = receive_webhook(rt, registration.id, headers=ping, body=b"", url=URL)
        assert reply.status == 202
        runs = _run(rt)
        assert {(r.task_id, r.trigger) for r in runs} == {("google-contact", Trigger.WEBHOOK)}
        assert sum(r.created for r in runs) == 1  # the pull read the contact

        [delivery] = hooks.list_deliveries(rt, TENANT, registration.id).items
        assert delivery.inbox_id is not None
        hooks.replay_delivery(rt, TENANT, registration.id, delivery.inbox_id, actor="test")
        replayed = _run(rt)
        assert len(replayed) == 2  # the delivery and the pull it asked for
        assert {r.trigger for r in replayed} == {Trigger.REPLAY}


def _connect_google(rt: Runtime, base_url: str, token: str) -> None:
    connection = Connection(
        id="google", tenant_id=TENANT, system="google", config={"base_url": base_url}
    )
    validate_connection(connection)
    rt.store.upsert(Connection.container, connection.to_document())
    rt.credentials.store_credential(
        TENANT,
        "google",
        {
            "type": "oauth2_authorization_code",
            "token_url": "https://oauth2.googleapis.com/token",
            "client_id": "lockstep-unit",
            "refresh_token": "1//refresh-unit",
            "access_token": token,
        },
        expires_at=utcnow() + timedelta(days=1),
    )
    task = SyncTask(
        id="google-contact", tenant_id=TENANT, connection_id="google", entity_type="contact"
    )
    rt.store.upsert(SyncTask.container, task.to_document())


def test_released_deletes_are_a_release_run(tmp_path: Path) -> None:
    crm = seeded_account("crm", contacts=10)
    with closing(
        embedded_runtime(tmp_path, {"crm": crm}, mass_delete_share=0.2, mass_delete_min_records=2)
    ) as rt:
        connect_sandbox(rt, "crm", crm)
        _run_scheduled(rt)
        for record in crm.records("contacts")[:5]:
            crm.archive("contacts", record.id)
        document = rt.store.get(SyncTask.container, TENANT, TASK)
        rt.store.upsert(SyncTask.container, document | {"nextDueAt": to_iso(utcnow())})
        _run_scheduled(rt)
        [hold] = list_held_deletes(rt, TENANT)
        release_held_deletes(rt, TENANT, hold["id"], decided_by="admin")
        [released] = _run(rt)
        assert (released.task_id, released.trigger, released.deleted) == (
            TASK,
            Trigger.RELEASE,
            5,
        )


def test_a_copy_postponed_by_rate_limits_keeps_the_trigger(rt: Runtime) -> None:
    task = SyncTask.from_document(rt.store.get(SyncTask.container, TENANT, TASK))
    message = pull_message(task, utcnow(), trigger=Trigger.MANUAL)
    copy = reschedule(rt, INBOUND_QUEUE, message, RetryableError("busy", retry_after=0.0))
    assert copy.message_id != message.message_id
    [queued] = _queued(rt)
    assert (queued.message_id, queued.trigger) == (copy.message_id, Trigger.MANUAL)


def test_a_message_and_results_without_a_trigger_or_with_an_unknown_one_still_load(
    rt: Runtime,
) -> None:
    task = SyncTask.from_document(rt.store.get(SyncTask.container, TENANT, TASK))
    old = json.loads(pull_message(task, utcnow(), trigger=Trigger.SCHEDULE).to_json())
    del old["trigger"]  # a message queued by a version before the trigger
    result = process_inbound(rt, SyncMessage.model_validate(old))
    assert (result.trigger, result.created) == (None, 3)
    assert tasks.get_result(rt, TENANT, result.id)["trigger"] is None

    newer = rt.store.get(SyncResult.container, TENANT, result.id)
    rt.store.upsert(SyncResult.container, newer | {"id": "newer", "trigger": "a future one"})
    assert tasks.get_result(rt, TENANT, "newer")["trigger"] is None
    listed = {r.id: r.trigger for r in tasks.list_results(rt, TENANT, TASK).items}
    assert listed == {result.id: None, "newer": None}
    message = SyncMessage.model_validate(old | {"trigger": "a future one"})
    assert message.trigger is None


def test_pushes_are_listed_under_the_trigger_of_what_made_them(tmp_path: Path) -> None:
    crm, marketing = seeded_account("crm", contacts=2), seeded_account("marketing")
    with closing(embedded_runtime(tmp_path, {"crm": crm, "marketing": marketing})) as rt:
        connect_sandbox(rt, "crm", crm, targets=("marketing",))
        connect_sandbox(rt, "marketing", marketing, targets=("crm",))
        run_scheduler(rt)
        pushed = [r for r in _run(rt) if r.direction == "outbound"]
        assert pushed
        assert {r.trigger for r in pushed} == {Trigger.SCHEDULE}

        entity_id = next(d["id"] for d in rt.store.query(Entity.container, partition_key=TENANT))
        edit_entity(rt, TENANT, entity_id, EntityEdit(values={"city": "Oslo"}), actor="test")
        edited = [r for r in _run(rt) if r.direction == "outbound"]
        assert edited
        assert {r.trigger for r in edited} == {Trigger.MANUAL}
