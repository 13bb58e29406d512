"""A task's runs are listed newest first, page after page, with nothing skipped or repeated,
even when runs share a start time (the store's limit may cut such a group anywhere)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration_core.admin.pages import newest_first
from integration_core.errors import InvalidIdError
from integration_core.models import SyncResult
from integration_core.storage import Filter
from integration_core.storage.sqlite import SqliteDocumentStore

pytestmark = pytest.mark.unit

EPOCH = datetime(2026, 12, 1, tzinfo=UTC)


def _result(run_id: str, minute: int, task_id: str = "crm-contact") -> SyncResult:
    started = EPOCH + timedelta(minutes=minute)
    return SyncResult(
        id=run_id,
        tenant_id="t1",
        task_id=task_id,
        connection_id="crm",
        direction="inbound",
        correlation_id=run_id,
        started_at=started,
        finished_at=started,
        duration_ms=0.0,
    )


def _all_pages(store: SqliteDocumentStore, limit: int) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = newest_first(
            store,
            SyncResult,
            "t1",
            time_field="startedAt",
            filters=[Filter("taskId", "=", "crm-contact")],
            after=after,
            limit=limit,
        )
        assert len(page.items) <= limit
        seen += [r.id for r in page.items]
        if page.next is None:
            return seen
        assert page.items, "a token after an empty page"
        after = page.next


@given(
    minutes=st.lists(st.integers(min_value=0, max_value=4), max_size=25),
    limit=st.integers(min_value=1, max_value=6),
)
def test_pages_list_every_run_once_newest_first(minutes: list[int], limit: int) -> None:
    store = SqliteDocumentStore(":memory:")
    runs = [_result(f"run-{i:02d}", minute) for i, minute in enumerate(minutes)]
    for run in [*runs, _result("other-task", 2, task_id="other")]:
        store.upsert(SyncResult.container, run.to_document())
    expected = [r.id for r in sorted(runs, key=lambda r: (r.started_at, r.id), reverse=True)]
    assert _all_pages(store, limit) == expected


@pytest.mark.parametrize("token", ["no-separator", "|id-only", "2026-12-01T00:00:00Z|"])
def test_a_token_that_is_not_one_of_ours_is_refused(token: str) -> None:
    store = SqliteDocumentStore(":memory:")
    with pytest.raises(InvalidIdError, match="next"):
        newest_first(store, SyncResult, "t1", time_field="startedAt", after=token)
