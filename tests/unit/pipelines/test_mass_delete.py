"""Mass-delete guard on the embedded stack: too many deletes in one run wait for an admin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxAccount
from integration_core.clock import to_iso, utcnow
from integration_core.errors import ConflictError, NotFoundError, PermanentError
from integration_core.models import Entity, SyncTask
from integration_core.notify.incidents import INCIDENTS
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.mass_delete import (
    list_held_deletes,
    reject_held_deletes,
    release_held_deletes,
)
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit


@pytest.fixture
def crm() -> SandboxAccount:
    return seeded_account("crm", contacts=30)


@pytest.fixture
def rt(tmp_path: Path, crm: SandboxAccount) -> Iterator[Runtime]:
    runtime = embedded_runtime(
        tmp_path, {"crm": crm}, mass_delete_share=0.2, mass_delete_min_records=2
    )
    connect_sandbox(runtime, "crm", crm)
    run_scheduler(runtime)
    drain_queues(runtime)
    yield runtime
    runtime.close()


def _deleted(rt: Runtime) -> int:
    return sum(e["deleted"] for e in rt.store.query(Entity.container, partition_key="t1"))


def _sync_again(rt: Runtime) -> None:
    document = rt.store.get(SyncTask.container, "t1", "crm-contact")
    rt.store.upsert(SyncTask.container, document | {"nextDueAt": to_iso(utcnow())})
    run_scheduler(rt)
    drain_queues(rt)


def _delete_in_crm(crm: SandboxAccount, count: int) -> None:
    for record in crm.records("contacts")[:count]:
        crm.archive("contacts", record.id)


def test_a_few_deletes_apply_at_once(rt: Runtime, crm: SandboxAccount) -> None:
    _delete_in_crm(crm, 5)  # 5 of 30: within the 20 % share
    _sync_again(rt)
    assert _deleted(rt) == 5
    assert list_held_deletes(rt, "t1") == []


def test_a_mass_delete_is_held_alerted_and_applied_once_released(
    rt: Runtime, crm: SandboxAccount
) -> None:
    _delete_in_crm(crm, 10)
    _sync_again(rt)
    assert _deleted(rt) == 0
    (hold,) = list_held_deletes(rt, "t1")
    assert (hold["held"], hold["connectionId"], hold["status"]) == (10, "crm", "held")
    (incident,) = rt.store.query(INCIDENTS, partition_key="t1")
    assert (incident["kind"], incident["state"]) == ("mass_delete_held", "open")

    release_held_deletes(rt, "t1", hold["id"], decided_by="ops@example.com")
    drain_queues(rt)
    assert _deleted(rt) == 10
    assert list_held_deletes(rt, "t1") == []
    assert rt.store.get(INCIDENTS, "t1", incident["id"])["state"] == "resolved"
    with pytest.raises(ConflictError):
        reject_held_deletes(rt, "t1", hold["id"], decided_by="ops@example.com")


def test_rejected_deletes_delete_nothing(rt: Runtime, crm: SandboxAccount) -> None:
    _delete_in_crm(crm, 12)
    _sync_again(rt)
    (hold,) = list_held_deletes(rt, "t1")
    with pytest.raises(PermanentError):
        reject_held_deletes(rt, "t1", hold["id"], decided_by=" ")
    with pytest.raises(NotFoundError):
        reject_held_deletes(rt, "t1", "nope", decided_by="ops@example.com")
    assert reject_held_deletes(rt, "t1", hold["id"], decided_by="ops@example.com")["status"] == (
        "rejected"
    )
    drain_queues(rt)
    assert _deleted(rt) == 0
    assert len(rt.store.query(Entity.container, partition_key="t1")) == 30
