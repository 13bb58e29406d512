"""The declarative adapter toolkit: a provider is a `ProviderSpec` plus, rarely, a hook.

Modules: `selectors` (dotted paths), `paginators`, `cursors` (strategies and the opaque
cursor), `errors` (per-provider error maps), `spec` (the provider description, write specs,
budgets, connection config), `adapter` (`DeclarativeAdapter`, which runs a spec),
`webhooks` (what webhook parsers share) and `mappings` (one-to-one default mappings).
"""

from __future__ import annotations

from adapters.toolkit.adapter import (
    DeclarativeAdapter,
    MalformedAnswerError,
    PaginationLoopError,
    RecordError,
)
from adapters.toolkit.cursors import CursorState, CursorStrategy, FullScan, ModifiedSince, SyncToken
from adapters.toolkit.errors import CursorExpiredError, ErrorMap, ErrorRule, Outcome
from adapters.toolkit.paginators import (
    Answer,
    JsonCursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageRequest,
    PageTokenPaginator,
    Paginator,
)
from adapters.toolkit.selectors import PathError, select
from adapters.toolkit.spec import (
    Budget,
    Concurrency,
    HttpConnectionConfig,
    ObjectSpec,
    ProviderSpec,
    RecordSpec,
    SubscriptionSpec,
    WriteSpec,
)
from adapters.toolkit.webhooks import webhook_json, webhook_notice

__all__ = [
    "Answer",
    "Budget",
    "Concurrency",
    "CursorExpiredError",
    "CursorState",
    "CursorStrategy",
    "DeclarativeAdapter",
    "ErrorMap",
    "ErrorRule",
    "FullScan",
    "HttpConnectionConfig",
    "JsonCursorPaginator",
    "LinkHeaderPaginator",
    "MalformedAnswerError",
    "ModifiedSince",
    "NextUrlPaginator",
    "ObjectSpec",
    "OffsetPaginator",
    "Outcome",
    "PageRequest",
    "PageTokenPaginator",
    "PaginationLoopError",
    "Paginator",
    "PathError",
    "ProviderSpec",
    "RecordError",
    "RecordSpec",
    "SubscriptionSpec",
    "SyncToken",
    "WriteSpec",
    "select",
    "webhook_json",
    "webhook_notice",
]
