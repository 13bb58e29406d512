"""Sync tasks (create, list, get, update, run now, pause, resume, delete) and their results.

A task's policy and matching are validated by the parsers the inbound pipeline uses, so a
task the API accepts is one the pipeline can run; its connections must exist in the tenant.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from integration_core.admin.audit import record_write
from integration_core.admin.connections import InvalidRequestError
from integration_core.admin.pages import Page, paginate
from integration_core.admin.requests import TaskCreate, TaskUpdate
from integration_core.clock import utcnow
from integration_core.dedup.options import MatchingOptions
from integration_core.errors import ConfigurationError, ConflictError
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import Connection, SyncResult, SyncTask
from integration_core.pipelines.scheduler import pull_message
from integration_core.runtime import Runtime
from integration_core.storage import ETAG, Filter
from integration_core.storage.concurrency import get_or_none
from integration_core.sync.policy import Policy

__all__ = [
    "ResultStatus",
    "ResultView",
    "RunStarted",
    "create_task",
    "delete_task",
    "get_result",
    "get_task",
    "list_results",
    "list_tasks",
    "result_view",
    "run_task_now",
    "set_task_enabled",
    "update_task",
]

ResultStatus = Literal["success", "partial", "failed"]


class ResultView(SyncResult):
    """A stored result with its status."""

    status: ResultStatus


class RunStarted(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    result_id: str


def _validated(rt: Runtime, tenant_id: str, task: SyncTask) -> None:
    try:
        Policy.from_dict(task.policy)
    except ValueError as err:
        raise InvalidRequestError(f"invalid policy: {err}") from None
    try:
        MatchingOptions.parse(task.matching, owner=f"task {task.id}")
    except ConfigurationError as err:
        raise InvalidRequestError(str(err)) from None
    for connection_id in [task.connection_id, *task.target_connection_ids]:
        if get_or_none(rt.store, Connection.container, tenant_id, connection_id) is None:
            raise InvalidRequestError(f"connection {connection_id!r} does not exist")
    if task.connection_id in task.target_connection_ids:
        raise InvalidRequestError("a task cannot push to the connection it pulls from")


def get_task(rt: Runtime, tenant_id: str, task_id: str) -> SyncTask:
    return SyncTask.from_document(rt.store.get(SyncTask.container, tenant_id, task_id))


def list_tasks(
    rt: Runtime, tenant_id: str, *, after: str | None = None, limit: int = 50
) -> Page[SyncTask]:
    return paginate(rt.store, SyncTask, tenant_id, after=after, limit=limit)


def create_task(rt: Runtime, tenant_id: str, request: TaskCreate, *, actor: str) -> SyncTask:
    task = SyncTask(tenant_id=tenant_id, **request.model_dump())
    _validated(rt, tenant_id, task)
    try:
        rt.store.create(SyncTask.container, task.to_document())
    except ConflictError as err:
        raise ConflictError(f"sync task {task.id!r} already exists") from err
    _audit(rt, tenant_id, actor, "create", task.id)
    return task


def update_task(
    rt: Runtime, tenant_id: str, task_id: str, request: TaskUpdate, *, actor: str
) -> SyncTask:
    changes = request.model_dump(exclude_none=True)
    return _change(rt, tenant_id, task_id, changes, actor, "update")


def set_task_enabled(
    rt: Runtime, tenant_id: str, task_id: str, *, enabled: bool, actor: str
) -> SyncTask:
    """Pause (the scheduler skips it) or resume (due at once)."""
    changes: dict[str, Any] = {"enabled": enabled}
    if enabled:
        changes["next_due_at"] = utcnow()
    return _change(rt, tenant_id, task_id, changes, actor, "resume" if enabled else "pause")


def _change(
    rt: Runtime, tenant_id: str, task_id: str, changes: dict[str, Any], actor: str, action: str
) -> SyncTask:
    """Applied to the version read, or ConflictError if the task changed meanwhile."""
    document = rt.store.get(SyncTask.container, tenant_id, task_id)
    # Validated as a whole: what is stored must be a task every reader can parse.
    task = SyncTask.model_validate(SyncTask.from_document(document).model_dump() | changes)
    _validated(rt, tenant_id, task)
    rt.store.upsert(SyncTask.container, task.to_document(), if_match=document[ETAG])
    _audit(rt, tenant_id, actor, action, task_id)
    return task


def delete_task(rt: Runtime, tenant_id: str, task_id: str, *, actor: str) -> None:
    rt.store.delete(SyncTask.container, tenant_id, task_id)
    _audit(rt, tenant_id, actor, "delete", task_id)


def run_task_now(rt: Runtime, tenant_id: str, task_id: str, *, actor: str) -> str:
    """Enqueue a pull now; its result will be stored under the returned message id."""
    task = get_task(rt, tenant_id, task_id)
    message = pull_message(task, utcnow())
    rt.queue.send(INBOUND_QUEUE, message)
    _audit(rt, tenant_id, actor, "run", task_id, after_id=message.message_id)
    return message.message_id


def result_view(result: SyncResult) -> dict[str, Any]:
    """The stored result with its status: failed (errors and nothing done), partial (errors
    and some work done) or success.
    """
    done = result.records_read + result.created + result.updated + result.pushed
    status: ResultStatus = "success"
    if result.errors:
        status = "partial" if done else "failed"
    return ResultView.model_validate(result.model_dump() | {"status": status}).to_document()


def get_result(rt: Runtime, tenant_id: str, result_id: str) -> dict[str, Any]:
    found = rt.store.get(SyncResult.container, tenant_id, result_id)
    return result_view(SyncResult.from_document(found))


def list_results(
    rt: Runtime, tenant_id: str, task_id: str, *, after: str | None = None, limit: int = 50
) -> Page[SyncResult]:
    get_task(rt, tenant_id, task_id)  # not found, rather than an empty list
    return paginate(
        rt.store,
        SyncResult,
        tenant_id,
        filters=[Filter("taskId", "=", task_id)],
        after=after,
        limit=limit,
    )


def _audit(
    rt: Runtime,
    tenant_id: str,
    actor: str,
    action: str,
    task_id: str,
    *,
    after_id: str | None = None,
) -> None:
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action=action,
        resource="sync-task",
        resource_id=task_id,
        after_id=after_id,
    )
