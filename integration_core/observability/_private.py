"""The log record factory, wrapped once per filter, shared by redaction and the context."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["wrap_record_factory"]

_lock = threading.Lock()


class _FilteringFactory:
    """Runs `record_filter` on each record as it is made, before any handler sees it."""

    def __init__(self, make: Callable[..., logging.LogRecord], record_filter: logging.Filter):
        self.make = make
        self.record_filter = record_filter

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.make(*args, **kwargs)
        self.record_filter.filter(record)
        return record


def wrap_record_factory(record_filter: logging.Filter) -> None:
    """Apply `record_filter` to every record of this process from now on (idempotent)."""
    with _lock:
        factory = logging.getLogRecordFactory()
        while isinstance(factory, _FilteringFactory):
            if factory.record_filter is record_filter:
                return
            factory = factory.make
        logging.setLogRecordFactory(_FilteringFactory(logging.getLogRecordFactory(), record_filter))
