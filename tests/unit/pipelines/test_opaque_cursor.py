"""Inbound reads through the opaque cursor: resume, expiry, old cursors, unreadable records."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.connectors import Connectors
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import Entity, SyncResult, SyncTask
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.inbound import DEAD_LETTERS, MAX_PAGES_PER_MESSAGE, process_inbound
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import Runtime
from integration_core.sync.watermark import Watermark, encode_cursor
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@pytest.fixture
def crm() -> SandboxAccount:
    return seeded_account("crm", contacts=12)


@pytest.fixture
def rt(tmp_path: Path, crm: SandboxAccount) -> Runtime:
    runtime = embedded_runtime(tmp_path, {"crm": crm}, sync_page_size=5)
    connect_sandbox(runtime, "crm", crm)
    yield runtime
    runtime.close()


def _sync(rt: Runtime) -> list[SyncResult]:
    task = SyncTask.from_document(rt.store.get(SyncTask.container, "t1", "crm-contact"))
    run_scheduler(rt, now=task.next_due_at)
    report = drain_queues(rt)
    assert not report.poisoned
    return report.results


def _entities(rt: Runtime) -> list[Entity]:
    return [Entity.from_document(d) for d in rt.store.query(Entity.container, partition_key="t1")]


def test_a_long_listing_continues_in_a_follow_up_message_without_rereading(
    tmp_path: Path,
) -> None:
    crm = seeded_account("crm", contacts=MAX_PAGES_PER_MESSAGE + 5)
    rt = embedded_runtime(tmp_path, {"crm": crm}, sync_page_size=1)
    try:
        connect_sandbox(rt, "crm", crm)
        results = _sync(rt)
    finally:
        rt.close()
    assert [r.records_read for r in results] == [MAX_PAGES_PER_MESSAGE, 5]


def test_a_cursor_stored_before_cursors_were_opaque_still_reads_incrementally(
    rt: Runtime, crm: SandboxAccount
) -> None:
    _sync(rt)
    last = max(crm.records("contacts"), key=lambda r: (r.modified_at, r.id))
    old = encode_cursor(Watermark(last.modified_at, last.id))
    _set_cursor(rt, old)
    crm.update("contacts", crm.records("contacts")[0].id, {"city": "Paris"})
    assert sum(r.records_read for r in _sync(rt)) == 1


def _set_cursor(rt: Runtime, cursor: str) -> None:
    document = rt.store.get(SyncTask.container, "t1", "crm-contact")
    document["cursor"] = cursor
    rt.store.upsert(SyncTask.container, document)


def test_an_expired_cursor_rescans_and_deletes_nothing_it_did_not_see_deleted(
    rt: Runtime, crm: SandboxAccount
) -> None:
    _sync(rt)
    edited, archived = (r.id for r in crm.records("contacts")[:2])
    crm.update("contacts", edited, {"city": "Paris"})
    crm.archive("contacts", archived)
    crm.retention = timedelta(0)  # the sandbox no longer keeps changes since our cursor
    results = _sync(rt)
    assert sum(r.records_read for r in results) == 12  # everything, once
    deleted = [e for e in _entities(rt) if e.deleted]
    assert len(deleted) == 1  # only the record the provider said it deleted
    assert len(_entities(rt)) == 12
    assert any(e.values.get("city") == "Paris" for e in _entities(rt))


def _corrupting(app: SandboxAccount, bad_id: str) -> Callable[..., Iterable[bytes]]:
    """The sandbox, answering one record of its listings with a time that is not a time."""

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = b"".join(app(environ, start_response))
        if environ["REQUEST_METHOD"] != "GET" or not body:
            return [body]
        document = json.loads(body)
        for row in document.get("results", []):
            if row["id"] == bad_id:
                row["modifiedAt"] = "yesterday-ish"
        return [json.dumps(document).encode()]

    return wsgi


def test_an_unreadable_record_is_dead_lettered_and_the_rest_of_the_page_applies(
    rt: Runtime, crm: SandboxAccount
) -> None:
    bad = crm.records("contacts")[3].id
    transport = httpx.WSGITransport(app=_corrupting(crm, bad))
    rt.connectors = Connectors(rt.credentials, transports={crm.in_process_host: transport})
    run_scheduler(rt)
    (message,) = [m.message for m in rt.queue.receive(INBOUND_QUEUE)]
    result = process_inbound(rt, message)
    drain_queues(rt)
    assert len(_entities(rt)) == 11
    (dead,) = rt.store.query(DEAD_LETTERS, partition_key="t1")
    assert dead["externalId"] == bad
    assert dead["reason"].startswith(f"sandbox contact {bad}: field 'modifiedAt'")
    assert dead["change"]["raw"]["id"] == bad
    assert any(bad in e for e in result.errors)
