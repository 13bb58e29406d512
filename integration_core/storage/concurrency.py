"""Read-modify-write with etags: the one way Lockstep updates a document that can race."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from integration_core.errors import NotFoundError, PreconditionFailedError, RetryableError
from integration_core.storage.base import ETAG, DocumentStore

__all__ = ["update_document", "get_or_none"]

log = logging.getLogger(__name__)


def get_or_none(
    store: DocumentStore, container: str, partition_key: str, id: str
) -> dict[str, Any] | None:
    try:
        return store.get(container, partition_key, id)
    except NotFoundError:
        return None


def update_document(
    store: DocumentStore,
    container: str,
    partition_key: str,
    id: str,
    mutate: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    attempts: int = 8,
) -> dict[str, Any] | None:
    """Apply `mutate` to the current document and write it only if nobody wrote in between.

    `mutate` gets a fresh copy on every attempt and returns the new document, or None to
    leave it as it is. A lost race re-reads and re-applies, so no concurrent update is lost.
    Returns the stored document (or the unchanged one when `mutate` returned None).
    """
    for attempt in range(attempts):
        current = store.get(container, partition_key, id)
        updated = mutate(dict(current))
        if updated is None:
            return current
        try:
            return store.upsert(container, updated, if_match=current[ETAG])
        except PreconditionFailedError:
            log.debug("etag race on %s/%s, attempt %d", container, id, attempt + 1)
    raise RetryableError(f"{container}/{id}: still contended after {attempts} attempts")
