"""Cursor strategies: where a listing starts, and what the opaque read cursor remembers.

The pipelines store the cursor string and hand it back; only the strategy reads it. It
holds the committed watermark (how far changes are known), and for a listing in progress
its filter, its next page token, and whether it is a full scan — so a follow-up message
resumes mid-listing, and a cursor moves only when the page before it was applied.

- `ModifiedSince`: list records modified since the watermark minus an overlap window (dlt
  calls it `lag`); with `retention`, a watermark older than the provider keeps changes
  starts a full scan instead. An `ordered` listing (ascending modification time) commits
  the greatest (time, id) seen after each page; an unordered one commits the time the
  listing started, when it ends, since a record edited mid-listing may have been passed.
- `SyncToken`: the provider hands out a token for "changes since"; an expired one
  (CursorExpiredError) starts a full scan that ends with a fresh token.
- `FullScan`: every cycle lists everything; re-reads are no-ops downstream.

Full scans are delete-safe by construction: a delete is only ever a tombstone the
provider lists; a record absent from a listing (partial, resumed or failed) is never taken
as deleted.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from adapters.toolkit.paginators import PageRequest, Token
from adapters.toolkit.selectors import select
from integration_core.clock import from_iso, to_iso
from integration_core.models import Change
from integration_core.sync.watermark import Watermark, advance, decode_cursor

__all__ = [
    "CursorState",
    "CursorStrategy",
    "FullScan",
    "ModifiedSince",
    "SyncToken",
    "epoch_ms",
]

log = logging.getLogger(__name__)

_PREFIX = "c1:"
_LEGACY_PREFIX = "wm1|"


def epoch_ms(value: datetime) -> int:
    """A time as epoch milliseconds (HubSpot's search filters take these)."""
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class CursorState:
    """What the opaque cursor holds. `page` set: a listing is in progress."""

    watermark: Watermark | None = None
    since: Watermark | None = None
    page: Token | None = None
    full: bool = False
    started: datetime | None = None
    sync_token: str | None = None
    etag: str | None = None  # the resting listing's first-page ETag, for If-None-Match

    @property
    def listing(self) -> bool:
        return self.page is not None

    def encode(self) -> str:
        def mark(value: Watermark | None) -> list[str] | None:
            return None if value is None else [to_iso(value.modified_at), value.id]

        data: dict[str, Any] = {
            "wm": mark(self.watermark),
            "since": mark(self.since),
            "page": self.page,
            "full": self.full,
            "started": None if self.started is None else to_iso(self.started),
            "sync": self.sync_token,
            "etag": self.etag,
        }
        return _PREFIX + json.dumps(
            {k: v for k, v in data.items() if v not in (None, False)}, separators=(",", ":")
        )

    @classmethod
    def decode(cls, cursor: str | None) -> CursorState:
        """The state a cursor holds; an unreadable one starts over with a delete-safe scan.

        Reads the `wm1|` watermarks stored before cursors became opaque, too.
        """
        if not cursor:
            return cls()
        try:
            if cursor.startswith(_LEGACY_PREFIX):
                return cls(watermark=decode_cursor(cursor))
            if not cursor.startswith(_PREFIX):
                raise ValueError("unknown cursor format")
            data = json.loads(cursor[len(_PREFIX) :])
            if not isinstance(data, dict):
                raise ValueError("cursor is not an object")
            started = data.get("started")
            return cls(
                watermark=_mark(data.get("wm")),
                since=_mark(data.get("since")),
                page=data.get("page"),
                full=bool(data.get("full", False)),
                started=from_iso(started) if isinstance(started, str) else None,
                sync_token=data.get("sync"),
                etag=data.get("etag"),
            )
        except (ValueError, TypeError) as err:
            log.warning("unreadable read cursor (%s): starting a full scan", err)
            return cls()


def _mark(value: Any) -> Watermark | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        raise ValueError(f"bad watermark {value!r}")
    return Watermark(from_iso(value[0]), value[1])


class CursorStrategy(ABC):
    @abstractmethod
    def start(self, state: CursorState, *, now: datetime) -> CursorState:
        """A new listing from the committed state (no listing in progress)."""

    @abstractmethod
    def request(self, state: CursorState, request: PageRequest) -> PageRequest:
        """`request` with the filter of the listing in progress."""

    @abstractmethod
    def after_page(
        self, state: CursorState, changes: Sequence[Change], next_page: Token | None, body: Any
    ) -> CursorState:
        """The state once this page is applied (`next_page` None: the listing ended)."""

    def expired(self, state: CursorState, *, now: datetime) -> CursorState:
        """The provider no longer has changes since the cursor: list everything instead."""
        log.warning("read cursor expired: falling back to a full scan (no deletes inferred)")
        return CursorState(
            watermark=state.watermark, full=True, started=now, sync_token=state.sync_token
        )


@dataclass(frozen=True)
class ModifiedSince(CursorStrategy):
    """`param` takes the listing's lower time bound; `id_param` (keyset providers) the id
    that breaks ties at that time, sent only without an overlap (strictly-after reads).
    """

    param: str
    id_param: str | None = None
    overlap: timedelta = timedelta(minutes=2)
    retention: timedelta | None = None
    ordered: bool = True
    time_format: Callable[[datetime], Any] = to_iso
    in_body: bool = False

    def start(self, state: CursorState, *, now: datetime) -> CursorState:
        wm = state.watermark
        if wm is None:
            return CursorState(started=now, full=True, sync_token=state.sync_token)
        if self.retention is not None and wm.modified_at < now - self.retention:
            return self.expired(state, now=now)
        since = Watermark(wm.modified_at - self.overlap, wm.id if not self.overlap else "")
        return CursorState(watermark=wm, since=since, started=now)

    def request(self, state: CursorState, request: PageRequest) -> PageRequest:
        if state.since is None:
            return request
        values: dict[str, Any] = {self.param: self.time_format(state.since.modified_at)}
        if self.id_param and state.since.id:
            values[self.id_param] = state.since.id
        if self.in_body:
            return replace(request, json={**(request.json or {}), **values})
        return replace(request, params={**request.params, **values})

    def after_page(
        self, state: CursorState, changes: Sequence[Change], next_page: Token | None, body: Any
    ) -> CursorState:
        wm = state.watermark
        if self.ordered and changes:
            # The page's greatest position only: one comparison per record, not one Watermark.
            wm = advance(wm, [max(changes, key=attrgetter("modified_at", "external_id"))])
        if next_page is not None:
            return replace(state, watermark=wm, page=next_page)
        if not self.ordered and state.started is not None:
            started = Watermark(state.started, "")
            wm = started if wm is None or wm < started else wm
        return CursorState(watermark=wm)


@dataclass(frozen=True)
class SyncToken(CursorStrategy):
    """`param` sends the token; `token_path` finds the next one in the last page's body."""

    param: str
    token_path: str

    def start(self, state: CursorState, *, now: datetime) -> CursorState:
        return CursorState(sync_token=state.sync_token, full=state.sync_token is None, started=now)

    def request(self, state: CursorState, request: PageRequest) -> PageRequest:
        if state.full or state.sync_token is None:
            return request
        return replace(request, params={**request.params, self.param: state.sync_token})

    def after_page(
        self, state: CursorState, changes: Sequence[Change], next_page: Token | None, body: Any
    ) -> CursorState:
        if next_page is not None:
            return replace(state, page=next_page)
        token = select(body, self.token_path, default=None)
        return CursorState(sync_token=str(token) if token else state.sync_token)


@dataclass(frozen=True)
class FullScan(CursorStrategy):
    """No change filter: each cycle lists everything."""

    def start(self, state: CursorState, *, now: datetime) -> CursorState:
        return CursorState(full=True, started=now)

    def request(self, state: CursorState, request: PageRequest) -> PageRequest:
        return request

    def after_page(
        self, state: CursorState, changes: Sequence[Change], next_page: Token | None, body: Any
    ) -> CursorState:
        return replace(state, page=next_page) if next_page is not None else CursorState()
