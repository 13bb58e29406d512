"""Ports the pipelines call and adapters implement; dependencies point inward only."""

from __future__ import annotations

from integration_core.ports.adapter import (
    AdapterFactory,
    BatchesWrites,
    ChangeNotice,
    ChangePage,
    IntegrationAdapter,
    RejectedRecord,
    RoutesNotices,
    WebhookSubscriber,
    WriteRequest,
    WriteResult,
)
from integration_core.ports.registry import (
    adapter_factory,
    parse_webhook,
    register_adapter,
    validate_connection,
)

__all__ = [
    "AdapterFactory",
    "BatchesWrites",
    "ChangeNotice",
    "ChangePage",
    "IntegrationAdapter",
    "RejectedRecord",
    "RoutesNotices",
    "WebhookSubscriber",
    "WriteRequest",
    "WriteResult",
    "adapter_factory",
    "parse_webhook",
    "register_adapter",
    "validate_connection",
]
