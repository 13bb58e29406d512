"""The mass-delete guard's holds through the admin API: list, release, reject, 409, tenants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.models import Entity
from integration_core.pipelines.drain import drain_queues
from tests.harness.admin_api import call, connect, ok, problem
from tests.harness.decisions import TENANT
from tests.harness.function_host import FunctionHost, embedded_app_settings
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit


@pytest.fixture
def crm() -> Iterator[SandboxServer]:
    with SandboxServer(seeded_account("crm", contacts=10)) as server:
        yield server


@pytest.fixture
def held(tmp_path: Path, crm: SandboxServer) -> Iterator[tuple[FunctionHost, str]]:
    """A first sync of crm's 10 contacts, then 6 archived there: that run's deletes held."""
    settings = embedded_app_settings(tmp_path) | {
        "MASS_DELETE_SHARE": "0.2",
        "MASS_DELETE_MIN_RECORDS": "2",
    }
    host = FunctionHost(settings, inline_queue=True, tenant=TENANT)
    connect(host, crm, "crm")
    task = {"id": "crm-contacts", "connectionId": "crm", "entityType": "contact"}
    ok(call(host, "POST", "tasks", task), 201)
    ok(call(host, "POST", "tasks/crm-contacts/run"), 202)
    drain_queues(host.runtime())
    for record in crm.account.records("contacts")[:6]:
        crm.account.archive("contacts", record.id)
    ok(call(host, "POST", "tasks/crm-contacts/run"), 202)
    drain_queues(host.runtime())
    (hold,) = ok(call(host, "GET", "held-deletes"))
    assert (hold["held"], hold["connectionId"], hold["status"]) == (6, "crm", "held")
    yield host, hold["id"]
    host.runtime().close()


def _deleted(host: FunctionHost) -> int:
    entities = host.runtime().store.query(Entity.container, partition_key=TENANT)
    return sum(bool(e["deleted"]) for e in entities)


def test_releasing_a_hold_applies_its_deletes_once(held: tuple[FunctionHost, str]) -> None:
    host, hold_id = held
    assert _deleted(host) == 0
    released = ok(call(host, "POST", f"held-deletes/{hold_id}/release", {"decidedBy": "ops"}))
    assert (released["status"], released["decidedBy"]) == ("released", "ops")
    drain_queues(host.runtime())
    assert _deleted(host) == 6
    again = problem(call(host, "POST", f"held-deletes/{hold_id}/reject", {"decidedBy": "x"}), 409)
    assert "released" in again["detail"]
    assert ok(call(host, "GET", "held-deletes")) == []
    audit = ok(call(host, "GET", "audit"))["items"]
    assert ("release", "held-deletes", hold_id) in {
        (e["action"], e["resource"], e["resourceId"]) for e in audit
    }


def test_rejecting_a_hold_keeps_the_records(held: tuple[FunctionHost, str]) -> None:
    host, hold_id = held
    rejected = ok(call(host, "POST", f"held-deletes/{hold_id}/reject", {"decidedBy": "ops"}))
    assert rejected["status"] == "rejected"
    drain_queues(host.runtime())
    assert _deleted(host) == 0


def test_bad_decisions_and_other_tenants_are_refused(held: tuple[FunctionHost, str]) -> None:
    host, hold_id = held
    path = f"held-deletes/{hold_id}/release"
    problem(call(host, "POST", path, {}), 400)  # who decides is required
    problem(call(host, "POST", path, {"decidedBy": "x" * 201}), 400)
    problem(call(host, "POST", "held-deletes/no-such-hold/release", {"decidedBy": "o"}), 404)
    assert ok(call(host, "GET", "held-deletes", tenant="other")) == []
    problem(call(host, "POST", path, {"decidedBy": "o"}, tenant="other"), 404)
    assert _deleted(host) == 0
