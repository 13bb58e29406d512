"""HubSpot's batch answers, item by item: which input each result and error belongs to.

Batch endpoints (`/crm/v3/objects/{type}/batch/create|update|upsert|read`, at most
`BATCH_LIMIT` inputs: developers.hubspot.com/docs/api/crm/understanding-the-crm#limits)
answer 200/201 when every input succeeded, and 207 multi-status with `errors` (each a
`StandardError`: `category`, `message`, `context`) when some did not. Results come in no
promised order, so each input carries its index as `objectWriteTraceId`, which HubSpot
echoes on the result and names in an error's context (developers.hubspot.com/docs/
api-reference/error-handling, "Multi-status errors"); errors about ids (a missing
object) name them in `context.ids`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from integration_core.errors import ConflictError, LockstepError, NotFoundError, PermanentError

__all__ = ["BATCH_LIMIT", "chunks", "item_errors", "results_by"]

BATCH_LIMIT = 100

T = TypeVar("T")

_CATEGORIES: Mapping[str, type[LockstepError]] = {
    "OBJECT_NOT_FOUND": NotFoundError,
    "CONFLICT": ConflictError,
    "OBJECT_ALREADY_EXISTS": ConflictError,
}


def chunks(items: Sequence[T], size: int = BATCH_LIMIT) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def results_by(body: Any, key: str) -> dict[str, dict[str, Any]]:
    """The answer's results by `key` ("objectWriteTraceId" or "id")."""
    rows = body.get("results") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        return {}
    return {str(row[key]): row for row in rows if isinstance(row, dict) and key in row}


def item_errors(body: Any, *, what: str) -> dict[str, LockstepError]:
    """A 207's errors by the trace id or object id each names."""
    errors = body.get("errors") if isinstance(body, dict) else None
    found: dict[str, LockstepError] = {}
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        context = error.get("context")
        if not isinstance(context, dict):
            context = {}
        named = [*context.get("objectWriteTraceId", []), *context.get("ids", [])]
        category = str(error.get("category", "ERROR"))
        kind = _CATEGORIES.get(category, PermanentError)
        message = str(error.get("message", ""))[:200]
        for name in named:
            found[str(name)] = kind(f"{what}: {category}: {message}")
    return found
