"""Document storage: the port and its backends (chosen only in runtime.py)."""

from __future__ import annotations

from integration_core.storage.base import (
    CONTAINERS,
    ETAG,
    PARTITION_KEY,
    WRITTEN_AT,
    DocumentStore,
    Filter,
)

__all__ = ["CONTAINERS", "ETAG", "PARTITION_KEY", "WRITTEN_AT", "DocumentStore", "Filter"]
