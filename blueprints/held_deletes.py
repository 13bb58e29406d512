"""The mass-delete guard's holds, under /api/admin/held-deletes: list, release, reject.

A run that would delete more than the configured share of a system's (or the hub's) records
holds those deletes and alerts (pipelines/mass_delete.py); an admin releases them (they are
applied as a webhook-kind inbound message) or rejects them (the hub keeps the records).

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

from collections.abc import Callable
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from blueprints._private import api_key_caller, as_json, audit
from blueprints.http import endpoint
from integration_core.admin import ApiKey
from integration_core.admin.requests import AdminRequest
from integration_core.pipelines.decisions import DecidedBy
from integration_core.pipelines.mass_delete import (
    list_held_deletes,
    reject_held_deletes,
    release_held_deletes,
)
from integration_core.runtime import Runtime

__all__ = ["HoldDecision", "HoldView", "blueprint"]


class HoldDecision(AdminRequest):
    """`{"decidedBy": "..."}`: who releases or rejects the hold."""

    decided_by: DecidedBy


class HoldView(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    connection_id: str
    task_id: str | None = None
    correlation_id: str | None = None
    status: str
    created_at: str | None = None
    decided_by: str | None = None
    held: int  # how many deletes the hold keeps back


def blueprint(runtime: Callable[[], Runtime]) -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    caller_of = api_key_caller(runtime)

    def decided(caller: ApiKey, action: str, hold: dict[str, Any]) -> dict[str, Any]:
        audit(runtime(), caller, action, "held-deletes", hold["id"])
        return as_json(HoldView.model_validate(hold))

    @bp.function_name("AdminListHeldDeletes")
    @bp.route(route="admin/held-deletes", methods=["GET"])
    @endpoint(response=list[HoldView], auth=caller_of)
    def admin_list_held_deletes(caller: ApiKey) -> list[dict[str, Any]]:
        """Deletes the mass-delete guard holds for a decision."""
        return [
            HoldView.model_validate(hold).model_dump(mode="json", by_alias=True)
            for hold in list_held_deletes(runtime(), caller.tenant_id)
        ]

    @bp.function_name("AdminReleaseHeldDeletes")
    @bp.route(route="admin/held-deletes/{hold_id}/release", methods=["POST"])
    @endpoint(response=HoldView, auth=caller_of, body=HoldDecision)
    def admin_release_held_deletes(
        caller: ApiKey, hold_id: str, body: HoldDecision
    ) -> dict[str, Any]:
        """Apply the held deletes (409 if the hold was decided already)."""
        hold = release_held_deletes(
            runtime(), caller.tenant_id, hold_id, decided_by=body.decided_by
        )
        return decided(caller, "release", hold)

    @bp.function_name("AdminRejectHeldDeletes")
    @bp.route(route="admin/held-deletes/{hold_id}/reject", methods=["POST"])
    @endpoint(response=HoldView, auth=caller_of, body=HoldDecision)
    def admin_reject_held_deletes(
        caller: ApiKey, hold_id: str, body: HoldDecision
    ) -> dict[str, Any]:
        """Drop the held deletes: the hub keeps those records (409 if decided already)."""
        hold = reject_held_deletes(runtime(), caller.tenant_id, hold_id, decided_by=body.decided_by)
        return decided(caller, "reject", hold)

    return bp
