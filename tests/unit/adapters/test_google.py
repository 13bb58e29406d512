"""Google People: the reference shapes, sync-token errors, etag updates that merge, channel
pings, and the fake's honesty to the reference.

Fixtures: tests/unit/adapters/fixtures/google_*.json (each cites its reference page).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.google import GOOGLE, PERSON_FIELDS, GooglePeopleAdapter
from adapters.sandbox_server import SandboxServer
from adapters.toolkit import CursorExpiredError, RecordError
from integration_core.errors import PermanentError, PreconditionFailedError, RetryableError
from integration_core.models import Connection
from integration_core.ports import parse_webhook
from tests.harness.adapters import StaticBearer
from tests.harness.fakes.google_people import GooglePeopleFake
from tests.harness.http_faults import FaultyTransport

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["example"]


class Account:
    def __init__(self, server: SandboxServer, fake: GooglePeopleFake) -> None:
        self.fake = fake
        self.faults = FaultyTransport(httpx.HTTPTransport())
        client = httpx.Client(
            base_url=server.base_url, auth=StaticBearer(fake.token), transport=self.faults
        )
        connection = Connection(
            id="g1", tenant_id="t1", system="google", config={"base_url": server.base_url}
        )
        self.adapter = GooglePeopleAdapter(connection, client=client)


@pytest.fixture
def account() -> Iterator[Account]:
    fake = GooglePeopleFake(token="ya29.unit")
    with SandboxServer(fake) as server:
        built = Account(server, fake)
        yield built
        built.adapter.close()


def test_the_reference_person_and_deleted_person_parse() -> None:
    adapter = _offline()
    [person] = _fixture("google_connections.json")["connections"]
    change = adapter.parse_record("contact", person)
    assert change.external_id == "c2845437218370157312"
    assert change.version == person["etag"]
    assert change.modified_at.isoformat() == "2024-05-21T09:17:32.143001+00:00"
    assert not change.deleted
    assert GooglePeopleAdapter.field_map("contact").to_canonical(change.values) == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "company": "Analytical Engines",
        "title": "Engineer",
        "city": "London",
    }
    [gone] = _fixture("google_sync.json")["connections"]
    tombstone = adapter.parse_record("contact", gone)
    assert tombstone.deleted
    assert tombstone.external_id == "c8129931294717049346"


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ({"etag": ""}, "missing 'etag'"),
        ({"metadata": {"sources": [{"type": "CONTACT"}]}}, "metadata.sources.updateTime"),
        ({"metadata": ["not", "an", "object"]}, "metadata.sources.updateTime"),
        ({"metadata": {"sources": [{"updateTime": "yesterday"}]}}, "yesterday"),
        ({"metadata": {"sources": [{"updateTime": "9" * 20}]}}, ""),
    ],
)
def test_a_person_it_cannot_read_is_a_record_error_naming_it(
    edit: dict[str, Any], problem: str
) -> None:
    [person] = _fixture("google_connections.json")["connections"]
    with pytest.raises(RecordError, match=f"google contact c2845437218370157312: .*{problem}"):
        _offline().parse_record("contact", {**person, **edit})


def test_the_fakes_answers_have_the_references_shape(account: Account) -> None:
    account.fake.create({"names": [{"givenName": "Ada", "familyName": "Lovelace"}]})
    account.fake.create({"names": [{"givenName": "Alan", "familyName": "Turing"}]})
    response = account.adapter.client.get(
        "/v1/people/me/connections",
        params={"personFields": PERSON_FIELDS, "pageSize": 1, "requestSyncToken": "true"},
    )
    reference = _fixture("google_connections.json")
    assert set(response.json()) == set(reference)
    person, model = response.json()["connections"][0], reference["connections"][0]
    assert set(person) <= set(model) | {"clientData"}
    assert set(person["metadata"]["sources"][0]) == set(model["metadata"]["sources"][0])
    assert set(person["names"][0]) <= set(model["names"][0])


@pytest.mark.parametrize(
    ("name", "status", "expected"),
    [
        ("expired_sync_token", 400, CursorExpiredError),
        ("stale_etag", 400, PreconditionFailedError),
        ("quota", 429, RetryableError),
    ],
)
def test_googles_errors_map_to_what_the_pipelines_do(
    name: str, status: int, expected: type[Exception]
) -> None:
    body = _fixture("google_errors.json")[name]
    error = GOOGLE.errors.error_for(httpx.Response(status, json=body), body, what="google list")
    assert isinstance(error, expected)
    gone = GOOGLE.errors.error_for(httpx.Response(410, json={}), {}, what="google list")
    assert isinstance(gone, CursorExpiredError)


def test_a_full_listing_then_changes_only_then_a_delete_as_a_tombstone(account: Account) -> None:
    ids = [account.fake.create({"names": [{"givenName": f"P{i}"}]}) for i in range(5)]
    cursor, listed = _read_all(account.adapter, None, page_size=2)
    assert [c.external_id for c in listed] == ids
    account.fake.update(ids[1], {"names": [{"givenName": "Edited"}]})
    account.fake.delete(ids[3])
    _, changed = _read_all(account.adapter, cursor, page_size=1000)
    assert [(c.external_id, c.deleted) for c in changed] == [(ids[1], False), (ids[3], True)]


def test_a_resumed_page_keeps_the_page_size_its_listing_started_with(account: Account) -> None:
    for i in range(5):
        account.fake.create({"names": [{"givenName": f"P{i}"}]})
    first = account.adapter.read_changes("contact", None, page_size=2)
    # The fake, as Google, refuses a paged request whose other parameters changed.
    rest = account.adapter.read_changes("contact", first.cursor, page_size=500)
    assert len(rest.changes) == 2
    assert account.faults.requests[-1].url.params["pageSize"] == "2"


def test_an_update_replaces_only_what_it_maps_and_needs_the_etag(account: Account) -> None:
    person_id = account.fake.create(
        {
            "names": [{"givenName": "Ada", "familyName": "Lovelace"}],
            "emailAddresses": [{"value": "ada@example.com"}, {"value": "ada@home.example"}],
        }
    )
    current = account.adapter.read_record("contact", person_id)
    assert current is not None
    result = account.adapter.write(
        "contact",
        person_id,
        {"names": [{"givenName": "Augusta"}], "emailAddresses": [{"value": "aal@example.com"}]},
        expected_version=current.version,
    )
    person = account.fake.person(person_id)
    assert (person["names"][0]["givenName"], person["names"][0]["familyName"]) == (
        "Augusta",
        "Lovelace",
    )
    assert [e["value"] for e in person["emailAddresses"]] == ["aal@example.com", "ada@home.example"]
    assert result.version == person["etag"] != current.version
    patch = next(r for r in account.faults.requests if r.method == "PATCH")
    assert patch.url.params["updatePersonFields"] == "emailAddresses,names"
    assert json.loads(patch.content)["etag"] == current.version


def test_an_edit_between_read_and_write_is_refused_by_google_itself(account: Account) -> None:
    person_id = account.fake.create({"names": [{"givenName": "Ada"}]})
    read = account.adapter.read_record

    def read_then_someone_edits(entity_type: str, external_id: str) -> Any:
        found = read(entity_type, external_id)
        account.fake.update(person_id, {"names": [{"givenName": "Someone else"}]})
        return found

    account.adapter.read_record = read_then_someone_edits  # type: ignore[method-assign]
    with pytest.raises(PreconditionFailedError, match="HTTP 400"):
        account.adapter.write("contact", person_id, {"names": [{"givenName": "Augusta"}]})
    assert account.fake.person(person_id)["names"][0]["givenName"] == "Someone else"


def test_channel_pings_read_a_named_person_or_pull(account: Account) -> None:
    pings = _fixture("google_channel.json")
    assert parse_webhook("google", headers=pings["sync"], body=b"") == []
    [pull] = parse_webhook("google", headers=pings["exists"], body=b"")
    assert (pull.operation, pull.object_type, pull.external_id) == (
        "pull",
        "contact",
        "ret08u3rv24htgh289g",
    )
    named = {
        **pings["exists"],
        "X-Goog-Resource-URI": "https://people.googleapis.com/v1/people/c42",
    }
    [read] = parse_webhook("google", headers=named, body=b"")
    assert (read.operation, read.external_id) == ("upsert", "c42")
    gone = {**named, "X-Goog-Resource-State": "not_exists"}
    assert parse_webhook("google", headers=gone, body=b"")[0].operation == "delete"
    with pytest.raises(PermanentError, match="X-Goog-Resource-State"):
        parse_webhook("google", headers={}, body=b"")


def _read_all(adapter: GooglePeopleAdapter, cursor: str | None, *, page_size: int) -> Any:
    changes = []
    while True:
        page = adapter.read_changes("contact", cursor, page_size=page_size)
        changes.extend(page.changes)
        cursor = page.cursor
        if not page.has_more:
            return cursor, changes


def _offline() -> GooglePeopleAdapter:
    connection = Connection(id="g0", tenant_id="t1", system="google", config={})
    client = httpx.Client(base_url="https://people.googleapis.com", auth=StaticBearer("x"))
    return GooglePeopleAdapter(connection, client=client)
