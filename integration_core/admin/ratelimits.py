"""Rate limits per connection: status (nothing charged), configure, reset.

A connection's budgets are its adapter's defaults unless its config names `rate_limits`
(a list of {bucket, max_requests, window_seconds}); configuring validates that list by
building the limits from it, as the workers will.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
from pydantic import Field

from integration_core.admin.audit import record_write
from integration_core.admin.connections import InvalidRequestError, get_connection
from integration_core.admin.requests import AdminRequest
from integration_core.errors import ConfigurationError
from integration_core.models import Connection
from integration_core.ports.registry import adapter_factory
from integration_core.ratelimit import Limit, connection_key
from integration_core.runtime import Runtime
from integration_core.storage import ETAG

__all__ = ["Budget", "RateLimitConfig", "configure_limits", "limit_status", "reset_limits"]


class Budget(AdminRequest):
    bucket: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    max_requests: int = Field(ge=1, le=1_000_000)
    window_seconds: float = Field(ge=0.001, le=86_400)


class RateLimitConfig(AdminRequest):
    rate_limits: list[Budget] = Field(min_length=1, max_length=20)


def _limits(connection: Connection) -> list[Limit]:
    """The connection's budgets, read from its config: no credential is loaded (nor a
    token refreshed) and nothing is sent, so they show for a connection needing re-auth."""
    try:
        with (
            httpx.Client() as idle,
            adapter_factory(connection.system)(connection, client=idle) as adapter,
        ):
            return adapter.rate_limits()
    except ConfigurationError as err:
        raise InvalidRequestError(str(err)) from None


def limit_status(rt: Runtime, tenant_id: str, connection_id: str) -> list[dict[str, Any]]:
    connection = get_connection(rt, tenant_id, connection_id)
    return [dataclasses.asdict(rt.limiter.status(limit)) for limit in _limits(connection)]


def configure_limits(
    rt: Runtime, tenant_id: str, connection_id: str, request: RateLimitConfig, *, actor: str
) -> list[dict[str, Any]]:
    document = rt.store.get(Connection.container, tenant_id, connection_id)
    connection = Connection.from_document(document)
    connection.config = connection.config | request.model_dump(mode="json")
    _limits(connection)
    rt.store.upsert(Connection.container, connection.to_document(), if_match=document[ETAG])
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action="configure",
        resource="rate-limits",
        resource_id=connection_id,
    )
    return limit_status(rt, tenant_id, connection_id)


def reset_limits(
    rt: Runtime, tenant_id: str, connection_id: str, *, actor: str
) -> list[dict[str, Any]]:
    """Forget every window of the connection's budgets and its adaptive multiplier."""
    connection = get_connection(rt, tenant_id, connection_id)
    for limit in _limits(connection):
        rt.limiter.reset(limit.key)
    rt.limiter.reset(connection_key(tenant_id, connection_id))
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action="reset",
        resource="rate-limits",
        resource_id=connection_id,
    )
    return limit_status(rt, tenant_id, connection_id)
