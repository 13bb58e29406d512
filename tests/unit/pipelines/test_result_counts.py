"""What a sync result counts, through the real pipelines: records that failed, conflicts
detected and resolved, deletes in the hub and in targets, and a long pull's progress while
it runs (what the admin API shows as a `running` result)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_core.admin import tasks
from integration_core.models import SyncResult, SyncTask
from integration_core.pipelines import inbound
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.results import PROGRESS
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime, sync_round
from tests.harness.sandbox import seeded_account
from tests.unit.pipelines.test_two_way_policies import World

pytestmark = pytest.mark.unit

UK_PHONES = {
    "fields": [
        {
            "source": "phone",
            "canonical": "phone",
            "convert": {"name": "phone_e164", "options": {"region": "GB"}},
        }
    ]
}


CONFLICTS = ("detected", "resolved", "pending")


def results(rt: Runtime, connection_id: str, direction: str) -> list[SyncResult]:
    return [
        SyncResult.from_document(d)
        for d in rt.store.query(SyncResult.container, partition_key="t1")
        if (d["connectionId"], d["direction"]) == (connection_id, direction)
    ]


def total(found: list[SyncResult], name: str) -> int:
    return sum(int(getattr(r, name)) for r in found)


def test_a_record_that_cannot_be_applied_is_counted_failed_and_the_result_is_partial(
    tmp_path: Path,
) -> None:
    crm = seeded_account("crm", contacts=3)
    rt = embedded_runtime(tmp_path, {"crm": crm})
    task = connect_sandbox(rt, "crm", crm)
    rt.store.upsert(SyncTask.container, task.to_document() | {"mapping": UK_PHONES})
    crm.update("contacts", crm.records("contacts")[1].id, {"phone": "call reception"})
    (result,) = sync_round(rt)
    assert (result.records_read, result.created, result.failed) == (3, 2, 1)
    assert tasks.result_view(result)["status"] == "partial"
    rt.close()


@pytest.mark.parametrize(("strategy", "resolved"), [("last_write_wins", 1), ("manual", 0)])
def test_conflicts_are_counted_as_detected_and_as_resolved_by_the_policy(
    tmp_path: Path, strategy: str, resolved: int
) -> None:
    world = World(tmp_path, {"strategy": strategy}, "propagate")
    world.sync()
    email = str(world.crm.records("contacts")[0].properties["email"])
    crm, mkt = world.twins(email)
    before = [r.id for r in results(world.rt, "mkt", "inbound")]
    world.crm.update("contacts", crm.id, {"jobtitle": "from crm"})
    world.mkt.update("contacts", mkt.id, {"jobtitle": "from mkt"})
    world.sync()
    world.sync()
    found = [r for r in results(world.rt, "mkt", "inbound") if r.id not in before]
    assert [total(found, f"conflicts_{outcome}") for outcome in CONFLICTS] == [
        1,
        resolved,
        1 - resolved,
    ]
    assert all("conflictCounts" not in r.to_document() for r in found)
    # Every conflict is stored: waiting, or as the policy's resolved record.
    assert [c.status for c in world.conflicts()] == ["resolved" if resolved else "pending"]
    world.rt.close()


def test_a_delete_is_counted_in_the_hub_and_in_the_target(tmp_path: Path) -> None:
    world = World(tmp_path, {}, "propagate")
    world.sync()
    gone = world.crm.records("contacts")[0]
    world.crm.archive("contacts", gone.id)
    before = {r["id"] for r in world.rt.store.query(SyncResult.container, partition_key="t1")}
    world.sync()
    new = [r for r in results(world.rt, "crm", "inbound") if r.id not in before]
    assert (total(new, "deleted"), total(new, "updated")) == (1, 0)
    pushed = [r for r in results(world.rt, "mkt", "outbound") if r.id not in before]
    assert total(pushed, "deleted") == 1
    assert len(world.mkt.records("contacts")) == 2
    world.rt.close()


@pytest.fixture
def paged(tmp_path: Path) -> Iterator[Runtime]:
    """crm with 3 contacts read one per page."""
    crm = seeded_account("crm", contacts=3)
    rt = embedded_runtime(tmp_path, {"crm": crm}, sync_page_size=1)
    connect_sandbox(rt, "crm", crm)
    yield rt
    rt.close()


def test_a_running_pull_shows_its_progress_page_by_page(
    paged: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = paged
    result_id = tasks.run_task_now(rt, "t1", "crm-contact", actor="test")
    seen: list[tuple[Any, ...]] = []
    apply_page = inbound._apply_page

    def observed(context: Any, changes: Any) -> None:
        view = tasks.get_result(rt, "t1", result_id)
        seen.append((view["status"], view["recordsRead"], view["progress"]["pages"]))
        apply_page(context, changes)

    monkeypatch.setattr(inbound, "_apply_page", observed)
    drain_queues(rt)
    # Read before each page was applied: the queued run, then after one page, then two.
    assert seen[:3] == [("running", 0, 0), ("running", 1, 1), ("running", 2, 2)]
    done = tasks.get_result(rt, "t1", result_id)
    assert (done["status"], done["recordsRead"], done["progress"]) == ("success", 3, None)
    assert rt.store.query(PROGRESS, partition_key="t1") == []
