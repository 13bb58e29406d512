"""The correlation id and tenant of the work in hand, on every log line it writes.

A trigger (timer tick, webhook delivery, queue message) opens a `log_context`; a context
variable carries it through every call below, and `ContextFilter` copies it onto each log
record, so no call site threads the id by hand (the job the Meltano SDK's per-stream
LoggerAdapter does). Installed like the redaction filter (`install_log_context`), through
the log record factory, so every logger and handler — the Functions host's too — sees it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

from integration_core.observability._private import wrap_record_factory

__all__ = [
    "ContextFilter",
    "LogContext",
    "current_context",
    "install_log_context",
    "log_context",
    "new_correlation_id",
]

# Records made outside any trigger (start-up, a CLI command) still carry the fields.
NO_CORRELATION = "-"


@dataclass(frozen=True)
class LogContext:
    correlation_id: str
    tenant_id: str | None = None


_CURRENT: ContextVar[LogContext | None] = ContextVar("lockstep_log_context", default=None)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def current_context() -> LogContext | None:
    return _CURRENT.get()


@contextmanager
def log_context(
    *, correlation_id: str | None = None, tenant_id: str | None = None
) -> Iterator[LogContext]:
    """Every log line inside carries `correlation_id` and `tenant`.

    A missing correlation id keeps the enclosing one (a tenant learned part-way through a
    delivery), or starts a new one at the top.
    """
    outer = _CURRENT.get()
    if outer is not None:
        context = replace(
            outer,
            correlation_id=correlation_id or outer.correlation_id,
            tenant_id=tenant_id if tenant_id is not None else outer.tenant_id,
        )
    else:
        context = LogContext(correlation_id or new_correlation_id(), tenant_id)
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


class ContextFilter(logging.Filter):
    """Sets `correlation_id` and `tenant` on a record from the current context.

    The record factory sets them, so `extra=` may not name them (logging refuses to
    overwrite a record's attribute): the context carries them instead. The tenant is
    `tenant`, not `tenant_id`, so the `extra={"tenant_id": ...}` some call sites pass stays
    allowed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = _CURRENT.get()
        record.correlation_id = context.correlation_id if context else NO_CORRELATION
        record.tenant = (context.tenant_id if context else None) or NO_CORRELATION
        return True


_FILTER = ContextFilter()


def install_log_context() -> None:
    """Put the current context on every log record of this process from now on (idempotent)."""
    wrap_record_factory(_FILTER)
