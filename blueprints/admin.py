"""The admin API under /api/admin/..., and the anonymous health probe.

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

from collections.abc import Callable
from typing import Any

import azure.functions as func

from blueprints.http import endpoint, json_response
from integration_core.pipelines import check_app_health
from integration_core.pipelines.conflicts import decide_conflict, list_conflicts
from integration_core.pipelines.decisions import ConflictDecision, DuplicateDecision
from integration_core.pipelines.matching import decide_duplicate, list_duplicates
from integration_core.runtime import Runtime

__all__ = ["blueprint"]


def blueprint(runtime: Callable[[], Runtime]) -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    @bp.function_name("AdminListConflicts")
    @bp.route(route="admin/tenants/{tenant_id}/conflicts", methods=["GET"])
    @endpoint()
    def admin_list_conflicts(tenant_id: str) -> list[dict[str, Any]]:
        return [c.to_document() for c in list_conflicts(runtime(), tenant_id)]

    @bp.function_name("AdminDecideConflict")
    @bp.route(route="admin/tenants/{tenant_id}/conflicts/{conflict_id}/decision", methods=["POST"])
    @endpoint(body=ConflictDecision)
    def admin_decide_conflict(
        tenant_id: str, conflict_id: str, body: ConflictDecision
    ) -> dict[str, Any]:
        decided = decide_conflict(runtime(), tenant_id, conflict_id, **body.model_dump())
        return decided.to_document()

    @bp.function_name("AdminListDuplicates")
    @bp.route(route="admin/tenants/{tenant_id}/duplicates", methods=["GET"])
    @endpoint()
    def admin_list_duplicates(tenant_id: str) -> list[dict[str, Any]]:
        return [c.to_document() for c in list_duplicates(runtime(), tenant_id)]

    @bp.function_name("AdminDecideDuplicate")
    @bp.route(
        route="admin/tenants/{tenant_id}/duplicates/{candidate_id}/decision", methods=["POST"]
    )
    @endpoint(body=DuplicateDecision)
    def admin_decide_duplicate(
        tenant_id: str, candidate_id: str, body: DuplicateDecision
    ) -> dict[str, Any]:
        decided = decide_duplicate(runtime(), tenant_id, candidate_id, **body.model_dump())
        return decided.to_document()

    @bp.function_name("Health")
    @bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    @endpoint()
    def health() -> func.HttpResponse:
        report = check_app_health(lambda: runtime().health_probes())
        return json_response(report.to_json(), 200 if report.healthy else 503)

    return bp
