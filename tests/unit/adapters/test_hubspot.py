"""The HubSpot adapter's own rules, against the HubSpot-shaped fake over loopback.

What every adapter does is in tests/contract/; here: search windows, the 10,000-result
search limit, archived objects as tombstones, upserts by idProperty, HubSpot's errors.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

import adapters.fakes.hubspot
import adapters.hubspot
from adapters.hubspot import HubSpotAdapter
from adapters.toolkit import CursorState
from integration_core.clock import utcnow
from integration_core.errors import ConfigurationError, RetryableError
from integration_core.models import Change
from tests.harness.adapters import hubspot_task, served_hubspot
from tests.harness.fakes.hubspot import HubSpotFake
from tests.harness.sandbox import contact

pytestmark = pytest.mark.unit


def _listing(
    adapter: HubSpotAdapter, cursor: str | None, size: int = 100
) -> tuple[list[Change], str]:
    changes: list[Change] = []
    while True:
        page = adapter.read_changes("contact", cursor, page_size=size)
        changes += page.changes
        cursor = page.cursor
        if not page.has_more:
            return changes, cursor


def test_later_cycles_search_by_modification_time_minus_the_overlap() -> None:
    fake = HubSpotFake(token="pat")
    fake.create("contacts", contact(1))
    with served_hubspot(fake) as adapter:
        _, cursor = _listing(adapter, None)
        watermark = CursorState.decode(cursor).watermark
        fake.requests.clear()
        _listing(adapter, cursor)
    assert watermark is not None
    assert fake.requests[0] == ("POST", "/crm/v3/objects/contacts/search")
    assert fake.requests[1] == ("GET", "/crm/v3/objects/contacts")  # the archived pass


def test_a_search_past_10000_results_restarts_by_id_and_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adapters.hubspot, "SEARCH_LIMIT", 12)
    monkeypatch.setattr(adapters.fakes.hubspot, "SEARCH_LIMIT", 12)
    fake = HubSpotFake(token="pat")
    ids = [fake.create("contacts", contact(i)) for i in range(3)]
    with served_hubspot(fake) as adapter:
        _, cursor = _listing(adapter, None)
        ids += [fake.create("contacts", contact(i)) for i in range(3, 30)]
        for record_id in ids[:3]:
            fake.update("contacts", record_id, {"city": "Paris"})
        changes, _ = _listing(adapter, cursor, size=5)
    read = [c.external_id for c in changes]
    assert sorted(read) == sorted(ids)  # every changed record, once
    assert len(read) == len(set(read))


def test_archived_objects_are_tombstones_from_the_window_only() -> None:
    an_hour_ago = utcnow() - timedelta(hours=1)
    fake = HubSpotFake(token="pat", clock=lambda: an_hour_ago)
    old, kept = fake.create("contacts", contact(1)), fake.create("contacts", contact(2))
    fake.archive("contacts", old)  # long before the window (and its overlap) opens
    fake.clock = utcnow
    with served_hubspot(fake) as adapter:
        first, cursor = _listing(adapter, None)
        fake.archive("contacts", kept)
        later, _ = _listing(adapter, cursor)
    assert [c.external_id for c in first] == [kept]  # nothing to delete on a first sync
    assert [(c.external_id, c.deleted) for c in later] == [(kept, True)]


def test_an_idempotent_create_upserts_on_the_named_id_property() -> None:
    fake = HubSpotFake(token="pat")
    with served_hubspot(fake, id_property="lockstep_id") as adapter:
        made = adapter.write("contact", None, contact(1), idempotency_key="key-1")
        again = adapter.write("contact", None, contact(1), idempotency_key="key-1")
    assert (made.created, again.created) == (True, False)
    assert made.external_id == again.external_id
    assert fake.requests[0] == ("POST", "/crm/v3/objects/contacts/batch/upsert")


def test_without_an_id_property_a_create_is_a_plain_create() -> None:
    fake = HubSpotFake(token="pat")
    with served_hubspot(fake) as adapter:
        made = adapter.write("contact", None, contact(1), idempotency_key="key-1")
    assert made.created
    assert fake.requests == [("POST", "/crm/v3/objects/contacts")]


def test_a_create_looks_up_our_link_id_first_when_no_unique_property_is_named() -> None:
    fake = HubSpotFake(token="pat")
    with served_hubspot(fake, link_property="lockstep_link") as adapter:
        made = adapter.write("contact", None, contact(1), idempotency_key="key-1")
        again = adapter.write("contact", None, contact(1), idempotency_key="key-1")
    assert (made.created, again.created) == (True, False)
    assert made.external_id == again.external_id
    assert fake.live_ids("contacts") == {made.external_id}
    assert [m for m, _ in fake.requests] == ["POST", "POST", "POST"]  # search, create, search


def test_423_locked_is_retryable() -> None:
    fake = HubSpotFake(token="pat")
    locked = httpx.MockTransport(
        lambda r: httpx.Response(423, json={"status": "error", "category": "LOCKED"})
    )
    with served_hubspot(fake, transport=locked) as adapter, pytest.raises(RetryableError) as caught:
        adapter.health()
    assert caught.value.retry_after == 2.0


def test_the_connection_config_is_checked() -> None:
    fake = HubSpotFake(token="pat")
    with (
        pytest.raises(ConfigurationError, match="idProperty"),
        served_hubspot(fake, idProperty="x"),
    ):
        pass


def test_search_requests_carry_every_field_the_spec_requires() -> None:
    seen: list[dict[str, Any]] = []
    fake = HubSpotFake(token="pat")
    fake.create("contacts", contact(1))

    def record(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            seen.append(json.loads(request.content))
        return httpx.HTTPTransport().handle_request(request)

    with served_hubspot(fake, transport=httpx.MockTransport(record)) as adapter:
        _, cursor = _listing(adapter, None)
        _listing(adapter, cursor)
    (body,) = seen
    assert set(body) == {"after", "filterGroups", "limit", "properties", "sorts"}
    (flt,) = body["filterGroups"][0]["filters"]
    assert (flt["propertyName"], flt["operator"]) == ("lastmodifieddate", "GT")
    assert body["sorts"] == ["hs_object_id"]
    assert body["limit"] == 100


def test_a_list_page_token_is_opaque_as_the_spec_shows() -> None:
    pages = [
        {"results": [], "paging": {"next": {"after": "NTI1Cg%3D%3D", "link": "?after=x"}}},
        {"results": []},
    ]
    answers = iter(pages)
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=next(answers)))
    with served_hubspot(HubSpotFake(token="pat"), transport=transport) as adapter:
        first = adapter.read_changes("contact", None, page_size=10)
        second = adapter.read_changes("contact", first.cursor, page_size=10)
    assert first.has_more
    assert CursorState.decode(first.cursor).page == {"after": "NTI1Cg%3D%3D"}
    assert second.has_more  # on to the archived pass


def test_extra_properties_are_read_besides_the_mapped_ones_by_lists_and_by_id() -> None:
    fake = HubSpotFake(token="pat")
    made = fake.create("contacts", {**contact(1), "hs_lead_status": "OPEN"})
    with served_hubspot(fake) as plain:
        (listed,) = plain.read_changes("contact", None, page_size=10).changes
        by_id = plain.read_record("contact", made)
    assert "hs_lead_status" not in listed.values  # HubSpot sends only what is asked for
    assert by_id is not None
    assert "hs_lead_status" not in by_id.values
    assert by_id.values["email"] == contact(1)["email"]  # the mapped ones, also by id
    extra = {"contact": ["hs_lead_status"]}
    with served_hubspot(fake, extra_properties=extra) as wider:
        (listed,) = wider.read_changes("contact", None, page_size=10).changes
        by_id = wider.read_record("contact", made)
    assert listed.values["hs_lead_status"] == "OPEN"
    assert by_id is not None
    assert by_id.values["hs_lead_status"] == "OPEN"


def test_extra_properties_name_only_objects_hubspot_syncs() -> None:
    fake = HubSpotFake(token="pat")
    with (
        pytest.raises(ConfigurationError, match="extra_properties"),
        served_hubspot(fake, extra_properties={"deal": ["amount"]}),
    ):
        pass


def test_a_task_reads_into_the_canonical_task_and_writes_back() -> None:
    fake = HubSpotFake(token="pat")
    fake.create("tasks", hubspot_task(3))
    with served_hubspot(fake) as adapter:
        (change,) = adapter.read_changes("task", None, page_size=10).changes
        mapping = adapter.field_map("task")
        canonical = mapping.to_canonical(change.values, record_id=change.external_id)
        made = adapter.write("task", None, mapping.to_provider(canonical))
    assert canonical == {
        "title": "Follow up 3",
        "description": "Call about order 3",
        "status": "not_started",
        "due_date": "2026-03-04",
        "labels": ["high"],
    }
    assert made.created
    assert fake.live_ids("tasks") == {change.external_id, made.external_id}
