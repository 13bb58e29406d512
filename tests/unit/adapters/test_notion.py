"""Notion: property converters on Notion's reference examples, the page and event shapes,
routing notices by database, limits and errors, and the fake's honesty to the reference.

Fixtures: tests/unit/adapters/fixtures/notion_*.json (each cites its reference page).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.notion import NOTION, NotionAdapter
from integration_core.errors import (
    ConnectionConfigurationError,
    NotFoundError,
    PermanentError,
    RetryableError,
)
from integration_core.mapping import ConversionContext, MappingError, ObjectMapping, get_converter
from integration_core.models import Connection
from integration_core.ports import parse_webhook
from tests.harness.adapters import StaticBearer
from tests.harness.fakes.notion import NotionFake, _read_shape

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"
DATABASE = "a1d8501e-1ac1-43e9-a6bd-ea9fe6c8822b"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["example"]


PROPERTIES = _fixture("notion_property_values.json")
CONTEXT = ConversionContext()


@pytest.mark.parametrize(
    ("column", "converter", "options", "expected"),
    [
        ("Title", "notion_title", {}, "A better title for the page"),
        ("Description", "notion_rich_text", {}, "There is some text in this property!"),
        ("Department", "notion_select", {}, "jQuery"),
        ("Status", "notion_select", {"property_type": "status"}, "In progress"),
        ("Programming language", "notion_multi_select", {}, ["TypeScript", "JavaScript", "Python"]),
        ("Due date", "notion_date", {}, "2023-02-23"),
        ("Owner", "notion_people", {}, ["c2f20311-9e54-4d11-8c79-7398424ae41e"]),
        ("Email", "notion_email", {}, "ada@makenotion.com"),
        ("Contact phone number", "notion_phone", {}, "415-202-4776"),
        ("Task completed", "notion_checkbox", {}, True),
        ("Number of subscribers", "notion_number", {}, 42),
        (
            "Related tasks",
            "notion_relation",
            {},
            ["dd456007-6c66-4bba-957e-ea501dcda3a6", "0c1f7cb2-8090-4f18-924e-d92965055e32"],
        ),
    ],
)
def test_each_property_type_reads_from_the_reference_and_writes_what_notion_reads_back(
    column: str, converter: str, options: dict[str, Any], expected: Any
) -> None:
    prop = PROPERTIES[column]
    found = get_converter(converter)
    parsed = found.parse_options(options)
    read = found.to_canonical(prop, parsed, CONTEXT)
    assert read == expected
    assert found.to_provider is not None
    written = found.to_provider(read, parsed, CONTEXT)
    kind = prop["type"]
    # What a write sends is what Notion keeps: the fake turns it into the read shape.
    again = {"type": kind, kind: _read_shape(column, kind, written[kind])}
    assert found.to_canonical(again, parsed, CONTEXT) == read


@pytest.mark.parametrize(
    ("converter", "cleared"),
    [
        ("notion_title", {"title": []}),
        ("notion_rich_text", {"rich_text": []}),
        ("notion_select", {"select": None}),
        ("notion_multi_select", {"multi_select": []}),
        ("notion_date", {"date": None}),
        ("notion_people", {"people": []}),
        ("notion_relation", {"relation": []}),
        ("notion_email", {"email": None}),
        ("notion_phone", {"phone_number": None}),
        ("notion_checkbox", {"checkbox": False}),
        ("notion_number", {"number": None}),
    ],
)
def test_writing_nothing_clears_the_column_with_notions_own_empty_value(
    converter: str, cleared: dict[str, Any]
) -> None:
    found = get_converter(converter)
    assert found.to_provider is not None
    assert found.to_provider(None, found.parse_options({}), CONTEXT) == cleared


def test_a_property_of_another_type_is_a_mapping_error_naming_the_column() -> None:
    mapping = ObjectMapping.model_validate(
        {
            "system": "notion",
            "entity_type": "task",
            "provider_object": "pages",
            "fields": [{"source": "Email", "canonical": "title", "convert": "notion_title"}],
        }
    )
    with pytest.raises(MappingError, match="Email") as caught:
        mapping.to_canonical({"Email": PROPERTIES["Email"]}, record_id="p1")
    assert "a Notion email property, not title" in str(caught.value)


def test_status_and_checkbox_chains_map_onto_canonical_task_values() -> None:
    mapping = NotionAdapter.field_map("task")
    page = {"Status": PROPERTIES["Status"], "Task name": PROPERTIES["Title"]}
    values = mapping.to_canonical(page)
    assert values == {"status": "in_progress", "title": "A better title for the page"}
    assert mapping.to_provider({"status": "completed"}, only={"status"}) == {
        "Status": {"status": {"name": "Done"}}
    }
    checkbox = get_converter("notion_checkbox")
    options = checkbox.parse_options({"checked": "completed", "unchecked": "not_started"})
    assert checkbox.to_canonical(PROPERTIES["Task completed"], options, CONTEXT) == "completed"
    assert checkbox.to_provider is not None
    assert checkbox.to_provider("not_started", options, CONTEXT) == {"checkbox": False}


def test_the_reference_page_parses_and_the_fakes_pages_have_its_shape() -> None:
    reference = _fixture("notion_page.json")
    adapter = _adapter("https://api.notion.com")
    change = adapter.parse_record("contact", reference)
    assert change.external_id == "be633bf1-dfa0-436d-b259-571129a590e5"
    assert change.modified_at.isoformat() == "2023-03-08T18:25:00+00:00"
    assert change.deleted  # the example is archived (in the trash)
    assert change.version.startswith("2023-03-08T18:25:00")
    fake = NotionFake(token="t", databases={DATABASE: {"Title": "title"}})
    page = fake.page(fake.create(DATABASE, {"Title": {"title": []}}))
    assert set(page) == set(reference)
    assert set(page["parent"]) == set(reference["parent"])


def test_a_version_moves_with_any_property_even_within_the_same_minute() -> None:
    reference = _fixture("notion_page.json")
    adapter = _adapter("https://api.notion.com")
    edited = json.loads(json.dumps(reference))
    edited["properties"]["Title"]["title"][0]["plain_text"] = "Bug bash 2"
    restored = {**reference, "archived": False, "in_trash": False}
    versions = {
        adapter.parse_record("contact", page).version for page in (reference, edited, restored)
    }
    assert len(versions) == 3


@pytest.mark.parametrize(
    "edit",
    [
        {},
        {"plain_text": "Bug bash — café 🐛"},  # text json escapes (orjson would not)
        {"plain_text": 2**70},  # an integer orjson refuses
        {"plain_text": "rubout\x7f"},  # ASCII that json escapes (orjson would not)
    ],
)
def test_a_version_is_the_minute_and_the_digest_of_the_sorted_json(edit: dict[str, Any]) -> None:
    """The same version as ever for the same page (links store it), however it is computed."""
    page = _fixture("notion_page.json")
    page["properties"]["Title"]["title"][0].update(edit)
    change = _adapter("https://api.notion.com").parse_record("contact", page)
    state = {"properties": page["properties"], "deleted": True}
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(canonical).hexdigest()[:16]
    assert change.version == f"2023-03-08T18:25:00.000000Z#{digest}"


def test_page_events_become_notices_routed_by_their_database() -> None:
    events = _fixture("notion_events.json")
    notices = [n for e in events for n in parse_webhook("notion", headers={}, body=_body(e))]
    assert [(n.external_id, n.operation) for n in notices] == [
        ("153104cd-477e-809d-8dc4-ff2d96ae3090", "upsert"),
        ("153104cd-477e-809d-8dc4-ff2d96ae3090", "delete"),
    ]  # the schema event names no page
    database = "13950b26c2034f3bb97d93ec06319565"  # the same id without its dashes
    tasks = _adapter(
        "https://api.notion.com", databases={"task": database, "contact": DATABASE}
    ).route_notices(notices)
    assert {n.object_type for n in tasks} == {"task"}
    assert _adapter("https://api.notion.com").route_notices(notices) == []  # not synced here


def test_an_event_body_that_is_not_notions_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="notion webhook"):
        parse_webhook("notion", headers={}, body=b"[1, 2]")
    with pytest.raises(PermanentError, match="without a page entity"):
        parse_webhook("notion", headers={}, body=_body({"type": "page.created", "entity": {}}))


@pytest.mark.parametrize(
    ("code", "status"), [("conflict_error", 409), ("service_unavailable", 503)]
)
def test_notions_retryable_errors_retry(code: str, status: int) -> None:
    body = _fixture("notion_errors.json")[code]
    error = NOTION.errors.error_for(_response(status, body), body, what="notion contact list")
    assert isinstance(error, RetryableError)


def test_a_529_overload_and_a_429_with_retry_after_retry() -> None:
    overload = {"object": "error", "status": 529, "code": "service_overload", "message": "busy"}
    assert isinstance(
        NOTION.errors.error_for(_response(529, overload), overload, what="q"), RetryableError
    )
    limited = _fixture("notion_errors.json")["rate_limited"]
    error = NOTION.errors.error_for(
        _response(429, limited, {"Retry-After": "3"}), limited, what="q"
    )
    assert isinstance(error, RetryableError)
    assert error.retry_after == 3


def test_a_missing_database_reads_as_not_found() -> None:
    body = _fixture("notion_errors.json")["object_not_found"]
    assert isinstance(NOTION.errors.error_for(_response(404, body), body, what="q"), NotFoundError)


def test_the_config_needs_a_database_and_the_budget_is_three_a_second() -> None:
    with pytest.raises(ConnectionConfigurationError, match="databases"):
        NotionAdapter.validate_config({})
    with pytest.raises(ConnectionConfigurationError, match="databases"):
        NotionAdapter.validate_config({"databases": {"deal": DATABASE}})
    [limit] = _adapter("https://api.notion.com").rate_limits()
    assert limit.max_requests / limit.window_seconds == 3


def _adapter(base_url: str, **config: Any) -> NotionAdapter:
    connection = Connection(
        id="n1",
        tenant_id="t1",
        system="notion",
        config={"base_url": base_url, "databases": {"contact": DATABASE}, **config},
    )
    return NotionAdapter(connection, client=httpx.Client(base_url=base_url, auth=StaticBearer("x")))


def _body(event: Any) -> bytes:
    return json.dumps(event).encode()


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)
