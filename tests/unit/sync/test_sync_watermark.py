from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integration_core.sync.watermark import (
    Watermark,
    advance,
    decode_cursor,
    encode_cursor,
    rewind,
)

pytestmark = pytest.mark.unit

T0 = datetime(2024, 5, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Rec:
    modified_at: datetime
    external_id: str


def test_cursor_round_trip() -> None:
    wm = Watermark(T0 + timedelta(microseconds=7), "a|b c")
    assert decode_cursor(encode_cursor(wm)) == wm
    assert encode_cursor(wm) == "wm1|2024-05-01T00:00:00.000007Z|a|b c"


@pytest.mark.parametrize(
    "bad", ["", "2024-05-01T00:00:00Z|x", "wm1|nope|x", "wm1|2024-05-01T00:00:00Z"]
)
def test_bad_cursor(bad: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor(bad)


def test_advance_never_moves_back() -> None:
    wm = Watermark(T0, "m")
    assert advance(wm, []) == wm
    assert advance(None, []) is None
    assert advance(wm, [Rec(T0, "a"), Rec(T0 - timedelta(1), "z")]) == wm
    assert advance(wm, [Rec(T0, "n"), Rec(T0, "b")]) == Watermark(T0, "n")


def test_rewind() -> None:
    wm = Watermark(T0, "m")
    start = rewind(wm, timedelta(seconds=30))
    assert start == Watermark(T0 - timedelta(seconds=30), "")
    assert start is not None
    assert start.is_before(T0 - timedelta(seconds=30), "a")
    assert rewind(None, timedelta(seconds=1)) is None
    with pytest.raises(ValueError, match="negative"):
        rewind(wm, timedelta(seconds=-1))


def read_page(records: list[Rec], after: Watermark | None, size: int) -> list[Rec]:
    """What an adapter does: records strictly after the position, in key order."""
    keyed = sorted(records, key=lambda r: (r.modified_at, r.external_id))
    return [r for r in keyed if after is None or after.is_before(r.modified_at, r.external_id)][
        :size
    ]


@settings(max_examples=150, deadline=None)
@given(
    first=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 30)), max_size=40),
    late=st.lists(st.tuples(st.integers(0, 5), st.integers(31, 60)), max_size=10),
    size=st.integers(1, 6),
    overlap=st.integers(0, 6),
    crash_after=st.integers(0, 10),
)
def test_paging_never_skips_records_sharing_a_timestamp(
    first: list[tuple[int, int]],
    late: list[tuple[int, int]],
    size: int,
    overlap: int,
    crash_after: int,
) -> None:
    def rec(t: int, i: int) -> Rec:
        return Rec(T0 + timedelta(seconds=t), f"id{i:03d}")

    records = list({rec(t, i) for t, i in first})
    seen: set[Rec] = set()
    committed: Watermark | None = None

    def cycle(pages_before_crash: int | None) -> None:
        nonlocal committed
        position = rewind(committed, timedelta(seconds=overlap))
        pages = 0
        while page := read_page(records, position, size):
            if pages_before_crash is not None and pages == pages_before_crash:
                return  # crashed before applying this page: watermark not moved
            seen.update(page)  # "apply"
            committed = advance(committed, page)
            position = advance(position, page)
            pages += 1

    cycle(crash_after)
    cycle(None)
    assert seen == set(records)
    # Records committed late with timestamps inside the overlap window are still caught.
    newest = max((r.modified_at for r in records), default=T0)
    for t, i in late:
        r = rec(0, i)
        r = Rec(newest - timedelta(seconds=t % (overlap + 1)), r.external_id)
        records.append(r)
    cycle(None)
    assert seen == set(records)
