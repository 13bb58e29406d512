"""The adapter contract: every adapter, over loopback to its provider's fake, passes this.

One test, every adapter (the store and queue suites work the same way). A new provider
adds a harness to `adapter_harness` in conftest.py and must pass all of it.
"""

from __future__ import annotations

import json

import pytest

from integration_core.errors import (
    AuthError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.models import Change
from integration_core.ports import ChangePage, IntegrationAdapter, WriteRequest, WriteResult
from tests.harness.adapters import AdapterHarness, StaticBearer


def _read_all(
    adapter: IntegrationAdapter, entity_type: str, cursor: str | None, *, page_size: int = 3
) -> tuple[list[Change], str, int]:
    """Every page of one listing: its changes, the resting cursor, the number of pages."""
    changes: list[Change] = []
    pages = 0
    while True:
        page = adapter.read_changes(entity_type, cursor, page_size=page_size)
        changes.extend(page.changes)
        cursor, pages = page.cursor, pages + 1
        if not page.has_more:
            return changes, cursor, pages


def _first_page(harness: AdapterHarness, adapter: IntegrationAdapter, size: int) -> ChangePage:
    return adapter.read_changes(harness.entity_type, None, page_size=size)


def test_pages_in_order_with_equal_timestamps_across_page_boundaries(
    adapter_harness: AdapterHarness,
) -> None:
    h = adapter_harness
    h.same_time(True)
    same = {h.create(h.sample(i)) for i in range(7)}
    h.same_time(False)
    later = {h.create(h.sample(i)) for i in range(7, 11)}
    with h.adapter() as adapter:
        changes, cursor, pages = _read_all(adapter, h.entity_type, None, page_size=3)
        again, _, _ = _read_all(adapter, h.entity_type, cursor)
    ids = [c.external_id for c in changes]
    assert sorted(ids) == sorted(same | later)  # each exactly once
    assert pages >= 4
    assert [c.modified_at for c in changes] == sorted(c.modified_at for c in changes)
    # Nothing changed since: the next listing brings nothing new (an overlap window may
    # re-read records, unchanged).
    assert {(c.external_id, c.version) for c in again} <= {
        (c.external_id, c.version) for c in changes
    }


def test_edits_and_deletes_arrive_incrementally_deletes_as_tombstones(
    adapter_harness: AdapterHarness,
) -> None:
    h = adapter_harness
    first, second, _ = (h.create(h.sample(i)) for i in range(3))
    with h.adapter() as adapter:
        _, cursor, _ = _read_all(adapter, h.entity_type, None)
        h.edit(first, h.change("Paris"))
        h.remove(second)
        later, _, _ = _read_all(adapter, h.entity_type, cursor, page_size=10)
        removed = adapter.read_record(h.entity_type, second)
    edited = [c for c in later if c.external_id == first]
    assert [h.probe(c.values) for c in edited] == ["Paris"]
    if h.deletes_listed == "never":
        # The listing leaves deletes out (they arrive by webhook): never listed as live,
        # and a read by id (the webhook's) is a tombstone or nothing.
        assert second not in {c.external_id for c in later if not c.deleted}
        assert removed is None or removed.deleted
    else:
        assert [c.external_id for c in later if c.deleted] == [second]


def test_a_follow_up_resumes_mid_listing_from_the_opaque_cursor(
    adapter_harness: AdapterHarness,
) -> None:
    h = adapter_harness
    made = {h.create(h.sample(i)) for i in range(6)}
    with h.adapter() as adapter:
        page = _first_page(h, adapter, 2)
    assert page.has_more
    with h.adapter() as fresh:  # another worker, another process: only the cursor travels
        rest, _, _ = _read_all(fresh, h.entity_type, page.cursor, page_size=2)
    ids = [c.external_id for c in [*page.changes, *rest]]
    assert sorted(ids) == sorted(made)


def _writable(h: AdapterHarness) -> None:
    if not h.writable:
        pytest.skip(f"{h.name} {h.entity_type}s are read-only")


def test_a_create_whose_answer_was_lost_is_not_made_twice(adapter_harness: AdapterHarness) -> None:
    h = adapter_harness
    _writable(h)
    with h.adapter() as adapter:
        h.faults.lose_next_answer(h.is_create)
        with pytest.raises(RetryableError):
            adapter.write(h.entity_type, None, h.sample(1), idempotency_key="create-1")
        again = adapter.write(h.entity_type, None, h.sample(1), idempotency_key="create-1")
    assert again.created is False  # the first call made it
    assert h.ids() == {again.external_id}


def test_a_stale_version_is_a_precondition_failure(adapter_harness: AdapterHarness) -> None:
    h = adapter_harness
    _writable(h)
    with h.adapter() as adapter:
        made = adapter.write(h.entity_type, None, h.sample(1), idempotency_key="k")
        moved = adapter.write(
            h.entity_type, made.external_id, h.change("Oslo"), expected_version=made.version
        )
        assert moved.version != made.version
        with pytest.raises(PreconditionFailedError):
            adapter.write(
                h.entity_type, made.external_id, h.change("Rome"), expected_version=made.version
            )
        with pytest.raises(PreconditionFailedError):
            adapter.delete(h.entity_type, made.external_id, expected_version=made.version)
        current = adapter.read_record(h.entity_type, made.external_id)
    assert current is not None
    assert h.probe(current.values) == "Oslo"
    assert made.external_id in h.ids()


def test_a_batch_write_gives_each_request_its_own_outcome(adapter_harness: AdapterHarness) -> None:
    h = adapter_harness
    _writable(h)
    made = h.create(h.sample(1))
    with h.adapter() as adapter:
        outcomes = adapter.write_batch(
            h.entity_type,
            [
                WriteRequest(None, h.sample(2), idempotency_key="batch-1"),
                WriteRequest(made, h.change("Lima")),
                WriteRequest("404404", h.change("Quito")),  # no such record
            ],
        )
        current = adapter.read_record(h.entity_type, made)
    created, updated, missing = outcomes
    assert isinstance(created, WriteResult)
    assert created.created
    assert isinstance(updated, WriteResult)
    assert updated.external_id == made
    assert isinstance(missing, NotFoundError)
    assert current is not None
    assert h.probe(current.values) == "Lima"
    assert h.ids() == {made, created.external_id}


def test_read_record_by_id(adapter_harness: AdapterHarness) -> None:
    h = adapter_harness
    made = h.create(h.sample(4))
    with h.adapter() as adapter:
        found = adapter.read_record(h.entity_type, made)
        missing = adapter.read_record(h.entity_type, "no-such-record")
    assert found is not None
    assert found.external_id == made
    assert missing is None


def test_every_change_is_well_formed(adapter_harness: AdapterHarness) -> None:
    """A Change does not check itself (adapters make one per record listed): every one an
    adapter lists or reads is what `Change.parse` would accept, unchanged."""
    h = adapter_harness
    made = [h.create(h.sample(i)) for i in range(3)]
    with h.adapter() as adapter:
        changes, _, _ = _read_all(adapter, h.entity_type, None)
        read = adapter.read_record(h.entity_type, made[0])
    assert read is not None
    for change in [*changes, read]:
        assert type(change.external_id) is str
        assert change.external_id
        assert type(change.version) is str
        assert change.version
        assert change.modified_at.utcoffset() is not None
        assert type(change.values) is dict
        assert type(change.deleted) is bool
        assert Change.parse(json.loads(json.dumps(change.to_json()))) == change


def test_429_is_retryable_with_its_retry_after(adapter_harness: AdapterHarness) -> None:
    h = adapter_harness
    h.create(h.sample(1))
    with h.adapter() as adapter:
        h.faults.answer(429, headers={"Retry-After": "7"}, content=b'{"error": "slow down"}')
        with pytest.raises(RetryableError) as caught:
            _first_page(h, adapter, 10)
        assert caught.value.retry_after == 7
        assert len(_first_page(h, adapter, 10).changes) == 1


def test_a_refused_token_refreshes_once_then_is_an_auth_failure(
    adapter_harness: AdapterHarness,
) -> None:
    """A 401, or whatever else the provider refuses a token with (Slack: a 200 with
    `invalid_auth`)."""
    h = adapter_harness
    h.create(h.sample(1))  # a workspace lists one member at least (Slack's spec says so)
    bad = StaticBearer(h.bad_token())
    with h.adapter(auth=bad) as adapter, pytest.raises(AuthError):
        _first_page(h, adapter, 10)
    assert bad.refreshes == 1
    assert len(h.faults.requests) == 2  # the call and one retry with the refreshed token
    recovering = StaticBearer(h.bad_token(), refreshed=h.good_token())
    with h.adapter(auth=recovering) as adapter:
        _first_page(h, adapter, 10)
    assert recovering.refreshes == 1


def test_5xx_then_success_resumes_where_it_failed(adapter_harness: AdapterHarness) -> None:
    h = adapter_harness
    made = {h.create(h.sample(i)) for i in range(8)}
    with h.adapter() as adapter:
        page = _first_page(h, adapter, 3)
        h.faults.answer(503, content=b"<html><body>Service Unavailable</body></html>")
        with pytest.raises(RetryableError):
            adapter.read_changes(h.entity_type, page.cursor, page_size=3)
        rest, _, _ = _read_all(adapter, h.entity_type, page.cursor)
    assert sorted(c.external_id for c in [*page.changes, *rest]) == sorted(made)


def test_an_expired_cursor_rescans_everything_without_false_deletes(
    adapter_harness: AdapterHarness,
) -> None:
    h = adapter_harness
    if not h.expires_changes:
        pytest.skip(f"{h.name} keeps no change log: its cursors never expire")
    kept = {h.create(h.sample(i)) for i in range(5)}
    with h.adapter() as adapter:
        _, cursor, _ = _read_all(adapter, h.entity_type, None)
        gone = kept.pop()
        h.remove(gone)
        kept.add(h.create(h.sample(9)))
        h.forget_changes()
        # The rescan pages, fails part way and resumes: nothing absent is a delete.
        first = adapter.read_changes(h.entity_type, cursor, page_size=2)
        h.faults.answer(502, content=b"<html>Bad Gateway</html>")
        with pytest.raises(RetryableError):
            adapter.read_changes(h.entity_type, first.cursor, page_size=2)
        rest, _, _ = _read_all(adapter, h.entity_type, first.cursor, page_size=2)
    changes = [*first.changes, *rest]
    assert {c.external_id for c in changes if not c.deleted} == kept
    # A full listing shows a delete only where the provider lists deleted records.
    expected = [gone] if h.deletes_listed == "always" else []
    assert [c.external_id for c in changes if c.deleted] == expected


def test_a_pagination_loop_is_a_permanent_error(adapter_harness: AdapterHarness) -> None:
    h = adapter_harness
    for i in range(6):
        h.create(h.sample(i))
    with h.adapter() as adapter:
        page = _first_page(h, adapter, 2)
        h.faults.repeat_last_answer()  # the provider hands out the same page token again
        with pytest.raises(PermanentError, match="pagination loop"):
            adapter.read_changes(h.entity_type, page.cursor, page_size=2)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b'{"unexpected": []}', "malformed answer", id="wrong-shape"),
        pytest.param(b"<html><body>Sign in</body></html>", "not JSON", id="html-page"),
        pytest.param(b'{"results": [{"id": "a"', "not JSON", id="truncated"),
    ],
)
def test_a_malformed_answer_is_a_permanent_error_naming_provider_object_and_path(
    adapter_harness: AdapterHarness, content: bytes, expected: str
) -> None:
    h = adapter_harness
    with h.adapter() as adapter:
        h.faults.answer(200, content=content, headers={"Content-Type": "text/html"})
        with pytest.raises(PermanentError) as caught:
            _first_page(h, adapter, 10)
    message = str(caught.value)
    assert h.name in message
    assert h.entity_type in message
    assert expected in message
    if expected == "malformed answer":
        assert h.records_path in message


def test_the_cursor_is_a_string_the_pipeline_can_store(adapter_harness: AdapterHarness) -> None:
    h = adapter_harness
    h.create(h.sample(1))
    with h.adapter() as adapter:
        page = _first_page(h, adapter, 10)
    assert isinstance(page.cursor, str)
    json.dumps({"cursor": page.cursor})
