"""The admin API under /api/admin/..., and the anonymous health probe.

Every admin route is behind the Functions key and a Lockstep API key (`auth=`): the key's
tenant scopes the call, so ids of another tenant's documents are simply not found.

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

from collections.abc import Callable
from typing import Any

import azure.functions as func
from pydantic import BaseModel, Field

from blueprints.http import endpoint, json_response
from integration_core.admin import (
    ApiKey,
    PageQuery,
    authenticate,
    issue_key,
    list_audit,
    list_keys,
    record_write,
    revoke_key,
)
from integration_core.pipelines import check_app_health
from integration_core.pipelines.conflicts import decide_conflict, list_conflicts
from integration_core.pipelines.decisions import ConflictDecision, DuplicateDecision
from integration_core.pipelines.matching import decide_duplicate, list_duplicates
from integration_core.runtime import Runtime

__all__ = ["NewKey", "blueprint"]


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)


def blueprint(runtime: Callable[[], Runtime]) -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    def caller_of(presented: str) -> ApiKey:
        return authenticate(runtime().store, presented)

    def audit(caller: ApiKey, action: str, resource: str, resource_id: str) -> None:
        record_write(
            runtime().store,
            caller.tenant_id,
            actor=f"key:{caller.id}",
            action=action,
            resource=resource,
            resource_id=resource_id,
        )

    @bp.function_name("AdminListConflicts")
    @bp.route(route="admin/conflicts", methods=["GET"])
    @endpoint(auth=caller_of)
    def admin_list_conflicts(caller: ApiKey) -> list[dict[str, Any]]:
        return [c.to_document() for c in list_conflicts(runtime(), caller.tenant_id)]

    @bp.function_name("AdminDecideConflict")
    @bp.route(route="admin/conflicts/{conflict_id}/decision", methods=["POST"])
    @endpoint(auth=caller_of, body=ConflictDecision)
    def admin_decide_conflict(
        caller: ApiKey, conflict_id: str, body: ConflictDecision
    ) -> dict[str, Any]:
        decided = decide_conflict(runtime(), caller.tenant_id, conflict_id, **body.model_dump())
        audit(caller, "decide", "conflict", conflict_id)
        return decided.to_document()

    @bp.function_name("AdminListDuplicates")
    @bp.route(route="admin/duplicates", methods=["GET"])
    @endpoint(auth=caller_of)
    def admin_list_duplicates(caller: ApiKey) -> list[dict[str, Any]]:
        return [c.to_document() for c in list_duplicates(runtime(), caller.tenant_id)]

    @bp.function_name("AdminDecideDuplicate")
    @bp.route(route="admin/duplicates/{candidate_id}/decision", methods=["POST"])
    @endpoint(auth=caller_of, body=DuplicateDecision)
    def admin_decide_duplicate(
        caller: ApiKey, candidate_id: str, body: DuplicateDecision
    ) -> dict[str, Any]:
        decided = decide_duplicate(runtime(), caller.tenant_id, candidate_id, **body.model_dump())
        audit(caller, "decide", "duplicate", candidate_id)
        return decided.to_document()

    @bp.function_name("AdminIssueKey")
    @bp.route(route="admin/keys", methods=["POST"])
    @endpoint(auth=caller_of, body=NewKey)
    def admin_issue_key(caller: ApiKey, body: NewKey) -> func.HttpResponse:
        issued = issue_key(runtime().store, caller.tenant_id, name=body.name)
        audit(caller, "issue", "api-key", issued.key.id)
        return json_response(issued.key.public() | {"key": issued.secret}, 201)

    @bp.function_name("AdminListKeys")
    @bp.route(route="admin/keys", methods=["GET"])
    @endpoint(auth=caller_of, query=PageQuery)
    def admin_list_keys(caller: ApiKey, query: PageQuery) -> dict[str, Any]:
        page = list_keys(runtime().store, caller.tenant_id, after=query.after, limit=query.limit)
        return {"items": [k.public() for k in page.items], "next": page.next}

    @bp.function_name("AdminRevokeKey")
    @bp.route(route="admin/keys/{key_id}", methods=["DELETE"])
    @endpoint(auth=caller_of)
    def admin_revoke_key(caller: ApiKey, key_id: str) -> dict[str, Any]:
        revoked = revoke_key(runtime().store, caller.tenant_id, key_id)
        audit(caller, "revoke", "api-key", key_id)
        return revoked.public()

    @bp.function_name("AdminAuditLog")
    @bp.route(route="admin/audit", methods=["GET"])
    @endpoint(auth=caller_of, query=PageQuery)
    def admin_audit_log(caller: ApiKey, query: PageQuery) -> dict[str, Any]:
        page = list_audit(runtime().store, caller.tenant_id, after=query.after, limit=query.limit)
        return page.model_dump(mode="json", by_alias=True)

    @bp.function_name("Health")
    @bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    @endpoint()
    def health() -> func.HttpResponse:
        report = check_app_health(lambda: runtime().health_probes())
        return json_response(report.to_json(), 200 if report.healthy else 503)

    return bp
