"""Flow tests' rounds of sync, on the embedded runtime or through the function host, and
their HubSpot connection.

A round makes every sync task due, lets the scheduler send its pulls and works the queues
until they are empty; nothing may be poisoned unless the round is expected to fail.
"""

from __future__ import annotations

from collections.abc import Sequence

from integration_core.clock import to_iso, utcnow
from integration_core.models import Connection, SyncResult, SyncTask
from integration_core.runtime import Runtime
from tests.harness.embedded import connect, sync_round
from tests.harness.fakes.hubspot import HubSpotFake
from tests.harness.function_host import FunctionHost, QueueRun

__all__ = ["WORKERS", "Rounds", "connect_hubspot", "host_round", "schedule"]

WORKERS = ("InboundWorker", "OutboundWorker")


class Rounds:
    """Scheduler ticks on an embedded runtime, each ten minutes after the last, so that
    every task is due again."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.done = 0

    def __call__(self, *, poisoned: bool = False) -> list[SyncResult]:
        results = sync_round(self.rt, minutes=10 * self.done, poisoned=poisoned)
        self.done += 1
        return results


def schedule(host: FunctionHost, rt: Runtime, *, tenant_id: str = "t1") -> None:
    """The real timer fired with every sync task of the tenant due now."""
    for document in rt.store.query(SyncTask.container, partition_key=tenant_id):
        rt.store.upsert(SyncTask.container, document | {"nextDueAt": to_iso(utcnow())})
    host.fire_timer("SyncScheduler")


def host_round(host: FunctionHost, rt: Runtime, *, tenant_id: str = "t1") -> list[QueueRun]:
    """A scheduled round, the workers run until the queues are empty."""
    schedule(host, rt, tenant_id=tenant_id)
    runs = host.drain(WORKERS)
    assert all(not run.poisoned for run in runs), runs
    return runs


def connect_hubspot(
    rt: Runtime, fake: HubSpotFake, base_url: str, *, targets: Sequence[str]
) -> SyncTask:
    """A HubSpot connection `hubspot` to `fake` at `base_url` with its private-app token,
    creates idempotent by upserts on `lockstep_id`, and its contact task."""
    hubspot = Connection(
        id="hubspot",
        tenant_id="t1",
        system="hubspot",
        config={"base_url": base_url, "id_property": "lockstep_id"},
    )
    return connect(rt, hubspot, {"type": "bearer_token", "token": fake.token}, targets=targets)
