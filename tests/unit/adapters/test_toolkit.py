"""The toolkit's parts on providers shaped unlike the sandbox, through httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from adapters.toolkit import (
    Concurrency,
    CursorState,
    DeclarativeAdapter,
    ErrorMap,
    ErrorRule,
    FullScan,
    JsonCursorPaginator,
    LinkHeaderPaginator,
    ModifiedSince,
    NextUrlPaginator,
    ObjectSpec,
    OffsetPaginator,
    Outcome,
    PageTokenPaginator,
    Paginator,
    ProviderSpec,
    RecordSpec,
    SyncToken,
    WriteSpec,
    select,
)
from adapters.toolkit.adapter import MalformedAnswerError
from adapters.toolkit.cursors import CursorStrategy, epoch_ms
from adapters.toolkit.selectors import PathError
from adapters.toolkit.spec import RecordProblem
from integration_core.connectors import Connectors
from integration_core.credentials.auth import HttpOptions
from integration_core.credentials.types import CredentialType
from integration_core.errors import (
    ConfigurationError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.models import Change, Connection
from integration_core.ports import adapter_factory, register_adapter, validate_connection
from integration_core.sync.watermark import Watermark, encode_cursor

pytestmark = pytest.mark.unit

Handler = Callable[[httpx.Request], httpx.Response]
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _record(i: int, *, modified: datetime | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"r{i}",
        "updated": (modified or T0 + timedelta(seconds=i)).isoformat(),
        "rev": i,
        "fields": {"email": f"p{i}@example.com"},
        **extra,
    }


def _adapter(
    handler: Handler,
    *,
    paginator: Paginator | None = None,
    cursor: CursorStrategy | None = None,
    write: WriteSpec | None = None,
    errors: ErrorMap | None = None,
    records_path: str = "items",
    record: RecordSpec | None = None,
    auth: httpx.Auth | None = None,
) -> DeclarativeAdapter:
    spec = ProviderSpec(
        name="widgets",
        objects={
            "contact": ObjectSpec(
                path="/people",
                records_path=records_path,
                paginator=paginator or JsonCursorPaginator("next", "cursor"),
                cursor=cursor or FullScan(),
                record=record or RecordSpec(modified_at="updated", version="rev", values="fields"),
                write=write or WriteSpec(),
            )
        },
        credential_types=frozenset({CredentialType.API_KEY}),
        health_path="/me",
        errors=errors or ErrorMap(),
    )
    cls = type("WidgetsAdapter", (DeclarativeAdapter,), {"spec": spec})
    connection = Connection(id="w1", tenant_id="t1", system="widgets", config={})
    client = httpx.Client(
        base_url="https://api.widgets.test", transport=httpx.MockTransport(handler), auth=auth
    )
    adapter: DeclarativeAdapter = cls(connection, client=client)
    return adapter


def _pages(answers: list[httpx.Response]) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[len(seen) - 1]

    return handler, seen


def _read_all(adapter: DeclarativeAdapter, cursor: str | None = None) -> tuple[list[str], str]:
    ids: list[str] = []
    while True:
        page = adapter.read_changes("contact", cursor, page_size=2)
        ids += [c.external_id for c in page.changes]
        cursor = page.cursor
        if not page.has_more:
            return ids, cursor


# -- selectors -------------------------------------------------------------------------


def test_select_follows_dotted_paths_and_list_indexes() -> None:
    body = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert select(body, "a.b.1.c") == 2
    assert select(body, "a.b.-1.c") == 2
    assert select(body, "") is body
    assert select(body, "a.x", default=None) is None
    with pytest.raises(PathError, match="'a.b.5.c'"):
        select(body, "a.b.5.c")


def test_select_reads_keys_that_hold_dots_and_never_indexes_what_is_not_a_list() -> None:
    assert select({"a.b": 1, "a": {"b": 2}}, "a.b") == 1
    assert select({"0": "zero"}, "0") == "zero"
    assert select(["x", "y"], "-1") == "y"
    assert select(["x"], "id", default=None) is None
    assert select("text", "0", default=None) is None
    for path in ("id", "a.--1"):
        with pytest.raises(PathError, match=repr(path)):
            select({"a": ["x"]}, path)


# -- paginators --------------------------------------------------------------------------


def test_json_cursor_pages_until_the_token_is_gone() -> None:
    handler, seen = _pages(
        [
            httpx.Response(200, json={"items": [_record(1), _record(2)], "next": "abc"}),
            httpx.Response(200, json={"items": [_record(3)], "next": None}),
        ]
    )
    ids, _ = _read_all(_adapter(handler))
    assert ids == ["r1", "r2", "r3"]
    assert seen[1].url.params["cursor"] == "abc"


def test_page_token_in_a_post_body() -> None:
    handler, seen = _pages(
        [
            httpx.Response(200, json={"items": [_record(1)], "nextPageToken": "t2"}),
            httpx.Response(200, json={"items": [_record(2)]}),
        ]
    )
    ids, _ = _read_all(_adapter(handler, paginator=PageTokenPaginator()))
    assert ids == ["r1", "r2"]
    assert seen[1].url.params["pageToken"] == "t2"


def test_next_url_replaces_the_query() -> None:
    handler, seen = _pages(
        [
            httpx.Response(
                200, json={"items": [_record(1)], "links": {"next": "/people?page=2&limit=2"}}
            ),
            httpx.Response(200, json={"items": [_record(2)], "links": {}}),
        ]
    )
    ids, _ = _read_all(_adapter(handler, paginator=NextUrlPaginator("links.next")))
    assert ids == ["r1", "r2"]
    assert str(seen[1].url) == "https://api.widgets.test/people?page=2&limit=2"


def test_link_header_rel_next() -> None:
    next_link = '<https://api.widgets.test/people?page=2>; rel="next", <x>; rel="last"'
    handler, seen = _pages(
        [
            httpx.Response(200, json={"items": [_record(1)]}, headers={"Link": next_link}),
            httpx.Response(200, json={"items": [_record(2)]}),
        ]
    )
    ids, _ = _read_all(_adapter(handler, paginator=LinkHeaderPaginator()))
    assert ids == ["r1", "r2"]
    assert seen[1].url.params["page"] == "2"


def test_offset_stops_at_a_short_page_or_the_total() -> None:
    handler, seen = _pages(
        [
            httpx.Response(200, json={"items": [_record(1), _record(2)], "total": 4}),
            httpx.Response(200, json={"items": [_record(3), _record(4)], "total": 4}),
        ]
    )
    ids, _ = _read_all(_adapter(handler, paginator=OffsetPaginator(total_path="total")))
    assert ids == ["r1", "r2", "r3", "r4"]
    assert [r.url.params.get("offset") for r in seen] == [None, "2"]


def test_a_token_seen_earlier_in_the_listing_is_a_loop() -> None:
    handler, _ = _pages(
        [
            httpx.Response(200, json={"items": [_record(1)], "next": "a"}),
            httpx.Response(200, json={"items": [_record(2)], "next": "b"}),
            httpx.Response(200, json={"items": [_record(3)], "next": "a"}),
        ]
    )
    with pytest.raises(PermanentError, match="widgets contact list: pagination loop"):
        _read_all(_adapter(handler))


# -- records -----------------------------------------------------------------------------


def test_a_bad_record_is_rejected_naming_provider_object_record_and_field() -> None:
    rows = [_record(1), _record(2, updated="soon"), _record(3, fields=["x"]), "junk", {"no": 1}]
    adapter = _adapter(lambda r: httpx.Response(200, json={"items": rows}))
    page = adapter.read_changes("contact", None, page_size=10)
    assert [c.external_id for c in page.changes] == ["r1"]
    reasons = [r.reason for r in page.rejected]
    assert [r.external_id for r in page.rejected] == ["r2", "r3", None, None]
    assert reasons[0].startswith("widgets contact r2: field 'updated'")
    assert reasons[1] == "widgets contact r3: field 'fields' is a list"
    assert "record is a str" in reasons[2]
    assert "without an id" in reasons[3]


def test_epoch_milliseconds_and_a_missing_version() -> None:
    row = {"id": 7, "updated": epoch_ms(T0), "fields": {}}
    record = RecordSpec(modified_at="updated", version=None, values="fields")
    adapter = _adapter(lambda r: httpx.Response(200, json={"items": [row]}), record=record)
    change = adapter.parse_record("contact", row)
    assert change.modified_at == T0
    assert (change.external_id, change.version) == ("7", T0.isoformat())


# -- errors ------------------------------------------------------------------------------


def test_a_200_with_an_error_body_and_a_403_that_is_a_rate_limit() -> None:
    errors = ErrorMap(
        (
            ErrorRule(Outcome.PERMANENT, status=200, when=lambda b: b.get("ok") is False),
            ErrorRule(
                Outcome.RETRYABLE,
                status=403,
                when=lambda b: "rate" in str(b.get("error")),
                retry_after=30,
            ),
        )
    )
    handler, _ = _pages(
        [
            httpx.Response(200, json={"ok": False, "error": "invalid_auth"}),
            httpx.Response(403, json={"error": "rate limited"}),
            httpx.Response(403, json={"error": "forbidden"}),
        ]
    )
    adapter = _adapter(handler, errors=errors)
    with pytest.raises(PermanentError, match="invalid_auth"):
        adapter.health()
    with pytest.raises(RetryableError) as caught:
        adapter.health()
    assert caught.value.retry_after == 30
    with pytest.raises(Exception, match="HTTP 403") as denied:
        adapter.health()
    assert type(denied.value).__name__ == "AuthError"


def test_a_403_whose_headers_say_the_quota_is_spent_waits_for_its_reset() -> None:
    reset = int(datetime.now(UTC).timestamp()) + 60
    spent = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0"}
    errors = ErrorMap(
        (
            ErrorRule(
                Outcome.RETRYABLE,
                status=403,
                when_headers=lambda h: h.get("X-RateLimit-Remaining") == "0",
            ),
        )
    )
    handler, _ = _pages(
        [
            httpx.Response(403, headers={**spent, "X-RateLimit-Reset": str(reset)}),
            httpx.Response(403, json={"message": "Resource not accessible"}),
        ]
    )
    adapter = _adapter(handler, errors=errors)
    with pytest.raises(RetryableError) as caught:
        adapter.health()
    assert caught.value.retry_after is not None
    assert 50 < caught.value.retry_after <= 60
    with pytest.raises(Exception, match="HTTP 403") as denied:
        adapter.health()
    assert type(denied.value).__name__ == "AuthError"


def test_html_error_page_on_a_5xx_is_retryable_and_a_transport_failure_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/me":
            return httpx.Response(502, content=b"<html>Bad Gateway</html>")
        raise httpx.ConnectError("refused", request=request)

    adapter = _adapter(handler)
    with pytest.raises(RetryableError, match="HTTP 502"):
        adapter.health()
    with pytest.raises(RetryableError, match="ConnectError"):
        adapter.read_changes("contact", None, page_size=5)


# -- cursors -----------------------------------------------------------------------------


def test_cursor_state_round_trips_and_reads_old_watermarks() -> None:
    state = CursorState(
        watermark=Watermark(T0, "r1"), since=Watermark(T0, ""), page={"after": "x"}, full=True
    )
    assert CursorState.decode(state.encode()) == state
    legacy = CursorState.decode(encode_cursor(Watermark(T0, "r9")))
    assert legacy == CursorState(watermark=Watermark(T0, "r9"))
    assert CursorState.decode("garbage") == CursorState()  # a delete-safe rescan


def test_modified_since_sends_the_window_and_rewinds_by_the_overlap() -> None:
    handler, seen = _pages(
        [
            httpx.Response(200, json={"items": [_record(1), _record(2)]}),
            httpx.Response(200, json={"items": []}),
        ]
    )
    strategy = ModifiedSince("since", overlap=timedelta(minutes=2), time_format=epoch_ms)
    adapter = _adapter(handler, cursor=strategy)
    _, cursor = _read_all(adapter)
    assert "since" not in seen[0].url.params  # first sync: everything
    _read_all(adapter, cursor)
    expected = epoch_ms(T0 + timedelta(seconds=2) - timedelta(minutes=2))
    assert seen[1].url.params["since"] == str(expected)


def test_a_watermark_older_than_the_retention_starts_a_full_scan() -> None:
    handler, seen = _pages([httpx.Response(200, json={"items": [_record(1)]})])
    strategy = ModifiedSince("since", retention=timedelta(days=15))
    old = CursorState(watermark=Watermark(datetime(2020, 1, 1, tzinfo=UTC), "r0")).encode()
    page = _adapter(handler, cursor=strategy).read_changes("contact", old, page_size=5)
    assert "since" not in seen[0].url.params
    assert CursorState.decode(page.cursor).watermark == Watermark(T0 + timedelta(seconds=1), "r1")


def test_an_unordered_listing_commits_its_start_time_only_at_the_end() -> None:
    handler, _ = _pages(
        [
            httpx.Response(200, json={"items": [_record(5)], "next": "p2"}),
            httpx.Response(200, json={"items": [_record(1)]}),
        ]
    )
    strategy = ModifiedSince("since", ordered=False)
    adapter = _adapter(handler, cursor=strategy)
    first = adapter.read_changes("contact", None, page_size=1)
    assert CursorState.decode(first.cursor).watermark is None  # nothing committed mid-listing
    last = adapter.read_changes("contact", first.cursor, page_size=1)
    committed = CursorState.decode(last.cursor).watermark
    assert committed is not None
    assert committed.modified_at > T0 + timedelta(seconds=5)  # the listing's start (now)


def test_an_expired_sync_token_rescans_and_keeps_the_new_token() -> None:
    handler, seen = _pages(
        [
            httpx.Response(200, json={"items": [_record(1)], "nextSyncToken": "s1"}),
            httpx.Response(410, json={"error": "sync token expired"}),
            httpx.Response(200, json={"items": [_record(1), _record(2)], "nextSyncToken": "s2"}),
        ]
    )
    errors = ErrorMap((ErrorRule(Outcome.CURSOR_EXPIRED, status=410),))
    adapter = _adapter(handler, cursor=SyncToken("syncToken", "nextSyncToken"), errors=errors)
    _, cursor = _read_all(adapter)
    ids, cursor = _read_all(adapter, cursor)
    assert ids == ["r1", "r2"]
    assert seen[1].url.params["syncToken"] == "s1"
    assert "syncToken" not in seen[2].url.params
    assert CursorState.decode(cursor).sync_token == "s2"


def test_an_expired_page_token_mid_listing_restarts_the_scan_and_a_rescan_cannot_expire() -> None:
    handler, seen = _pages(
        [
            httpx.Response(200, json={"items": [_record(1)], "next": "p2"}),
            httpx.Response(410, json={"error": "page token expired"}),
            httpx.Response(200, json={"items": [_record(1), _record(2)]}),
            httpx.Response(410, json={"error": "expired"}),
        ]
    )
    errors = ErrorMap((ErrorRule(Outcome.CURSOR_EXPIRED, status=410),))
    adapter = _adapter(handler, errors=errors)
    first = adapter.read_changes("contact", None, page_size=1)
    again = adapter.read_changes("contact", first.cursor, page_size=2)
    assert [c.external_id for c in again.changes] == ["r1", "r2"]
    assert "cursor" not in seen[2].url.params  # from the start
    with pytest.raises(PermanentError, match="HTTP 410"):
        adapter.read_changes("contact", None, page_size=2)


# -- writes ------------------------------------------------------------------------------


def test_version_compare_refuses_a_stale_write_before_sending_it() -> None:
    handler, seen = _pages(
        [
            httpx.Response(200, json=_record(1, rev=5)),
            httpx.Response(200, json=_record(1, rev=5)),
            httpx.Response(200, json=_record(1, rev=6)),
            httpx.Response(404, json={"error": "gone"}),
        ]
    )
    adapter = _adapter(handler, write=WriteSpec(concurrency=Concurrency.VERSION_COMPARE))
    with pytest.raises(PreconditionFailedError, match="version is 5, not 4"):
        adapter.write("contact", "r1", {"email": "x@example.com"}, expected_version="4")
    written = adapter.write("contact", "r1", {"email": "x@example.com"}, expected_version="5")
    assert written.version == "6"
    assert [r.method for r in seen[:3]] == ["GET", "GET", "PATCH"]
    assert "If-Match" not in seen[2].headers
    with pytest.raises(NotFoundError):
        adapter.delete("contact", "r1", expected_version="6")


def test_an_idempotent_create_by_upsert_field() -> None:
    handler, seen = _pages([httpx.Response(200, json=_record(3))])
    spec = WriteSpec(upsert_field="Lockstep_Id__c", body_key=None, created_status=201)
    written = _adapter(handler, write=spec).write(
        "contact", None, {"email": "a@example.com"}, idempotency_key="k/1"
    )
    assert (seen[0].method, seen[0].url.raw_path) == ("PATCH", b"/people/Lockstep_Id__c/k%2F1")
    assert json.loads(seen[0].content) == {"email": "a@example.com", "Lockstep_Id__c": "k/1"}
    assert (written.external_id, written.created) == ("r3", False)


# -- registry and configuration ----------------------------------------------------------


def test_the_registry_is_lazy_and_open_to_third_parties() -> None:
    assert adapter_factory("sandbox").__name__ == "SandboxAdapter"
    with pytest.raises(ConfigurationError, match="no adapter for system 'nope'"):
        adapter_factory("nope")
    register_adapter("widgets-test", "tests.unit.adapters.test_toolkit:_missing")
    with pytest.raises(ConfigurationError, match="cannot load"):
        adapter_factory("widgets-test")
    with pytest.raises(ConfigurationError, match="already registered"):
        register_adapter("sandbox", "adapters.sandbox:SandboxAdapter")


def test_a_registered_third_party_adapter_serves_its_connections() -> None:
    class NoAuth:
        def http_options(self, tenant_id: str, connection_id: str) -> HttpOptions:
            return HttpOptions(auth=httpx.Auth())

    widgets = type(_adapter(lambda r: httpx.Response(200)))
    widgets.spec = replace(widgets.spec, base_url="https://api.widgets.test")
    register_adapter("widgets-third-party", widgets)
    connection = Connection(id="w2", tenant_id="t1", system="widgets-third-party", config={})
    with Connectors(NoAuth()).adapter_for(connection) as adapter:
        assert isinstance(adapter, widgets)
        assert str(adapter.client.base_url) == "https://api.widgets.test"


def test_a_connection_config_is_validated_naming_the_field() -> None:
    bad = Connection(
        id="c", tenant_id="t", system="sandbox", config={"base_url": "not a url", "extra": 1}
    )
    with pytest.raises(ConfigurationError) as caught:
        validate_connection(bad)
    assert "base_url" in str(caught.value)
    assert "extra" in str(caught.value)
    rates = {"base_url": "https://x.test", "rate_limits": [{"bucket": "b", "max_requests": 0}]}
    with pytest.raises(ConfigurationError, match="max_requests"):
        validate_connection(bad.model_copy(update={"config": rates}))


def test_a_credential_type_the_provider_does_not_take_is_refused() -> None:
    class Typed(httpx.Auth):
        credential_type = CredentialType.BASIC

    with pytest.raises(ConfigurationError, match="does not accept basic"):
        _adapter(lambda r: httpx.Response(200), auth=Typed())


def test_a_change_crosses_a_queue_unchanged_and_is_checked_on_the_way_in() -> None:
    """A Change is not validated when an adapter makes one (the adapter has checked every
    field); what a queued message carries back is: `parse` reads what `to_json` wrote and
    refuses a naive time or a wrong type, naming the field."""
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    change = Change("42", "7", when, {"email": "ada@example.com"}, False)
    dumped = change.to_json()
    assert dumped["modified_at"] == "2026-03-01T09:30:00.000000Z"
    assert Change.parse(json.loads(json.dumps(dumped))) == change
    with pytest.raises(ValidationError, match="modified_at"):
        Change.parse({**dumped, "modified_at": "2026-03-01T09:30:00"})
    with pytest.raises(ValidationError, match="external_id"):
        Change.parse({**dumped, "external_id": 42})
    with pytest.raises(ValidationError, match="deleted"):
        Change.parse({**dumped, "deleted": "maybe"})


def test_a_listed_record_with_a_naive_time_is_rejected_not_crashed() -> None:
    """A spec whose time function answers a naive time: the record is refused with the
    field named (the Change itself no longer checks it)."""
    spec = RecordSpec(time=lambda value: datetime(2026, 3, 1, 9, 30))
    with pytest.raises(RecordProblem, match="modifiedAt.*zone"):
        spec.read({"id": "1", "modifiedAt": "x", "version": "1", "properties": {}})


@pytest.mark.parametrize("when", [10**20, "99999999999999999999", float("inf")])
def test_a_listed_record_with_a_time_past_the_clock_is_rejected_not_crashed(when: Any) -> None:
    """Epoch milliseconds too large for the platform's clock (OverflowError, OSError from
    `fromtimestamp`) are a record problem naming the field, not a crashed listing."""
    with pytest.raises(RecordProblem, match="modifiedAt.*not a time"):
        RecordSpec().read({"id": "1", "modifiedAt": when, "version": "1", "properties": {}})


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ('{"items": [RECORD], "next": null, "big": 123456789012345678901}', "application/json"),
        ('\ufeff{"items": [RECORD], "next": null}', "application/json; charset=utf-8"),
        ('{"items": [RECORD], "next": null}', "application/json; charset=utf-16"),
        ('{"items": [RECORD], "next": null, "odd": NaN}', "application/json"),
    ],
    ids=["integer-past-64-bits", "byte-order-mark", "utf-16", "nan"],
)
def test_every_answer_json_reads_is_read(content: str, content_type: str) -> None:
    """Answers are parsed with orjson, and what only `json` reads (a byte order mark,
    UTF-16, NaN) still is: the listing sees the same record either way."""
    text = content.replace("RECORD", json.dumps(_record(1)))
    encoding = "utf-16" if "utf-16" in content_type else "utf-8"
    answer = httpx.Response(
        200, content=text.encode(encoding), headers={"Content-Type": content_type}
    )
    handler, _ = _pages([answer])
    page = _adapter(handler).read_changes("contact", None, page_size=2)
    assert [c.external_id for c in page.changes] == ["r1"]
    assert page.changes[0].values == _record(1)["fields"]


@pytest.mark.parametrize(
    "content", [b'{"items": [', b"<html><body>Bad gateway</body></html>", b"\xff\xfe\x00"]
)
def test_an_answer_neither_parser_reads_is_malformed(content: bytes) -> None:
    handler, _ = _pages([httpx.Response(200, content=content)])
    with pytest.raises(
        MalformedAnswerError, match="widgets contact list: malformed answer: not JSON"
    ):
        _adapter(handler).read_changes("contact", None, page_size=2)
