"""The admin API under /api/admin/..., and the anonymous health probe.

Every admin route is behind the Functions key and a Lockstep API key (`auth=`): the key's
tenant scopes the call, so ids of another tenant's documents are simply not found.

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

from collections.abc import Callable
from typing import Any

import azure.functions as func
from pydantic import BaseModel, Field

from blueprints._private import actor, api_key_caller, as_json
from blueprints.http import endpoint, json_response
from integration_core.admin import (
    ApiKey,
    AuditEntry,
    Page,
    PageQuery,
    connections,
    decisions,
    entities,
    issue_key,
    list_audit,
    list_keys,
    overview,
    ratelimits,
    resync,
    revoke_key,
    tasks,
)
from integration_core.admin.keys import ApiKeyView, IssuedKeyView
from integration_core.admin.requests import (
    ConnectionCreate,
    ConnectionUpdate,
    EntityEdit,
    TaskCreate,
    TaskUpdate,
)
from integration_core.models import Conflict, Connection, DuplicateCandidate, SyncTask
from integration_core.pipelines import check_app_health
from integration_core.pipelines.decisions import ConflictDecision, DuplicateDecision
from integration_core.ratelimit.models import LimitStatus
from integration_core.runtime import Runtime

__all__ = ["NewKey", "blueprint"]


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)


def blueprint(runtime: Callable[[], Runtime]) -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    caller_of = api_key_caller(runtime)

    @bp.function_name("AdminListConflicts")
    @bp.route(route="admin/conflicts", methods=["GET"])
    @endpoint(response=Page[Conflict], auth=caller_of, query=decisions.ConflictQuery)
    def admin_list_conflicts(caller: ApiKey, query: decisions.ConflictQuery) -> dict[str, Any]:
        """Conflicts waiting for a decision (`status=pending`), resolved by the task's policy
        (`resolved`, newest first, with the rule that chose the winner) or decided by an
        admin (`decided`, newest first)."""
        return as_json(
            decisions.list_conflicts(
                runtime(),
                caller.tenant_id,
                status=query.status,
                after=query.after,
                limit=query.limit,
            )
        )

    @bp.function_name("AdminGetConflict")
    @bp.route(route="admin/conflicts/{conflict_id}", methods=["GET"])
    @endpoint(response=Conflict, auth=caller_of)
    def admin_get_conflict(caller: ApiKey, conflict_id: str) -> dict[str, Any]:
        return decisions.get_conflict(runtime(), caller.tenant_id, conflict_id).to_document()

    @bp.function_name("AdminDecideConflict")
    @bp.route(route="admin/conflicts/{conflict_id}/decision", methods=["POST"])
    @endpoint(response=Conflict, auth=caller_of, body=ConflictDecision)
    def admin_decide_conflict(
        caller: ApiKey, conflict_id: str, body: ConflictDecision
    ) -> dict[str, Any]:
        decided = decisions.decide_conflict_as(
            runtime(), caller.tenant_id, conflict_id, **body.model_dump(), actor=actor(caller)
        )
        return decided.to_document()

    @bp.function_name("AdminListDuplicates")
    @bp.route(route="admin/duplicates", methods=["GET"])
    @endpoint(response=Page[DuplicateCandidate], auth=caller_of, query=PageQuery)
    def admin_list_duplicates(caller: ApiKey, query: PageQuery) -> dict[str, Any]:
        """Duplicate candidates waiting for a decision."""
        return as_json(
            decisions.pending_duplicates(
                runtime(), caller.tenant_id, after=query.after, limit=query.limit
            )
        )

    @bp.function_name("AdminGetDuplicate")
    @bp.route(route="admin/duplicates/{candidate_id}", methods=["GET"])
    @endpoint(response=DuplicateCandidate, auth=caller_of)
    def admin_get_duplicate(caller: ApiKey, candidate_id: str) -> dict[str, Any]:
        return decisions.get_duplicate(runtime(), caller.tenant_id, candidate_id).to_document()

    @bp.function_name("AdminDecideDuplicate")
    @bp.route(route="admin/duplicates/{candidate_id}/decision", methods=["POST"])
    @endpoint(response=DuplicateCandidate, auth=caller_of, body=DuplicateDecision)
    def admin_decide_duplicate(
        caller: ApiKey, candidate_id: str, body: DuplicateDecision
    ) -> dict[str, Any]:
        decided = decisions.decide_duplicate_as(
            runtime(), caller.tenant_id, candidate_id, **body.model_dump(), actor=actor(caller)
        )
        return decided.to_document()

    @bp.function_name("AdminIssueKey")
    @bp.route(route="admin/keys", methods=["POST"])
    @endpoint(response=IssuedKeyView, status=201, auth=caller_of, body=NewKey)
    def admin_issue_key(caller: ApiKey, body: NewKey) -> dict[str, Any]:
        issued = issue_key(runtime().store, caller.tenant_id, name=body.name, actor=actor(caller))
        return issued.key.public() | {"key": issued.secret}

    @bp.function_name("AdminListKeys")
    @bp.route(route="admin/keys", methods=["GET"])
    @endpoint(response=Page[ApiKeyView], auth=caller_of, query=PageQuery)
    def admin_list_keys(caller: ApiKey, query: PageQuery) -> dict[str, Any]:
        page = list_keys(runtime().store, caller.tenant_id, after=query.after, limit=query.limit)
        return {"items": [k.public() for k in page.items], "next": page.next}

    @bp.function_name("AdminRevokeKey")
    @bp.route(route="admin/keys/{key_id}", methods=["DELETE"])
    @endpoint(response=ApiKeyView, auth=caller_of)
    def admin_revoke_key(caller: ApiKey, key_id: str) -> dict[str, Any]:
        revoked = revoke_key(runtime().store, caller.tenant_id, key_id, actor=actor(caller))
        return revoked.public()

    @bp.function_name("AdminAuditLog")
    @bp.route(route="admin/audit", methods=["GET"])
    @endpoint(response=Page[AuditEntry], auth=caller_of, query=PageQuery)
    def admin_audit_log(caller: ApiKey, query: PageQuery) -> dict[str, Any]:
        page = list_audit(runtime().store, caller.tenant_id, after=query.after, limit=query.limit)
        return page.model_dump(mode="json", by_alias=True)

    # -- connections -------------------------------------------------------------------

    @bp.function_name("AdminCreateConnection")
    @bp.route(route="admin/connections", methods=["POST"])
    @endpoint(response=Connection, status=201, auth=caller_of, body=ConnectionCreate)
    def admin_create_connection(caller: ApiKey, body: ConnectionCreate) -> dict[str, Any]:
        created = connections.create_connection(
            runtime(), caller.tenant_id, body, actor=actor(caller)
        )
        return created.to_document()

    @bp.function_name("AdminListConnections")
    @bp.route(route="admin/connections", methods=["GET"])
    @endpoint(response=Page[Connection], auth=caller_of, query=PageQuery)
    def admin_list_connections(caller: ApiKey, query: PageQuery) -> dict[str, Any]:
        return as_json(
            connections.list_connections(
                runtime(), caller.tenant_id, after=query.after, limit=query.limit
            )
        )

    @bp.function_name("AdminGetConnection")
    @bp.route(route="admin/connections/{connection_id}", methods=["GET"])
    @endpoint(response=Connection, auth=caller_of)
    def admin_get_connection(caller: ApiKey, connection_id: str) -> dict[str, Any]:
        return connections.get_connection(runtime(), caller.tenant_id, connection_id).to_document()

    @bp.function_name("AdminUpdateConnection")
    @bp.route(route="admin/connections/{connection_id}", methods=["PATCH"])
    @endpoint(response=Connection, auth=caller_of, body=ConnectionUpdate)
    def admin_update_connection(
        caller: ApiKey, connection_id: str, body: ConnectionUpdate
    ) -> dict[str, Any]:
        updated = connections.update_connection(
            runtime(), caller.tenant_id, connection_id, body, actor=actor(caller)
        )
        return updated.to_document()

    @bp.function_name("AdminDeleteConnection")
    @bp.route(route="admin/connections/{connection_id}", methods=["DELETE"])
    @endpoint(status=204, auth=caller_of)
    def admin_delete_connection(caller: ApiKey, connection_id: str) -> None:
        connections.delete_connection(
            runtime(), caller.tenant_id, connection_id, actor=actor(caller)
        )
        return None

    @bp.function_name("AdminDisableConnection")
    @bp.route(route="admin/connections/{connection_id}/disable", methods=["POST"])
    @endpoint(response=Connection, auth=caller_of)
    def admin_disable_connection(caller: ApiKey, connection_id: str) -> dict[str, Any]:
        disabled = connections.disable_connection(
            runtime(), caller.tenant_id, connection_id, actor=actor(caller)
        )
        return disabled.to_document()

    @bp.function_name("AdminTestConnection")
    @bp.route(route="admin/connections/{connection_id}/test", methods=["POST"])
    @endpoint(response=connections.ConnectionCheck, auth=caller_of)
    def admin_test_connection(caller: ApiKey, connection_id: str) -> dict[str, Any]:
        return connections.check_connection(runtime(), caller.tenant_id, connection_id)

    @bp.function_name("AdminConnectionOverview")
    @bp.route(route="admin/connections/{connection_id}/overview", methods=["GET"])
    @endpoint(response=overview.ConnectionOverview, auth=caller_of)
    def admin_connection_overview(caller: ApiKey, connection_id: str) -> dict[str, Any]:
        """The connection at a glance: auth, breaker, last sync, webhooks over 24 hours,
        budget left, cursor ages, and whether it can be connected with OAuth."""
        return as_json(overview.connection_overview(runtime(), caller.tenant_id, connection_id))

    @bp.function_name("AdminRateLimitStatus")
    @bp.route(route="admin/connections/{connection_id}/limits", methods=["GET"])
    @endpoint(response=list[LimitStatus], auth=caller_of)
    def admin_rate_limit_status(caller: ApiKey, connection_id: str) -> list[dict[str, Any]]:
        return ratelimits.limit_status(runtime(), caller.tenant_id, connection_id)

    @bp.function_name("AdminConfigureRateLimits")
    @bp.route(route="admin/connections/{connection_id}/limits", methods=["PUT"])
    @endpoint(response=list[LimitStatus], auth=caller_of, body=ratelimits.RateLimitConfig)
    def admin_configure_rate_limits(
        caller: ApiKey, connection_id: str, body: ratelimits.RateLimitConfig
    ) -> list[dict[str, Any]]:
        return ratelimits.configure_limits(
            runtime(), caller.tenant_id, connection_id, body, actor=actor(caller)
        )

    @bp.function_name("AdminResetRateLimits")
    @bp.route(route="admin/connections/{connection_id}/limits/reset", methods=["POST"])
    @endpoint(response=list[LimitStatus], auth=caller_of)
    def admin_reset_rate_limits(caller: ApiKey, connection_id: str) -> list[dict[str, Any]]:
        return ratelimits.reset_limits(
            runtime(), caller.tenant_id, connection_id, actor=actor(caller)
        )

    # -- sync tasks and results ----------------------------------------------------------

    @bp.function_name("AdminCreateTask")
    @bp.route(route="admin/tasks", methods=["POST"])
    @endpoint(response=SyncTask, status=201, auth=caller_of, body=TaskCreate)
    def admin_create_task(caller: ApiKey, body: TaskCreate) -> dict[str, Any]:
        created = tasks.create_task(runtime(), caller.tenant_id, body, actor=actor(caller))
        return created.to_document()

    @bp.function_name("AdminListTasks")
    @bp.route(route="admin/tasks", methods=["GET"])
    @endpoint(response=Page[SyncTask], auth=caller_of, query=PageQuery)
    def admin_list_tasks(caller: ApiKey, query: PageQuery) -> dict[str, Any]:
        return as_json(
            tasks.list_tasks(runtime(), caller.tenant_id, after=query.after, limit=query.limit)
        )

    @bp.function_name("AdminGetTask")
    @bp.route(route="admin/tasks/{task_id}", methods=["GET"])
    @endpoint(response=SyncTask, auth=caller_of)
    def admin_get_task(caller: ApiKey, task_id: str) -> dict[str, Any]:
        return tasks.get_task(runtime(), caller.tenant_id, task_id).to_document()

    @bp.function_name("AdminUpdateTask")
    @bp.route(route="admin/tasks/{task_id}", methods=["PATCH"])
    @endpoint(response=SyncTask, auth=caller_of, body=TaskUpdate)
    def admin_update_task(caller: ApiKey, task_id: str, body: TaskUpdate) -> dict[str, Any]:
        updated = tasks.update_task(runtime(), caller.tenant_id, task_id, body, actor=actor(caller))
        return updated.to_document()

    @bp.function_name("AdminDeleteTask")
    @bp.route(route="admin/tasks/{task_id}", methods=["DELETE"])
    @endpoint(status=204, auth=caller_of)
    def admin_delete_task(caller: ApiKey, task_id: str) -> None:
        tasks.delete_task(runtime(), caller.tenant_id, task_id, actor=actor(caller))
        return None

    @bp.function_name("AdminRunTask")
    @bp.route(route="admin/tasks/{task_id}/run", methods=["POST"])
    @endpoint(response=tasks.RunStarted, status=202, auth=caller_of)
    def admin_run_task(caller: ApiKey, task_id: str) -> dict[str, Any]:
        message_id = tasks.run_task_now(runtime(), caller.tenant_id, task_id, actor=actor(caller))
        return {"resultId": message_id}

    @bp.function_name("AdminPauseTask")
    @bp.route(route="admin/tasks/{task_id}/pause", methods=["POST"])
    @endpoint(response=SyncTask, auth=caller_of)
    def admin_pause_task(caller: ApiKey, task_id: str) -> dict[str, Any]:
        paused = tasks.set_task_enabled(
            runtime(), caller.tenant_id, task_id, enabled=False, actor=actor(caller)
        )
        return paused.to_document()

    @bp.function_name("AdminResumeTask")
    @bp.route(route="admin/tasks/{task_id}/resume", methods=["POST"])
    @endpoint(response=SyncTask, auth=caller_of)
    def admin_resume_task(caller: ApiKey, task_id: str) -> dict[str, Any]:
        resumed = tasks.set_task_enabled(
            runtime(), caller.tenant_id, task_id, enabled=True, actor=actor(caller)
        )
        return resumed.to_document()

    @bp.function_name("AdminResyncDryRun")
    @bp.route(route="admin/tasks/{task_id}/resync/dry-run", methods=["POST"])
    @endpoint(response=resync.ResyncDiff, auth=caller_of, query=resync.DryRunQuery)
    def admin_resync_dry_run(
        caller: ApiKey, task_id: str, query: resync.DryRunQuery
    ) -> dict[str, Any]:
        """What a resync would do, per record, writing nothing."""
        diff = resync.dry_run(runtime(), caller.tenant_id, task_id, max_records=query.max_records)
        return as_json(diff)

    @bp.function_name("AdminResyncTask")
    @bp.route(route="admin/tasks/{task_id}/resync", methods=["POST"])
    @endpoint(response=tasks.RunStarted, status=202, auth=caller_of)
    def admin_resync_task(caller: ApiKey, task_id: str) -> dict[str, Any]:
        """Resync keeping records: read everything from the start again."""
        started = resync.start_resync(runtime(), caller.tenant_id, task_id, actor=actor(caller))
        return {"resultId": started}

    @bp.function_name("AdminListResults")
    @bp.route(route="admin/tasks/{task_id}/results", methods=["GET"])
    @endpoint(response=Page[tasks.ResultView], auth=caller_of, query=PageQuery)
    def admin_list_results(caller: ApiKey, task_id: str, query: PageQuery) -> dict[str, Any]:
        found = tasks.list_results(
            runtime(), caller.tenant_id, task_id, after=query.after, limit=query.limit
        )
        return {"items": [tasks.result_view(r) for r in found.items], "next": found.next}

    @bp.function_name("AdminGetResult")
    @bp.route(route="admin/results/{result_id}", methods=["GET"])
    @endpoint(response=tasks.ResultView, auth=caller_of)
    def admin_get_result(caller: ApiKey, result_id: str) -> dict[str, Any]:
        return tasks.get_result(runtime(), caller.tenant_id, result_id)

    # -- entities ------------------------------------------------------------------------

    @bp.function_name("AdminGetEntity")
    @bp.route(route="admin/entities/{entity_id}", methods=["GET"])
    @endpoint(response=entities.EntityView, auth=caller_of)
    def admin_get_entity(caller: ApiKey, entity_id: str) -> dict[str, Any]:
        rt = runtime()
        return entities.entity_view(rt, entities.get_entity(rt, caller.tenant_id, entity_id))

    @bp.function_name("AdminEditEntity")
    @bp.route(route="admin/entities/{entity_id}", methods=["PATCH"])
    @endpoint(response=entities.EntityView, auth=caller_of, body=EntityEdit)
    def admin_edit_entity(caller: ApiKey, entity_id: str, body: EntityEdit) -> dict[str, Any]:
        edited = entities.edit_entity(
            runtime(), caller.tenant_id, entity_id, body, actor=actor(caller)
        )
        return entities.entity_view(runtime(), edited)

    @bp.function_name("Health")
    @bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    @endpoint()
    def health() -> func.HttpResponse:
        report = check_app_health(lambda: runtime().health_probes())
        return json_response(report.to_json(), 200 if report.healthy else 503)

    return bp
