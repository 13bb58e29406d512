"""What the admin-area blueprints share: the caller behind an API key, how a caller is named
in the audit log, and a model as the JSON a route answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from integration_core.admin import ApiKey, authenticate, record_write
from integration_core.runtime import Runtime

__all__ = ["actor", "api_key_caller", "as_json", "audit"]


def api_key_caller(runtime: Callable[[], Runtime]) -> Callable[[str], ApiKey]:
    """An `@endpoint(auth=...)`: the tenant's key a presented Lockstep API key is."""

    def caller_of(presented: str) -> ApiKey:
        return authenticate(runtime().store, presented)

    return caller_of


def actor(caller: ApiKey) -> str:
    """The audit log's name for a caller (the key's id, never the key)."""
    return f"key:{caller.id}"


def audit(rt: Runtime, caller: ApiKey, action: str, resource: str, resource_id: str) -> None:
    record_write(
        rt.store,
        caller.tenant_id,
        actor=actor(caller),
        action=action,
        resource=resource,
        resource_id=resource_id,
    )


def as_json(model: BaseModel) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True)
    return dumped
