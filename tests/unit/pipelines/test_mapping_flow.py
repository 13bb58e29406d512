"""A sync task's own mapping, through the real pipelines: reads and writes both use it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxAccount, SandboxRecord
from integration_core.models import Entity, SyncTask
from integration_core.pipelines.inbound import DEAD_LETTERS
from integration_core.runtime import Runtime
from tests.harness.embedded import connect_sandbox, embedded_runtime, sync_round
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit

# The marketing system keeps one full-name field where the CRM keeps first and last names.
FULL_NAME = {
    "fields": [
        {"source": "fullname", "canonical": ["first_name", "last_name"], "convert": "name_split"}
    ]
}
# The CRM's phones are British numbers as people type them; the hub keeps E.164.
UK_PHONES = {
    "fields": [
        {
            "source": "phone",
            "canonical": "phone",
            "convert": {"name": "phone_e164", "options": {"region": "GB"}},
        }
    ]
}


@pytest.fixture
def systems() -> dict[str, SandboxAccount]:
    return {"crm": seeded_account("crm", contacts=4), "mkt": seeded_account("mkt")}


@pytest.fixture
def rt(tmp_path: Path, systems: dict[str, SandboxAccount]) -> Iterator[Runtime]:
    runtime = embedded_runtime(tmp_path, systems)
    for name, other, overrides in (("crm", "mkt", UK_PHONES), ("mkt", "crm", FULL_NAME)):
        task = connect_sandbox(runtime, name, systems[name], targets=(other,))
        with_mapping = task.model_copy(update={"mapping": overrides})
        runtime.store.upsert(SyncTask.container, with_mapping.to_document())
    yield runtime
    runtime.close()


def _by_email(account: SandboxAccount) -> dict[str, SandboxRecord]:
    return {r.properties["email"]: r for r in account.records("contacts")}


def test_each_system_is_read_and_written_through_its_own_task_mapping(
    rt: Runtime, systems: dict[str, SandboxAccount]
) -> None:
    crm, mkt = systems["crm"], systems["mkt"]
    ada = crm.records("contacts")[0]
    crm.update("contacts", ada.id, {"phone": "020 7946 0018"})
    sync_round(rt)
    email = ada.properties["email"]
    copy = _by_email(mkt)[email]
    first, last = ada.properties["firstname"], ada.properties["lastname"]
    assert copy.properties["fullname"] == f"{first} {last}"
    assert not {"firstname", "lastname"} & set(copy.properties)
    assert copy.properties["phone"] == "+442079460018"  # the hub's E.164, mkt maps it as is

    # A change to one part of the name reaches mkt as the whole name, rebuilt from both parts.
    crm.update("contacts", ada.id, {"lastname": "Byron"})
    sync_round(rt, minutes=10)
    assert _by_email(mkt)[email].properties["fullname"] == f"{first} Byron"

    # And back: mkt's full name is split into the CRM's two fields.
    mkt.update("contacts", copy.id, {"fullname": "Augusta Ada King"})
    sync_round(rt, minutes=20)
    back = _by_email(crm)[email].properties
    assert (back["firstname"], back["lastname"]) == ("Augusta Ada", "King")

    # Nothing changed since: an idle round writes nothing anywhere.
    versions = {r.id: r.version for a in systems.values() for r in a.records("contacts")}
    results = sync_round(rt, minutes=30)
    assert sum(r.pushed + r.created + r.updated for r in results) == 0
    assert versions == {r.id: r.version for a in systems.values() for r in a.records("contacts")}


def test_a_record_its_task_mapping_cannot_convert_is_dead_lettered_by_name(
    rt: Runtime, systems: dict[str, SandboxAccount]
) -> None:
    bad = systems["crm"].records("contacts")[2]
    systems["crm"].update("contacts", bad.id, {"phone": "call reception"})
    results = sync_round(rt)
    letters: list[dict[str, Any]] = rt.store.query(DEAD_LETTERS, partition_key="t1")
    assert [letter["externalId"] for letter in letters] == [bad.id]
    assert letters[0]["reason"].startswith(
        f"sandbox contacts record {bad.id!r}, field 'phone', path 'phone': "
        "phone_e164: not a phone number"
    )
    assert len(rt.store.query(Entity.container, partition_key="t1")) == 3
    assert any(bad.id in error for result in results for error in result.errors)
