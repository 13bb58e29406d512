"""Inbound matching: is a record the hub has never seen the same as an entity it has?

The hub stores each entity's blocking keys, so candidates come from one indexed query
(`array_contains_any`), never a scan. The best candidate's score decides: at or above the
auto-link threshold the record links to that entity; in the review band a new entity is
created but held back from other systems, and a duplicate candidate waits for an admin;
below it, a new entity. Decisions are remembered: a rejected pair is never proposed again.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from integration_core.dedup import Decision, Match, Matcher
from integration_core.dedup.options import MatchingOptions
from integration_core.errors import ConfigurationError, ConflictError
from integration_core.models import (
    DuplicateCandidate,
    DuplicateStatus,
    Entity,
    Link,
    SyncTask,
)
from integration_core.pipelines._private import hub_side, oldest_first
from integration_core.pipelines.decisions import DuplicateDecision, Lifecycle, checked, claimed
from integration_core.pipelines.links import being_created, withdraw_copies
from integration_core.pipelines.pushes import push_everywhere
from integration_core.runtime import Runtime
from integration_core.storage import Filter
from integration_core.storage.concurrency import update_document
from integration_core.sync import Policy, Side, resolve

__all__ = [
    "MAX_CANDIDATES",
    "Verdict",
    "matcher_for",
    "blocking_keys",
    "find_twin",
    "propose_duplicate",
    "awaits_duplicate_review",
    "list_duplicates",
    "decide_duplicate",
]

log = logging.getLogger(__name__)

MAX_CANDIDATES = 50
LIFECYCLE = Lifecycle(
    DuplicateCandidate,
    pending=DuplicateStatus.PENDING.value,
    in_flight={
        DuplicateStatus.CONFIRMING.value: DuplicateStatus.CONFIRMED.value,
        DuplicateStatus.REJECTING.value: DuplicateStatus.REJECTED.value,
    },
)


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    keys: list[str]  # the record's blocking keys, to store with its entity
    match: Match | None = None


def matcher_for(task: SyncTask) -> Matcher:
    """The task's matcher: its entity type's defaults with the task's `matching` options."""
    owner = f"task {task.id}"
    options = MatchingOptions.parse(task.matching, owner=owner)
    try:
        return options.matcher(task.entity_type)
    except ConfigurationError as err:  # thresholds out of order with the defaults, ...
        raise ConfigurationError(f"{owner}: invalid matching: {err}") from err


@functools.cache
def _default_matcher(entity_type: str) -> Matcher:
    return Matcher.for_entity(entity_type)


def blocking_keys(entity_type: str, values: dict[str, Any]) -> list[str]:
    """What an entity is stored with so that candidate lookup is a query."""
    return _default_matcher(entity_type).blocking_keys(values)


def find_twin(
    rt: Runtime,
    matcher: Matcher,
    *,
    tenant_id: str,
    entity_type: str,
    connection_id: str,
    entity_id: str,
    values: dict[str, Any],
) -> Verdict:
    keys = matcher.blocking_keys(values)
    if not keys:
        return Verdict(Decision.NEW, keys)
    found = rt.store.query(
        Entity.container,
        partition_key=tenant_id,
        filters=[
            Filter("entityType", "=", entity_type),
            Filter("deleted", "=", False),
            Filter("blockingKeys", "array_contains_any", keys),
        ],
        limit=MAX_CANDIDATES,
    )
    candidates = {d["id"]: d for d in found if d["id"] != entity_id}
    if not candidates:
        return Verdict(Decision.NEW, keys)
    for excluded in _already_linked(rt, tenant_id, connection_id, list(candidates)):
        candidates.pop(excluded, None)  # the system's own record of a different person
    for excluded in _rejected(rt, tenant_id, entity_id, list(candidates)):
        candidates.pop(excluded, None)
    if not candidates:
        return Verdict(Decision.NEW, keys)
    matcher.index([{**d["values"], "id": d["id"]} for d in candidates.values()])
    try:
        matches = matcher.match({**values, "id": entity_id}, limit=1)
    finally:
        for candidate_id in candidates:
            matcher.remove(candidate_id)
    if not matches:
        return Verdict(Decision.NEW, keys)
    return Verdict(matcher.decide(matches[0]), keys, matches[0])


def _already_linked(
    rt: Runtime, tenant_id: str, connection_id: str, entity_ids: list[str]
) -> set[str]:
    links = rt.store.query(
        Link.container,
        partition_key=tenant_id,
        filters=[Filter("connectionId", "=", connection_id), Filter("entityId", "in", entity_ids)],
    )
    # A copy a push made is no reason: the system's own record of the person is still to
    # come, and linking it withdraws the copy. Nor is a record linked while a push may have
    # made a copy we have no link for: this may be that copy (pipelines/links.py).
    linked = {document["entityId"] for document in links if not document.get("createdByPush")}
    return linked - being_created(rt.store, tenant_id, connection_id, list(linked))


def _rejected(rt: Runtime, tenant_id: str, entity_id: str, others: list[str]) -> set[str]:
    pair_ids = {DuplicateCandidate.make_id(entity_id, other): other for other in others}
    decided = rt.store.query(
        DuplicateCandidate.container,
        partition_key=tenant_id,
        filters=[
            Filter("id", "in", list(pair_ids)),
            Filter("status", "=", DuplicateStatus.REJECTED.value),
        ],
    )
    return {pair_ids[document["id"]] for document in decided}


def propose_duplicate(
    rt: Runtime,
    task: SyncTask,
    entity: Entity,
    match: Match,
    *,
    connection_id: str,
    external_id: str,
) -> None:
    candidate = DuplicateCandidate(
        id=DuplicateCandidate.make_id(entity.id, match.right_id),
        tenant_id=entity.tenant_id,
        entity_id=entity.id,
        candidate_entity_id=match.right_id,
        entity_type=entity.entity_type,
        connection_id=connection_id,
        external_id=external_id,
        score=match.score,
        rule=match.rule,
        explanation=match.explanation,
        target_connection_ids=task.target_connection_ids,
        policy=task.policy,
    )
    try:
        rt.store.create(DuplicateCandidate.container, candidate.to_document())
    except ConflictError:
        return  # proposed already (a redelivery)
    log.info(
        "%s may duplicate %s (score %.3f): held for review", entity.id, match.right_id, match.score
    )


def awaits_duplicate_review(rt: Runtime, entity: Entity, connection_id: str) -> bool:
    """Whether a record of `connection_id` is under review as a twin of `entity`."""
    waiting = rt.store.query(
        DuplicateCandidate.container,
        partition_key=entity.tenant_id,
        filters=[
            Filter("candidateEntityId", "=", entity.id),
            Filter("connectionId", "=", connection_id),
            Filter("status", "in", LIFECYCLE.waiting),
        ],
        limit=1,
    )
    return bool(waiting)


def list_duplicates(
    rt: Runtime, tenant_id: str, *, status: DuplicateStatus | None = DuplicateStatus.PENDING
) -> list[DuplicateCandidate]:
    return oldest_first(rt.store, DuplicateCandidate, tenant_id, status=status)


def decide_duplicate(
    rt: Runtime, tenant_id: str, candidate_id: str, *, same: bool, decided_by: str
) -> DuplicateCandidate:
    """Confirm (merge the held entity into the existing one) or reject (release it).

    The decision is claimed before the data changes (see decisions.py), so of two at once
    exactly one wins and the other raises AlreadyDecidedError.
    """
    choice = checked(DuplicateDecision, same=same, decided_by=decided_by)
    claim_as = (DuplicateStatus.CONFIRMING if choice.same else DuplicateStatus.REJECTING).value
    with claimed(
        rt.store,
        LIFECYCLE,
        tenant_id,
        candidate_id,
        claim_as=claim_as,
        decided_by=choice.decided_by,
    ) as claim:
        candidate = DuplicateCandidate.from_document(claim.document)  # ours, or one that died
        confirmed = candidate.status is DuplicateStatus.CONFIRMING
        survivor = _merge(rt, candidate) if confirmed else _release(rt, candidate)
    push_everywhere(rt, survivor, targets=candidate.target_connection_ids, generation=candidate_id)
    if not confirmed:
        # Its create in the reviewed record's system was held back for the review.
        other = Entity.from_document(
            rt.store.get(Entity.container, tenant_id, candidate.candidate_entity_id)
        )
        push_everywhere(rt, other, targets=[candidate.connection_id], generation=candidate_id)
    return DuplicateCandidate.from_document(claim.outcome())


def _release(rt: Runtime, candidate: DuplicateCandidate) -> Entity:
    def unhold(document: dict[str, Any]) -> dict[str, Any]:
        document["heldForReview"] = False
        return document

    stored = update_document(
        rt.store, Entity.container, candidate.tenant_id, candidate.entity_id, unhold
    )
    assert stored is not None
    return Entity.from_document(stored)


def _merge(rt: Runtime, candidate: DuplicateCandidate) -> Entity:
    """Fold the held entity into the existing one: values by the task's policy, links moved."""
    tenant = candidate.tenant_id
    held = Entity.from_document(rt.store.get(Entity.container, tenant, candidate.entity_id))
    if held.merged_into is not None:  # through another of its candidates
        raise ConflictError(f"entity {held.id} was merged into {held.merged_into} already")
    incoming = Side(
        system=candidate.connection_id,
        values=held.values,
        modified_at=held.modified_at,
        field_modified_at=held.field_modified_at,
    )
    policy = Policy.from_dict(candidate.policy)

    def fold(document: dict[str, Any]) -> dict[str, Any] | None:
        entity = Entity.from_document(document)
        resolution = resolve(None, hub_side(entity), incoming, policy)
        if not resolution.applied:
            return None
        times = {**entity.field_modified_at}
        for name in resolution.applied:
            times[name] = held.field_modified_at.get(name, held.modified_at)
        document.update(
            entity.model_copy(
                update={
                    "values": resolution.values,
                    "sources": resolution.sources,
                    "field_modified_at": {k: v for k, v in times.items() if k in resolution.values},
                    "blocking_keys": blocking_keys(entity.entity_type, resolution.values),
                    "modified_at": max(entity.modified_at, held.modified_at),
                }
            ).to_document()
        )
        return document

    stored = update_document(
        rt.store, Entity.container, tenant, candidate.candidate_entity_id, fold
    )
    assert stored is not None
    for document in rt.store.query(
        Link.container, partition_key=tenant, filters=[Filter("entityId", "=", held.id)]
    ):
        document["entityId"] = candidate.candidate_entity_id
        moved = Link.from_document(document)
        if not moved.created_by_push:
            # The held record is that system's own: a copy of the entity we pushed there
            # before it was read is one record too many (links.py).
            withdraw_copies(rt, moved, correlation_id=f"duplicate:{candidate.id}")
        rt.store.upsert(Link.container, document)

    def retire(document: dict[str, Any]) -> dict[str, Any]:
        document.update(mergedInto=candidate.candidate_entity_id, deleted=True)
        return document

    update_document(rt.store, Entity.container, tenant, held.id, retire)
    return Entity.from_document(stored)
