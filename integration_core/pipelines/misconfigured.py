"""A connection whose configuration cannot work is marked, not retried.

A refused URL (the outbound policy) or an unusable client certificate fails the same way on
every attempt: retrying only repeats the refusal and, after the host's retries, poisons the
message. Instead the connection's status becomes `misconfigured`, which stops its syncs
(the scheduler and both workers act on active connections only) until an admin fixes it,
and the message completes with the reason in its result.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from integration_core.errors import ConnectionConfigurationError
from integration_core.models import Connection, ConnectionStatus
from integration_core.observability import log_context
from integration_core.pipelines.results import Tally
from integration_core.storage import DocumentStore
from integration_core.storage.concurrency import update_document

__all__ = ["marks_misconfigured"]

log = logging.getLogger(__name__)


@contextmanager
def marks_misconfigured(
    store: DocumentStore, connection: Connection, tally: Tally
) -> Iterator[None]:
    """Run a connection's adapter work; a ConnectionConfigurationError marks it instead."""
    try:
        yield
    except ConnectionConfigurationError as err:

        def mark(document: dict[str, Any]) -> dict[str, Any] | None:
            if document.get("status") == ConnectionStatus.MISCONFIGURED.value:
                return None
            return {**document, "status": ConnectionStatus.MISCONFIGURED.value}

        update_document(store, Connection.container, connection.tenant_id, connection.id, mark)
        with log_context(tenant_id=connection.tenant_id):
            log.warning(
                "connection %s marked misconfigured: %s",
                connection.id,
                err,
                extra={"connection_id": connection.id},
            )
        tally.errors.append(f"connection {connection.id} is misconfigured: {err}")
