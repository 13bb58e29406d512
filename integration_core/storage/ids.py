"""The one check every DocumentStore applies to ids and partition keys before using them.

Ids and tenant ids arrive from route parameters and queue payloads: untrusted. Cosmos DB
puts a document id into the request URL (`.../docs/{id}`), so an id like `c-of-A/..`
or `..` names another resource (another tenant's feed, the container itself). Cosmos
forbids `/ \\ ? #` in ids; we refuse those, the `.`/`..` path segments, control
characters, empty values and values over 255 characters, on every backend alike, so a
value that SQLite would accept cannot turn into a hole when the same data moves to Cosmos.
See https://learn.microsoft.com/azure/cosmos-db/concepts-limits#per-item-limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from integration_core.errors import InvalidIdError
from integration_core.storage.base import PARTITION_KEY, Filter

__all__ = ["MAX_ID_LENGTH", "check_id", "check_key", "check_document", "check_query"]

MAX_ID_LENGTH = 255
_FORBIDDEN = re.compile(r"[/\\?#\x00-\x1f\x7f-\x9f]")


def check_id(value: Any, *, what: str = "id") -> str:
    """`value` if it is safe as a document id or partition key, else `InvalidIdError`.

    The message names what was wrong, never the value (it may be anything a caller sent).
    """
    if not isinstance(value, str) or not value:
        raise InvalidIdError(f"{what} must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(f"{what} is longer than {MAX_ID_LENGTH} characters")
    if value in (".", ".."):
        raise InvalidIdError(f"{what} must not be '.' or '..'")
    if _FORBIDDEN.search(value):
        raise InvalidIdError(f"{what} must not contain '/', '\\', '?', '#' or control characters")
    return value


def check_key(partition_key: str, id: str) -> None:
    """The (partition key, id) pair of a point read or delete are safe values."""
    check_id(partition_key, what=PARTITION_KEY)
    check_id(id)


def check_document(document: Mapping[str, Any]) -> None:
    """A document about to be written has a safe `id` and partition key."""
    if not document.get("id") or not document.get(PARTITION_KEY):
        raise InvalidIdError(f"a document needs 'id' and '{PARTITION_KEY}'")
    check_key(document[PARTITION_KEY], document["id"])


def check_query(partition_key: str | None, filters: Sequence[Filter]) -> None:
    """A query's partition key and its lookups by id or partition key are safe values."""
    if partition_key is not None:
        check_id(partition_key, what=PARTITION_KEY)
    for condition in filters:
        if condition.field not in ("id", PARTITION_KEY) or condition.op not in ("=", "in"):
            continue
        values = [condition.value] if condition.op == "=" else condition.value
        for value in values:
            check_id(value, what=condition.field)
