"""Sync tasks (create, list, get, update, run now, pause, resume, delete) and their results.

A task's policy, matching and mapping are validated by the parsers the pipelines use, so a
task the API accepts is one the pipelines can run; its connections must exist in the
tenant, and its mode must agree with the other tasks of its type (a connection whose task
is pull-only is no task's target). A result is `running` (with the tally so far) from the
moment a run is queued until it is recorded, then `success`, `partial` or `failed`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from integration_core.admin.audit import record_write
from integration_core.admin.connections import InvalidRequestError
from integration_core.admin.pages import Page, newest_first, paginate
from integration_core.admin.requests import TaskCreate, TaskUpdate
from integration_core.clock import utcnow
from integration_core.dedup.options import MatchingOptions
from integration_core.errors import ConfigurationError, ConflictError, NotFoundError
from integration_core.mapping import MappingError, default_mapping
from integration_core.messaging import INBOUND_QUEUE
from integration_core.models import (
    Connection,
    SyncMessage,
    SyncMode,
    SyncResult,
    SyncTask,
    Trigger,
    UtcDatetime,
)
from integration_core.pipelines.results import PROGRESS, Tally, record_progress
from integration_core.pipelines.scheduler import pull_message
from integration_core.ports import adapter_factory
from integration_core.runtime import Runtime
from integration_core.storage import ETAG, Filter
from integration_core.storage.concurrency import get_or_none
from integration_core.sync.policy import Policy

__all__ = [
    "Progress",
    "ResultStatus",
    "ResultView",
    "RunStarted",
    "enqueue_pull",
    "reading_task",
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

ResultStatus = Literal["running", "success", "partial", "failed"]


class Progress(BaseModel):
    """How far a running sync is: pages read so far, and when it last reported."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    pages: int
    updated_at: UtcDatetime


class ResultView(SyncResult):
    """A result with its status; a running one has no `finishedAt` and has `progress`."""

    status: ResultStatus
    finished_at: UtcDatetime | None = None  # type: ignore[assignment]
    progress: Progress | None = None


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
    _check_mapping(rt, tenant_id, task)
    _check_mode(rt, tenant_id, task)


def _check_mapping(rt: Runtime, tenant_id: str, task: SyncTask) -> None:
    """The connection's system has the entity type, and the overrides apply to its default."""
    connection = Connection.from_document(
        rt.store.get(Connection.container, tenant_id, task.connection_id)
    )
    adapter_factory(connection.system)  # its module registers the default mappings
    try:
        default = default_mapping(connection.system, task.entity_type)
        if task.mapping:
            default.with_overrides(task.mapping)
    except MappingError as err:
        raise InvalidRequestError(f"invalid mapping: {err}") from None


def _check_mode(rt: Runtime, tenant_id: str, task: SyncTask) -> None:
    if task.mode is SyncMode.PUSH and task.target_connection_ids:
        raise InvalidRequestError(
            "a push-only task reads nothing, so it has no targets: list its connection"
            " among the targets of the tasks that read"
        )
    others = [
        SyncTask.from_document(document)
        for document in rt.store.query(
            SyncTask.container,
            partition_key=tenant_id,
            filters=[Filter("entityType", "=", task.entity_type)],
        )
        if document["id"] != task.id
    ]
    pull_only = {t.connection_id for t in others if t.mode is SyncMode.PULL}
    refused = sorted(pull_only.intersection(task.target_connection_ids))
    if refused:
        raise InvalidRequestError(
            f"connections {refused} are pull-only for {task.entity_type}: nothing is pushed there"
        )
    if task.mode is SyncMode.PULL:
        targeting = sorted(t.id for t in others if task.connection_id in t.target_connection_ids)
        if targeting:
            raise InvalidRequestError(
                f"tasks {targeting} push {task.entity_type} records to {task.connection_id!r};"
                " it cannot be pull-only"
            )


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


def reading_task(rt: Runtime, tenant_id: str, task_id: str) -> SyncTask:
    """The task, if the hub reads from its connection (InvalidRequestError if push-only)."""
    task = get_task(rt, tenant_id, task_id)
    if not task.mode.reads:
        raise InvalidRequestError(f"task {task_id!r} is push-only: nothing is read to run")
    return task


def enqueue_pull(rt: Runtime, message: SyncMessage, task: SyncTask) -> None:
    """Queue a pull, its result `running` (nothing done yet) until a worker records it."""
    record_progress(rt.store, message, Tally(), task_id=task.id, pages=0)
    rt.queue.send(INBOUND_QUEUE, message)


def run_task_now(rt: Runtime, tenant_id: str, task_id: str, *, actor: str) -> str:
    """Enqueue a pull now; its result will be stored under the returned message id."""
    task = reading_task(rt, tenant_id, task_id)
    message = pull_message(task, utcnow(), trigger=Trigger.MANUAL)
    enqueue_pull(rt, message, task)
    _audit(rt, tenant_id, actor, "run", task_id, after_id=message.message_id)
    return message.message_id


def result_view(result: SyncResult) -> dict[str, Any]:
    """The stored result with its status: failed (errors and nothing done), partial (errors
    or failed records, and some work done) or success.
    """
    done = result.records_read + result.created + result.updated + result.pushed
    status: ResultStatus = "success"
    if result.errors or result.failed:
        status = "partial" if done else "failed"
    return ResultView.model_validate(result.model_dump() | {"status": status}).to_document()


def _running_view(progress: dict[str, Any]) -> dict[str, Any]:
    started = datetime.fromisoformat(progress["startedAt"])
    counts = {to_camel(name): value for name, value in progress["counts"].items()}
    view = ResultView.model_validate(
        counts
        | {
            "id": progress["id"],
            "tenantId": progress["tenantId"],
            "taskId": progress.get("taskId"),
            "connectionId": progress["connectionId"],
            "direction": "inbound",
            "correlationId": progress["correlationId"],
            "trigger": progress.get("trigger"),
            "startedAt": started,
            "durationMs": (utcnow() - started).total_seconds() * 1000,
            "status": "running",
            "progress": {"pages": progress["pages"], "updatedAt": progress["updatedAt"]},
        }
    )
    return view.to_document()


def get_result(rt: Runtime, tenant_id: str, result_id: str) -> dict[str, Any]:
    """A recorded result, or a running sync's tally so far."""
    try:
        found = rt.store.get(SyncResult.container, tenant_id, result_id)
    except NotFoundError:
        running = get_or_none(rt.store, PROGRESS, tenant_id, result_id)
        if running is None:
            raise
        return _running_view(running)
    return result_view(SyncResult.from_document(found))


def list_results(
    rt: Runtime, tenant_id: str, task_id: str, *, after: str | None = None, limit: int = 50
) -> Page[SyncResult]:
    """The task's runs, newest first (a timeline)."""
    get_task(rt, tenant_id, task_id)  # not found, rather than an empty list
    return newest_first(
        rt.store,
        SyncResult,
        tenant_id,
        time_field="startedAt",
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
