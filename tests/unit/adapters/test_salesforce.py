"""The Salesforce adapter's own rules, against the Salesforce-shaped fake over loopback and
Salesforce's documented examples.

What every adapter does is in tests/contract/; here: the SOQL it sends, queryAll
tombstones, the delete log deciding when a cursor expired, upserts by External ID,
If-Unmodified-Since, the error map, the mappings, and the fake's fidelity to the examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.salesforce import (
    SALESFORCE,
    SALESFORCE_MAPPINGS,
    SalesforceAdapter,
    soql_listing,
)
from adapters.sandbox_server import SandboxServer
from adapters.toolkit import CursorState
from integration_core.clock import utcnow
from integration_core.errors import (
    AuthError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.models import Change
from integration_core.ports import WriteRequest, WriteResult, adapter_factory
from integration_core.ratelimit.headers import parse_response
from integration_core.sync.watermark import Watermark
from tests.harness.adapters import StaticBearer, salesforce_adapter, salesforce_contact
from tests.harness.fakes import salesforce_examples as examples
from tests.harness.fakes.salesforce import SalesforceFake
from tests.harness.http_faults import FaultyTransport

pytestmark = pytest.mark.unit


@contextmanager
def _served(
    fake: SalesforceFake, *, transport: httpx.BaseTransport | None = None, **config: Any
) -> Iterator[SalesforceAdapter]:
    with (
        SandboxServer(fake) as server,
        salesforce_adapter(
            server.base_url, auth=StaticBearer(fake.token), transport=transport, **config
        ) as adapter,
    ):
        yield adapter


def _listing(
    adapter: SalesforceAdapter, cursor: str | None, size: int = 200, entity: str = "contact"
) -> tuple[list[Change], str]:
    changes: list[Change] = []
    while True:
        page = adapter.read_changes(entity, cursor, page_size=size)
        changes += page.changes
        cursor = page.cursor
        if not page.has_more:
            return changes, cursor


def _recorded(faults: FaultyTransport) -> list[tuple[str, str, dict[str, list[str]]]]:
    return [
        (r.method, urlsplit(str(r.url)).path, parse_qs(urlsplit(str(r.url)).query))
        for r in faults.requests
    ]


def _fake(**kw: Any) -> SalesforceFake:
    return SalesforceFake(token="00Dtoken", **kw)


# -- reads ---------------------------------------------------------------------------------


def test_a_first_sync_lists_everything_through_queryall_in_soql_order() -> None:
    fake = _fake()
    made = [fake.create("Contact", salesforce_contact(i)) for i in range(3)]
    faults = FaultyTransport(httpx.HTTPTransport())
    with _served(fake, transport=faults) as adapter:
        changes, _ = _listing(adapter, None)
    assert [c.external_id for c in changes] == made
    ((method, path, query),) = _recorded(faults)
    assert (method, path) == ("GET", "/services/data/v61.0/queryAll")
    soql = query["q"][0]
    assert soql.startswith("SELECT Id, SystemModstamp, IsDeleted, ")
    assert soql.endswith(" FROM Contact ORDER BY SystemModstamp, Id")
    assert faults.requests[0].headers["Sforce-Query-Options"] == "batchSize=200"


def test_later_cycles_filter_on_systemmodstamp_after_checking_the_delete_log() -> None:
    fake = _fake()
    fake.create("Contact", salesforce_contact(1))
    faults = FaultyTransport(httpx.HTTPTransport())
    with _served(fake, transport=faults) as adapter:
        _, cursor = _listing(adapter, None)
        watermark = CursorState.decode(cursor).watermark
        faults.requests.clear()
        _listing(adapter, cursor)
    assert watermark is not None
    (deleted, listing) = _recorded(faults)
    assert deleted[:2] == ("GET", "/services/data/v61.0/sobjects/Contact/deleted/")
    since = (watermark.modified_at - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f" WHERE SystemModstamp >= {since} ORDER BY" in listing[2]["q"][0]


def test_pages_follow_next_records_url_and_a_follow_up_resumes_from_it() -> None:
    fake = _fake(min_batch_size=1)
    made = [fake.create("Contact", salesforce_contact(i)) for i in range(5)]
    with _served(fake) as adapter:
        page = adapter.read_changes("contact", None, page_size=2)
        state = CursorState.decode(page.cursor)
        rest, _ = _listing(adapter, page.cursor, size=2)
    assert isinstance(state.page, str)
    assert state.page.startswith("/services/data/v61.0/queryAll/01g")
    assert [c.external_id for c in [*page.changes, *rest]] == made


def test_deleted_rows_come_back_from_queryall_as_tombstones_in_order() -> None:
    fake = _fake()
    keep, gone = (fake.create("Contact", salesforce_contact(i)) for i in range(2))
    with _served(fake) as adapter:
        _, cursor = _listing(adapter, None)
        fake.delete("Contact", gone)
        fake.update("Contact", keep, {"Title": "CTO"})
        changes, _ = _listing(adapter, cursor)
    assert {(c.external_id, c.deleted) for c in changes} == {(gone, True), (keep, False)}
    assert changes == sorted(changes, key=lambda c: (c.modified_at, c.external_id))
    assert next(c for c in changes if c.external_id == keep).values["Title"] == "CTO"


def test_a_purged_delete_log_makes_the_next_listing_a_full_scan_inferring_no_deletes() -> None:
    fake = _fake()
    made = {fake.create("Contact", salesforce_contact(i)) for i in range(3)}
    faults = FaultyTransport(httpx.HTTPTransport())
    with _served(fake, transport=faults) as adapter:
        _, cursor = _listing(adapter, None)
        fake.purge_delete_log()
        faults.requests.clear()
        changes, after = _listing(adapter, cursor)
    assert {c.external_id for c in changes} == made
    assert not [c for c in changes if c.deleted]
    listing = _recorded(faults)[1]
    assert "WHERE" not in listing[2]["q"][0]  # everything, again
    assert CursorState.decode(after).watermark is not None


def test_a_cursor_older_than_15_days_is_a_full_scan_without_asking() -> None:
    fake = _fake()
    fake.create("Contact", salesforce_contact(1))
    faults = FaultyTransport(httpx.HTTPTransport())
    cursor = CursorState(watermark=Watermark(utcnow() - timedelta(days=16), "003x")).encode()
    with _served(fake, transport=faults) as adapter:
        changes, _ = _listing(adapter, cursor)
    assert len(changes) == 1
    ((method, path, query),) = _recorded(faults)
    assert path.endswith("/queryAll")
    assert "WHERE" not in query["q"][0]


def test_an_expired_query_locator_rescans_from_the_start() -> None:
    fake = _fake(min_batch_size=1)
    made = {fake.create("Contact", salesforce_contact(i)) for i in range(4)}
    with _served(fake) as adapter:
        page = adapter.read_changes("contact", None, page_size=2)
        fake._cursors.clear()  # the locator's 15 minutes are over
        rest, _ = _listing(adapter, page.cursor, size=2)
    assert {c.external_id for c in rest} == made


def test_read_record_by_id_and_a_deleted_one_is_none() -> None:
    fake = _fake()
    row = fake.create("Contact", salesforce_contact(1))
    gone = fake.create("Contact", salesforce_contact(2))
    fake.delete("Contact", gone)
    with _served(fake) as adapter:
        found = adapter.read_record("contact", row)
        missing = adapter.read_record("contact", gone)
    assert found is not None
    assert found.values["LastName"] == salesforce_contact(1)["LastName"]
    assert found.version.endswith("+0000")
    assert missing is None


# -- writes --------------------------------------------------------------------------------


def test_an_idempotent_create_upserts_on_the_external_id_field() -> None:
    fake = _fake()
    faults = FaultyTransport(httpx.HTTPTransport())
    with _served(fake, transport=faults, external_id_field="Lockstep_Id__c") as adapter:
        made = adapter.write("contact", None, salesforce_contact(1), idempotency_key="key-1")
        again = adapter.write("contact", None, salesforce_contact(1), idempotency_key="key-1")
    assert made.created is True
    assert again.created is False
    assert again.external_id == made.external_id
    assert fake.live_ids("Contact") == {made.external_id}
    assert faults.requests[0].method == "PATCH"
    assert faults.requests[0].url.raw_path.decode() == (
        "/services/data/v61.0/sobjects/Contact/Lockstep_Id__c/key-1"
    )


def test_without_an_external_id_field_a_create_is_a_plain_post() -> None:
    fake = _fake()
    faults = FaultyTransport(httpx.HTTPTransport())
    with _served(fake, transport=faults) as adapter:
        made = adapter.write("contact", None, salesforce_contact(1), idempotency_key="k")
    assert made.created is True
    assert (faults.requests[0].method, faults.requests[0].url.path) == (
        "POST",
        "/services/data/v61.0/sobjects/Contact",
    )
    # The version comes from the record, read back: writes do not answer it.
    assert faults.requests[1].method == "GET"


def test_an_update_sends_if_unmodified_since_no_earlier_than_the_version_seen() -> None:
    fake = _fake()
    with _served(fake) as adapter:
        made = adapter.write("contact", None, salesforce_contact(1))
        faults = FaultyTransport(httpx.HTTPTransport())
    with _served(fake, transport=faults) as adapter:
        adapter.write("contact", made.external_id, {"Title": "CTO"}, expected_version=made.version)
    patch = next(r for r in faults.requests if r.method == "PATCH")
    sent = parsedate_to_datetime(patch.headers["If-Unmodified-Since"])
    seen = datetime.fromisoformat(made.version)
    assert timedelta(0) <= sent - seen < timedelta(seconds=1)


def test_salesforce_refuses_an_update_after_an_edit_made_in_a_later_second() -> None:
    """The read-and-compare passed, then someone edited: If-Unmodified-Since catches it."""
    clock = [datetime(2026, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC)]
    fake = _fake(clock=lambda: clock[0])
    row = fake.create("Contact", salesforce_contact(1))
    with _served(fake) as adapter:
        seen = adapter.read_record("contact", row)
        assert seen is not None
        clock[0] += timedelta(seconds=2)
        original = adapter._precondition  # the compare ran before this edit

        def compare_then_someone_edits(*args: Any) -> dict[str, str]:
            headers = original(*args)
            fake.update("Contact", row, {"Title": "edited by a user"})
            return headers

        adapter._precondition = compare_then_someone_edits  # type: ignore[method-assign]
        with pytest.raises(PreconditionFailedError):
            adapter.write("contact", row, {"Title": "ours"}, expected_version=seen.version)
    assert fake._rows[row].fields["Title"] == "edited by a user"


def test_a_stale_delete_is_refused_by_comparing_the_version() -> None:
    fake = _fake()
    row = fake.create("Contact", salesforce_contact(1))
    with _served(fake) as adapter:
        seen = adapter.read_record("contact", row)
        assert seen is not None
        fake.update("Contact", row, {"Title": "moved on"})
        with pytest.raises(PreconditionFailedError):
            adapter.delete("contact", row, expected_version=seen.version)
        current = adapter.read_record("contact", row)
        assert current is not None
        adapter.delete("contact", row, expected_version=current.version)
    assert fake.live_ids("Contact") == set()


def test_a_write_salesforce_refuses_is_permanent_and_names_its_error_code() -> None:
    fake = _fake()
    with _served(fake) as adapter, pytest.raises(PermanentError) as caught:
        adapter.write("contact", None, {"FirstName": "No last name"})
    assert "salesforce contact create [REQUIRED_FIELD_MISSING]" in str(caught.value)


def test_accounts_and_tasks_write_and_read_through_their_default_mappings() -> None:
    fake = _fake()
    account_map, task_map = SALESFORCE_MAPPINGS["company"], SALESFORCE_MAPPINGS["task"]
    company = {"name": "Acme", "website": "https://www.acme.com", "employees": 12}
    task = {"title": "Call back", "status": "waiting", "due_date": "2026-02-01"}
    with _served(fake) as adapter:
        made = adapter.write("company", None, account_map.to_provider(company))
        todo = adapter.write("task", None, task_map.to_provider(task))
        accounts, _ = _listing(adapter, None, entity="company")
        tasks, _ = _listing(adapter, None, entity="task")
    assert [a.external_id for a in accounts] == [made.external_id]
    assert account_map.to_canonical(accounts[0].values) == {
        **company,
        "domain": "acme.com",
        **dict.fromkeys(
            ("phone", "industry", "description", "street", "city", "postal_code", "region"),
            None,
        ),
        "country": None,
    }
    assert [t.external_id for t in tasks] == [todo.external_id]
    assert task_map.to_canonical(tasks[0].values) == {
        **task,
        "description": None,
        "related_id": None,
    }


# -- errors --------------------------------------------------------------------------------


def _answering(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", "https://example.my.salesforce.com/services/data/v61.0/")
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        pytest.param(401, examples.ERROR_INVALID_SESSION, AuthError, id="401-invalid-session"),
        pytest.param(403, examples.ERROR_REQUEST_LIMIT, RetryableError, id="403-request-limit"),
        pytest.param(
            403,
            [{"message": "insufficient access rights", "errorCode": "INSUFFICIENT_ACCESS"}],
            AuthError,
            id="403-other",
        ),
        pytest.param(404, examples.ERROR_NOT_FOUND, NotFoundError, id="404"),
        pytest.param(
            400,
            [{"message": "no such field", "errorCode": "INVALID_FIELD", "fields": ["X"]}],
            PermanentError,
            id="400-errors-array",
        ),
        pytest.param(
            400,
            [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}],
            NotFoundError,
            id="400-entity-deleted",
        ),
        pytest.param(
            400,
            [{"message": "unable to obtain exclusive access", "errorCode": "UNABLE_TO_LOCK_ROW"}],
            RetryableError,
            id="400-row-lock",
        ),
        pytest.param(
            412,
            [{"message": "stale", "errorCode": "PRECONDITION_FAILED"}],
            PreconditionFailedError,
            id="412",
        ),
        pytest.param(300, ["/services/data/v61.0/sobjects/Contact/003a"], ConflictError, id="300"),
        pytest.param(
            500, [{"message": "boom", "errorCode": "UNKNOWN_EXCEPTION"}], RetryableError, id="500"
        ),
        pytest.param(503, None, RetryableError, id="503"),
    ],
)
def test_the_error_map(status: int, body: Any, error: type[Exception]) -> None:
    found = SALESFORCE.errors.error_for(_answering(status, body), body, what="salesforce x")
    assert type(found) is error
    for item in body if isinstance(body, list) else []:
        if isinstance(item, dict):
            assert item["errorCode"] in str(found)


def test_the_request_limit_waits_for_the_quota() -> None:
    found = SALESFORCE.errors.error_for(
        _answering(403, examples.ERROR_REQUEST_LIMIT), examples.ERROR_REQUEST_LIMIT, what="x"
    )
    assert isinstance(found, RetryableError)
    assert found.retry_after == 300.0


def test_a_spent_quota_is_retryable_and_the_usage_header_feeds_the_limiter() -> None:
    fake = _fake(api_limit=2)
    fake.create("Contact", salesforce_contact(1))
    faults = FaultyTransport(httpx.HTTPTransport())
    with _served(fake, transport=faults) as adapter:
        _listing(adapter, None)
        assert fake.api_used == 1
        adapter.health()
        with pytest.raises(RetryableError, match="REQUEST_LIMIT_EXCEEDED"):
            adapter.health()
    name, value = examples.LIMIT_INFO_HEADER
    documented = parse_response(200, {name: value}).headroom
    ours = parse_response(200, {name: "api-usage=1/2"}).headroom
    assert documented == pytest.approx(1 - 10018 / 100000)
    assert ours == 0.5


def test_a_query_the_fake_does_not_know_is_malformed_query_as_salesforce_says() -> None:
    fake = _fake()
    with SandboxServer(fake) as server:
        answer = httpx.get(
            f"{server.base_url}/services/data/v61.0/query",
            params={"q": "SELECT Id FROM Contact WHERE Name LIKE 'A%'"},
            headers={"Authorization": f"Bearer {fake.token}"},
        )
    assert answer.status_code == 400
    assert [e["errorCode"] for e in answer.json()] == ["MALFORMED_QUERY"]


# -- the documented examples -----------------------------------------------------------------


def test_the_fakes_query_answers_have_the_documented_shape() -> None:
    fake = _fake(min_batch_size=1)
    for i in range(3):
        fake.create("Account", {"Name": f"Test {i}"})
    with SandboxServer(fake) as server:
        auth = {"Authorization": f"Bearer {fake.token}"}
        first = httpx.get(
            f"{server.base_url}/services/data/v61.0/query",
            params={"q": soql_listing("Account", ["Name"], None)},
            headers={**auth, "Sforce-Query-Options": "batchSize=2"},
        ).json()
        more = httpx.get(f"{server.base_url}{first['nextRecordsUrl']}", headers=auth).json()
    documented = examples.QUERY_DONE
    assert set(first) == {*documented, "nextRecordsUrl"}
    assert set(more) == set(examples.QUERY_MORE_DONE)
    assert first["done"] is False
    assert more["done"] is True
    assert set(first["records"][0]["attributes"]) == set(documented["records"][0]["attributes"])
    # "/services/data/v63.0/query/01gD0000002HU6KIAW-2000": the same form, our version.
    locator = examples.QUERY_NEXT_RECORDS_URL.replace("v63.0", "v61.0").rsplit("/", 1)
    ours = first["nextRecordsUrl"].rsplit("/", 1)
    assert ours[0] == locator[0]
    assert ours[1].startswith("01g")
    assert ours[1].rsplit("-", 1)[1] == "2"


def test_the_fakes_deleted_answer_has_the_documented_shape() -> None:
    fake = _fake()
    fake.delete("Contact", fake.create("Contact", salesforce_contact(1)))
    now = utcnow()
    with SandboxServer(fake) as server:
        body = httpx.get(
            f"{server.base_url}/services/data/v61.0/sobjects/Contact/deleted/",
            params={
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(minutes=2)).isoformat(),
            },
            headers={"Authorization": f"Bearer {fake.token}"},
        ).json()
    assert set(body) == set(examples.DELETED_RECORDS)
    assert set(body["deletedRecords"][0]) == set(examples.DELETED_RECORDS["deletedRecords"][0])


def test_a_documented_query_answer_without_ids_is_rejected_record_by_record() -> None:
    """The Guide's example selects only Name: each record is refused, naming the path."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=examples.QUERY_DONE))
    adapter = salesforce_adapter(
        "https://example.my.salesforce.com", auth=StaticBearer("t"), transport=transport
    )
    with adapter:
        page = adapter.read_changes("company", None, page_size=200)
    assert page.changes == []
    assert [r.reason for r in page.rejected] == [
        "salesforce company: record without an id at 'Id'"
    ] * 2
    assert page.has_more is False


def test_the_documented_upsert_answer_reads() -> None:
    row = {
        "attributes": {"type": "Contact", "url": "/services/data/v61.0/sobjects/Contact/x"},
        "Id": examples.UPSERT_CREATED["id"],
        "SystemModstamp": "2013-05-07T22:07:19.000+0000",
        "IsDeleted": False,
        "LastName": "Doe",
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            return httpx.Response(201, json=examples.UPSERT_CREATED)
        return httpx.Response(200, json=row)

    adapter = salesforce_adapter(
        "https://example.my.salesforce.com",
        auth=StaticBearer("t"),
        transport=httpx.MockTransport(answer),
        external_id_field="Ext__c",
    )
    with adapter:
        made = adapter.write("contact", None, {"LastName": "Doe"}, idempotency_key="1")
    assert (made.external_id, made.version, made.created) == (
        "00190000001pPvHAAU",
        "2013-05-07T22:07:19.000+0000",
        True,
    )


def test_a_documented_delete_log_that_starts_after_the_cursor_expires_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/deleted/"):
            return httpx.Response(200, json=examples.DELETED_RECORDS)
        return httpx.Response(200, json={"done": True, "totalSize": 0, "records": []})

    # The example's day: it keeps deletes from 2013-05-03 15:57 on; our cursor is older.
    monkeypatch.setattr("adapters.toolkit.adapter.utcnow", lambda: datetime(2013, 5, 8, tzinfo=UTC))
    cursor = CursorState(watermark=Watermark(datetime(2013, 5, 2, tzinfo=UTC), "x")).encode()
    adapter = salesforce_adapter(
        "https://example.my.salesforce.com",
        auth=StaticBearer("t"),
        transport=httpx.MockTransport(answer),
    )
    with adapter:
        page = adapter.read_changes("contact", cursor, page_size=200)
        assert seen == [
            "/services/data/v61.0/sobjects/Contact/deleted/",
            "/services/data/v61.0/queryAll",
        ]
        assert CursorState.decode(page.cursor).watermark is not None
        # Within what the log keeps, the listing goes on incrementally.
        seen.clear()
        recent = CursorState(watermark=Watermark(datetime(2013, 5, 6, tzinfo=UTC), "x")).encode()
        adapter.read_changes("contact", recent, page_size=200)
    assert seen == [
        "/services/data/v61.0/sobjects/Contact/deleted/",
        "/services/data/v61.0/queryAll",
    ]


# -- configuration -------------------------------------------------------------------------


def test_the_connection_config_is_checked() -> None:
    factory = adapter_factory("salesforce")
    assert factory is SalesforceAdapter
    assert factory.base_url({"instance_url": "https://acme.my.salesforce.com"}) == (
        "https://acme.my.salesforce.com/"
    )
    with pytest.raises(ConfigurationError, match="instance_url"):
        factory.validate_config({})
    with pytest.raises(ConfigurationError, match="external_id_field"):
        factory.validate_config(
            {"instance_url": "https://acme.my.salesforce.com", "external_id_field": "x/../y"}
        )


def test_the_listing_asks_for_the_mapped_fields_only() -> None:
    soql = soql_listing("Contact", ["FirstName", "Id"], datetime(2026, 1, 2, 3, 4, 5, 678, UTC))
    assert soql == (
        "SELECT Id, SystemModstamp, IsDeleted, FirstName FROM Contact "
        "WHERE SystemModstamp >= 2026-01-02T03:04:05Z ORDER BY SystemModstamp, Id"
    )
    with pytest.raises(PermanentError, match="not API names"):
        soql_listing("Contact", ["Name FROM User WHERE Id != null --"], None)


# -- batched writes through Composite --------------------------------------------------


def test_a_batch_goes_through_composite_25_subrequests_a_call_each_with_its_outcome() -> None:
    fake = _fake()
    existing = [fake.create("Contact", salesforce_contact(i)) for i in range(3)]
    with _served(fake, external_id_field="Lockstep_Id__c") as adapter:
        versions = {}
        for i in existing:
            record = adapter.read_record("contact", i)
            assert record is not None
            versions[i] = record.version
        fake.update("Contact", existing[2], {"Title": "moved on"})  # its version is stale now
        requests = [
            WriteRequest(None, salesforce_contact(10 + k), idempotency_key=f"key-{k}")
            for k in range(26)
        ] + [
            WriteRequest(existing[0], {"Title": "CTO"}, expected_version=versions[existing[0]]),
            WriteRequest(existing[1], {"Title": "CFO"}),
            WriteRequest(existing[2], {"Title": "CEO"}, expected_version=versions[existing[2]]),
            WriteRequest("003Lk0000009999AAA", {"Title": "x"}),  # no such row
            WriteRequest(None, {"FirstName": "No last name"}, idempotency_key="key-bad"),
        ]
        used = fake.api_used
        outcomes = adapter.write_batch("contact", requests)
        calls = fake.api_used - used
        again = adapter.write_batch("contact", requests[:1])
    # 31 requests in two Composite calls' worth: 25 creates (write, read back), then the
    # rest (the expected versions, write, read back).
    assert calls == 5
    assert adapter.batch_calls("contact", requests) == calls  # what the limiter is charged
    assert [type(o).__name__ for o in outcomes[26:]] == [
        "WriteResult",
        "WriteResult",
        "PreconditionFailedError",
        "NotFoundError",
        "PermanentError",
    ]
    assert "REQUIRED_FIELD_MISSING" in str(outcomes[30])
    created = [o for o in outcomes[:26] if isinstance(o, WriteResult)]
    assert len(created) == 26
    assert all(o.created for o in created)
    assert fake.live_ids("Contact") == {*existing, *(o.external_id for o in created)}
    fields = fake.live_fields("Contact")
    assert (fields[existing[0]]["Title"], fields[existing[1]]["Title"]) == ("CTO", "CFO")
    assert fields[existing[2]]["Title"] == "moved on"
    first = outcomes[0]
    assert isinstance(first, WriteResult)
    # A create repeated with its key upserts onto the record the first one made.
    assert isinstance(again[0], WriteResult)
    assert (again[0].external_id, again[0].created) == (first.external_id, False)


def test_a_composite_call_refused_whole_is_every_requests_outcome_and_stops_the_rest() -> None:
    fake = _fake()
    with _served(fake, external_id_field="Lockstep_Id__c") as adapter:
        fake.api_used = fake.api_limit  # the org's quota is spent
        requests = [
            WriteRequest(None, salesforce_contact(k), idempotency_key=f"k{k}") for k in range(30)
        ]
        outcomes = adapter.write_batch("contact", requests)
    assert all(isinstance(o, RetryableError) for o in outcomes)
    assert fake.live_ids("Contact") == set()


def test_the_fakes_composite_answers_have_the_documented_shape() -> None:
    fake = _fake()
    documented = examples.COMPOSITE_REQUEST["compositeRequest"]
    request = {
        "allOrNone": False,
        "compositeRequest": [
            documented[0],
            {**documented[1], "referenceId": "badContact", "body": {"Email": "x@example.com"}},
        ],
    }
    with SandboxServer(fake) as server:
        answer = httpx.post(
            f"{server.base_url}/services/data/v61.0/composite",
            json=request,
            headers={"Authorization": f"Bearer {fake.token}"},
        )
        with_reference = httpx.post(
            f"{server.base_url}/services/data/v61.0/composite",
            json={"allOrNone": False, **examples.COMPOSITE_REQUEST},
            headers={"Authorization": f"Bearer {fake.token}"},
        )
    assert answer.status_code == 200
    made, failed = answer.json()["compositeResponse"]
    assert set(made) == set(examples.COMPOSITE_RESULT_CREATED)
    assert set(made["body"]) == set(examples.COMPOSITE_RESULT_CREATED["body"])
    assert made["httpHeaders"]["Location"].endswith(f"/sobjects/Account/{made['body']['id']}")
    assert (made["httpStatusCode"], made["referenceId"]) == (201, "refAccount")
    assert set(failed) == set(examples.COMPOSITE_RESULT_ERROR)
    assert set(failed["body"][0]) == set(examples.COMPOSITE_RESULT_ERROR["body"][0])
    assert (failed["httpStatusCode"], failed["referenceId"]) == (400, "badContact")
    # References between subrequests are not served by the fake: refused, not misread.
    assert with_reference.status_code == 400


def test_documented_subrequest_results_map_like_single_writes() -> None:
    row = {
        "attributes": {"type": "Account", "url": "/services/data/v61.0/sobjects/Account/x"},
        "Id": examples.COMPOSITE_RESULT_CREATED["body"]["id"],
        "SystemModstamp": "2013-05-07T22:07:19.000+0000",
        "IsDeleted": False,
        "Name": "Sample Account",
    }

    def answer(request: httpx.Request) -> httpx.Response:
        subs = json.loads(request.content)["compositeRequest"]
        if subs[0]["method"] == "GET":
            results = [
                {
                    "body": row,
                    "httpHeaders": {},
                    "httpStatusCode": 200,
                    "referenceId": s["referenceId"],
                }
                for s in subs
            ]
        else:
            results = [
                {**examples.COMPOSITE_RESULT_CREATED, "referenceId": subs[0]["referenceId"]},
                {**examples.COMPOSITE_RESULT_ERROR, "referenceId": subs[1]["referenceId"]},
            ]
        return httpx.Response(200, json={"compositeResponse": results})

    adapter = salesforce_adapter(
        "https://example.my.salesforce.com",
        auth=StaticBearer("t"),
        transport=httpx.MockTransport(answer),
    )
    with adapter:
        made, failed = adapter.write_batch(
            "company",
            [WriteRequest(None, {"Name": "Sample Account"}), WriteRequest(None, {"Name": "b"})],
        )
    assert isinstance(made, WriteResult)
    assert (made.external_id, made.created) == ("001R00000064wdtIAA", True)
    assert isinstance(failed, PermanentError)
    assert "INVALID_EMAIL_ADDRESS" in str(failed)
