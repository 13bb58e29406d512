"""The admin API's request bodies, shared by the HTTP routes and the CLI.

Fields are camelCase like the responses (snake_case is accepted too); unknown fields are
refused (a typo must not be silently ignored); ids follow the route id rule, so whatever
is created can later be named in a URL.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from integration_core.models import SyncMode
from integration_core.sync.tombstones import DeleteRule

__all__ = [
    "AdminRequest",
    "ConnectionCreate",
    "ConnectionUpdate",
    "EntityEdit",
    "Id",
    "TaskCreate",
    "TaskUpdate",
]

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$")]
Name = Annotated[str, Field(max_length=200)]


class AdminRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ConnectionCreate(AdminRequest):
    """A connection and, optionally, its credential (never echoed back)."""

    id: Id
    system: Annotated[str, Field(min_length=1, max_length=64)]
    display_name: Name = ""
    config: dict[str, Any] = Field(default_factory=dict)
    credential: dict[str, Any] | None = None


class ConnectionUpdate(AdminRequest):
    """What to change; a field absent or null is left as it is."""

    display_name: Name | None = None
    config: dict[str, Any] | None = None
    credential: dict[str, Any] | None = None


class TaskCreate(AdminRequest):
    """A sync task: `intervalSeconds` is its schedule, `mode` which way records travel
    (`pull`, `push` or `bidirectional`), `mapping` its overrides of the default mapping."""

    id: Id
    connection_id: Id
    entity_type: Annotated[str, Field(min_length=1, max_length=64)]
    target_connection_ids: list[Id] = Field(default_factory=list, max_length=50)
    interval_seconds: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    mode: SyncMode = SyncMode.BIDIRECTIONAL
    priority: int = Field(default=0, ge=-1000, le=1000)
    enabled: bool = True
    policy: dict[str, Any] = Field(default_factory=dict)
    delete_rule: DeleteRule = DeleteRule.PROPAGATE
    matching: dict[str, Any] = Field(default_factory=dict)
    mapping: dict[str, Any] = Field(default_factory=dict)


class TaskUpdate(AdminRequest):
    """What to change; a field absent or null is left as it is."""

    target_connection_ids: list[Id] | None = Field(default=None, max_length=50)
    interval_seconds: int | None = Field(default=None, ge=10, le=7 * 24 * 3600)
    mode: SyncMode | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    policy: dict[str, Any] | None = None
    delete_rule: DeleteRule | None = None
    matching: dict[str, Any] | None = None
    mapping: dict[str, Any] | None = None


class EntityEdit(AdminRequest):
    """An admin's change: `values` set (None removes a field); it may alter protected fields."""

    values: dict[Annotated[str, Field(min_length=1, max_length=200)], Any] = Field(
        min_length=1, max_length=200
    )
