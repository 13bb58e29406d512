"""HubSpot batch writes against the HubSpot-shaped fake over loopback: one call per 100
inputs, each outcome in its request's place, one bad record failing alone."""

from __future__ import annotations

import httpx
import pytest

from adapters.hubspot import HubSpotAdapter
from integration_core.errors import (
    ConflictError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.ports import WriteRequest, WriteResult
from tests.harness.adapters import hubspot_task, served_hubspot
from tests.harness.fakes.hubspot import HubSpotFake
from tests.harness.http_faults import FaultyTransport
from tests.harness.sandbox import contact

pytestmark = pytest.mark.unit


def _result(outcome: object) -> WriteResult:
    assert isinstance(outcome, WriteResult), outcome
    return outcome


def test_creates_and_updates_go_in_one_call_each_and_each_outcome_keeps_its_place() -> None:
    fake = HubSpotFake(token="pat")
    kept = fake.create("contacts", contact(1))
    moved = fake.create("contacts", contact(2))
    with served_hubspot(fake) as adapter:
        version = {c: _version(adapter, c) for c in (kept, moved)}
        fake.update("contacts", moved, {"city": "Oslo"})  # edited there since we read it
        fake.requests.clear()
        requests = [
            WriteRequest(None, contact(3)),
            WriteRequest(kept, {"city": "Paris"}, expected_version=version[kept]),
            WriteRequest(moved, {"city": "Rome"}, expected_version=version[moved]),
            WriteRequest("99999", {"city": "Nowhere"}, expected_version="v"),
            WriteRequest(None, contact(4)),
        ]
        outcomes = adapter.write_batch("contact", requests)
        declared = adapter.batch_calls("contact", requests)  # what the limiter is charged
    made, updated = _result(outcomes[0]), _result(outcomes[1])
    assert made.created
    assert not updated.created
    assert updated.external_id == kept
    assert isinstance(outcomes[2], PreconditionFailedError)
    assert isinstance(outcomes[3], NotFoundError)
    assert _result(outcomes[4]).created
    assert fake.requests == [
        ("POST", "/crm/v3/objects/contacts/batch/read"),
        ("POST", "/crm/v3/objects/contacts/batch/update"),
        ("POST", "/crm/v3/objects/contacts/batch/create"),
    ]
    assert declared == len(fake.requests)
    assert fake.live_ids("contacts") == {
        kept,
        moved,
        made.external_id,
        _result(outcomes[4]).external_id,
    }


def _version(adapter: HubSpotAdapter, external_id: str) -> str:
    record = adapter.read_record("contact", external_id)
    assert record is not None
    return record.version


def test_a_create_the_portal_refuses_fails_alone_in_a_multi_status_answer() -> None:
    fake = HubSpotFake(token="pat")
    taken = contact(1)
    fake.create("contacts", taken)  # email is unique: a second Ada is refused
    with served_hubspot(fake) as adapter:
        fake.requests.clear()
        outcomes = adapter.write_batch(
            "contact", [WriteRequest(None, contact(2)), WriteRequest(None, taken)]
        )
    assert _result(outcomes[0]).created
    assert isinstance(outcomes[1], ConflictError)
    assert "hubspot contact batch create" in str(outcomes[1])
    assert fake.requests == [("POST", "/crm/v3/objects/contacts/batch/create")]


def test_a_batch_refused_whole_is_written_one_by_one_so_the_bad_record_fails_alone() -> None:
    fake = HubSpotFake(token="pat")
    with served_hubspot(fake) as adapter:
        outcomes = adapter.write_batch(
            "contact",
            [
                WriteRequest(None, contact(1)),
                WriteRequest(None, {"email": 42}),  # not a string: HubSpot refuses the batch
                WriteRequest(None, contact(3)),
            ],
        )
    assert _result(outcomes[0]).created
    assert isinstance(outcomes[1], PermanentError)
    assert _result(outcomes[2]).created
    assert len(fake.live_ids("contacts")) == 2


def test_more_than_100_writes_take_one_call_per_100() -> None:
    fake = HubSpotFake(token="pat")
    with served_hubspot(fake) as adapter:
        outcomes = adapter.write_batch(
            "task", [WriteRequest(None, hubspot_task(i)) for i in range(250)]
        )
    assert all(_result(o).created for o in outcomes)
    assert len({_result(o).external_id for o in outcomes}) == 250
    assert fake.requests == [("POST", "/crm/v3/objects/tasks/batch/create")] * 3


def test_idempotent_creates_upsert_in_a_batch_and_a_replay_makes_nothing_twice() -> None:
    fake = HubSpotFake(token="pat")
    faults = FaultyTransport(httpx.HTTPTransport())
    requests = [WriteRequest(None, contact(i), idempotency_key=f"key-{i}") for i in range(3)]
    with served_hubspot(fake, transport=faults, id_property="lockstep_id") as adapter:
        faults.lose_next_answer()
        lost = adapter.write_batch("contact", requests)
        again = adapter.write_batch("contact", requests)
    assert all(isinstance(o, RetryableError) for o in lost)
    assert [_result(o).created for o in again] == [False, False, False]
    assert len(fake.live_ids("contacts")) == 3


def test_a_throttled_batch_is_every_items_retryable_outcome_and_nothing_raises() -> None:
    fake = HubSpotFake(token="pat")
    faults = FaultyTransport(httpx.HTTPTransport())
    with served_hubspot(fake, transport=faults) as adapter:
        faults.answer(429, headers={"Retry-After": "3"}, content=b'{"status": "error"}')
        outcomes = adapter.write_batch(
            "contact", [WriteRequest(None, contact(1)), WriteRequest(None, contact(2))]
        )
    assert all(isinstance(o, RetryableError) and o.retry_after == 3 for o in outcomes)
    assert fake.live_ids("contacts") == set()
