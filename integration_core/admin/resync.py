"""Resync a sync task: read its connection's records from the start again, keeping records.

The real run is a pull from the start (not from the task's cursor) through the inbound
pipeline: every entity and link stays, what is unchanged is recognised as such (replays),
what changed merges by the task's policy, and a record missing from the listing is not a
delete. The dry run reads the same listing and answers, per record, what that run would do
— create, update (with each field's value before and after), delete, unchanged, or fail
(with the reason) — from the pipeline's own pure decision, writing nothing: no document,
no record in any system.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from integration_core.admin.audit import record_write
from integration_core.admin.tasks import enqueue_pull, reading_task
from integration_core.clock import to_iso, utcnow
from integration_core.dedup import Decision, Matcher
from integration_core.errors import PermanentError
from integration_core.mapping import ObjectMapping
from integration_core.models import (
    Change,
    Connection,
    Entity,
    Link,
    MessageKind,
    SyncMessage,
    SyncTask,
    Trigger,
    deterministic_id,
)
from integration_core.pipelines.decision import Incoming, decide_change
from integration_core.pipelines.inbound import FROM_START
from integration_core.pipelines.links import is_retired, nothing_new
from integration_core.pipelines.mappings import task_mapping
from integration_core.pipelines.matching import find_twin, matcher_for
from integration_core.pipelines.results import Tally
from integration_core.pipelines.throttle import take_budget
from integration_core.runtime import Runtime
from integration_core.storage.concurrency import get_or_none
from integration_core.sync import Policy

__all__ = [
    "MAX_DRY_RUN_RECORDS",
    "FieldChange",
    "RecordDiff",
    "ResyncDiff",
    "DryRunQuery",
    "dry_run",
    "start_resync",
]

MAX_DRY_RUN_RECORDS = 10_000
Action = Literal["create", "update", "delete", "unchanged", "fail"]


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class DryRunQuery(BaseModel):
    """`?maxRecords=`: stop reading after about this many records (a page at most more)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    max_records: int = Field(default=1000, ge=1, le=MAX_DRY_RUN_RECORDS)


class FieldChange(_Camel):
    before: Any = None
    after: Any = None


class RecordDiff(_Camel):
    external_id: str
    action: Action
    entity_id: str | None = None
    changes: dict[str, FieldChange] = Field(default_factory=dict)
    conflicts: int = 0  # fields left for an admin's decision
    reason: str | None = None


class ResyncDiff(_Camel):
    """What a resync would do; `complete` is false when the listing went on past
    `maxRecords` (the counts are of the records read)."""

    task_id: str
    complete: bool
    counts: dict[str, int]
    records: list[RecordDiff]


def dry_run(rt: Runtime, tenant_id: str, task_id: str, *, max_records: int = 1000) -> ResyncDiff:
    task = reading_task(rt, tenant_id, task_id)
    connection = Connection.from_document(
        rt.store.get(Connection.container, tenant_id, task.connection_id)
    )
    records: list[RecordDiff] = []
    complete = True
    with rt.connectors.adapter_for(connection) as adapter:
        mapping = task_mapping(adapter, task)
        judge = _Judge(rt, task, mapping, Policy.from_dict(task.policy), matcher_for(task))
        cursor: str | None = None
        while True:
            take_budget(rt, adapter, tally=Tally())  # a dry run records no result
            page = adapter.read_changes(
                task.entity_type, cursor, page_size=rt.settings.sync_page_size
            )
            for rejected in page.rejected:
                records.append(
                    RecordDiff(
                        external_id=rejected.external_id or "unknown",
                        action="fail",
                        reason=rejected.reason,
                    )
                )
            records.extend(judge.diff(change) for change in page.changes)
            cursor = page.cursor
            if not page.has_more:
                break
            if len(records) >= max_records:
                complete = False
                break
    counts = dict.fromkeys(("create", "update", "delete", "unchanged", "fail"), 0)
    for record in records:
        counts[record.action] += 1
    return ResyncDiff(task_id=task.id, complete=complete, counts=counts, records=records)


def start_resync(rt: Runtime, tenant_id: str, task_id: str, *, actor: str) -> str:
    """Queue the real run; its result is stored under the returned id."""
    task = reading_task(rt, tenant_id, task_id)
    now = to_iso(utcnow())
    message_id = deterministic_id("resync", tenant_id, task.id, now)
    message = SyncMessage(
        message_id=message_id,
        tenant_id=tenant_id,
        connection_id=task.connection_id,
        kind=MessageKind.PULL,
        correlation_id=message_id,
        trigger=Trigger.RESYNC,
        payload={"task_id": task.id, "due_at": now, FROM_START: True},
    )
    enqueue_pull(rt, message, task)
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action="resync",
        resource="sync-task",
        resource_id=task.id,
        after_id=message_id,
    )
    return message_id


class _Judge:
    """Inbound's choices for one record (inbound.py), asked without carrying them out."""

    def __init__(
        self,
        rt: Runtime,
        task: SyncTask,
        mapping: ObjectMapping,
        policy: Policy,
        matcher: Matcher,
    ) -> None:
        self.rt, self.task, self.mapping, self.policy, self.matcher = (
            rt,
            task,
            mapping,
            policy,
            matcher,
        )

    def diff(self, change: Change) -> RecordDiff:
        try:
            canonical = self.mapping.to_canonical(change.values, record_id=change.external_id)
        except PermanentError as err:
            return RecordDiff(external_id=change.external_id, action="fail", reason=str(err))
        store, tenant = self.rt.store, self.task.tenant_id
        found = get_or_none(
            store, Link.container, tenant, Link.make_id(self.task.connection_id, change.external_id)
        )
        if found is None:
            return self._unlinked(change, canonical)
        link = Link.from_document(found)
        if is_retired(link) or (link.withdrawn and change.deleted):
            return RecordDiff(external_id=change.external_id, action="unchanged")
        if nothing_new(link, change, canonical):
            return RecordDiff(
                external_id=change.external_id, action="unchanged", entity_id=link.entity_id
            )
        return self._merged(change, canonical, link.entity_id, base=link.base)

    def _unlinked(self, change: Change, canonical: dict[str, Any]) -> RecordDiff:
        if change.deleted:
            return RecordDiff(external_id=change.external_id, action="unchanged")
        tenant, connection_id = self.task.tenant_id, self.task.connection_id
        entity_id = deterministic_id("entity", tenant, connection_id, change.external_id)
        if get_or_none(self.rt.store, Entity.container, tenant, entity_id) is None:
            verdict = find_twin(
                self.rt,
                self.matcher,
                tenant_id=tenant,
                entity_type=self.task.entity_type,
                connection_id=connection_id,
                entity_id=entity_id,
                values=canonical,
            )
            if verdict.decision is not Decision.LINK or verdict.match is None:
                changes = {k: FieldChange(after=v) for k, v in sorted(canonical.items())}
                return RecordDiff(
                    external_id=change.external_id,
                    action="create",
                    entity_id=entity_id,
                    changes=changes,
                )
            entity_id = verdict.match.right_id
        return self._merged(change, canonical, entity_id, base=None)

    def _merged(
        self,
        change: Change,
        canonical: dict[str, Any],
        entity_id: str,
        *,
        base: dict[str, Any] | None,
    ) -> RecordDiff:
        found = get_or_none(self.rt.store, Entity.container, self.task.tenant_id, entity_id)
        if found is None:
            return RecordDiff(
                external_id=change.external_id, action="unchanged", entity_id=entity_id
            )
        entity = Entity.from_document(found)
        decision = decide_change(
            entity,
            Incoming(
                source=self.task.connection_id,
                values=canonical,
                modified_at=change.modified_at,
                deleted=change.deleted,
            ),
            base=base,
            policy=self.policy,
            delete_rule=self.task.delete_rule,
            matcher=self.matcher,
            fields=self.mapping.canonical_fields,
        )
        after = decision.entity
        action: Action = "unchanged"
        if decision.changed:
            gone = (after.deleted or after.archived) and not (entity.deleted or entity.archived)
            action = "delete" if gone else "update"
        changes = {
            name: FieldChange(before=entity.values.get(name), after=after.values.get(name))
            for name in sorted(set(entity.values) | set(after.values))
            if entity.values.get(name) != after.values.get(name)
        }
        return RecordDiff(
            external_id=change.external_id,
            action=action,
            entity_id=entity.id,
            changes=changes,
            conflicts=len(decision.conflicts),
        )
