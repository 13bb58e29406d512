"""Admin decisions: what a decision may say, and the conditional write that makes it.

Two admins may decide the same conflict or duplicate at the same moment. The decision is
claimed first, as a write of the pending document conditional on the etag it was read
with: exactly one claim succeeds, the other re-reads and raises AlreadyDecidedError with
the decision that won. Only the winner touches the data. While it does, the document is
"in flight" (deciding, confirming, rejecting), which readers treat as still undecided
(outbound keeps the field, a create waits for the review); once the data is written it
becomes final (decided, confirmed, rejected). So the record never says more than the
data shows: an error while applying gives the claim back (pending again), and a request
that died in flight leaves a decision the next request completes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints, ValidationError

from integration_core.clock import from_iso, to_iso, utcnow
from integration_core.errors import (
    AlreadyDecidedError,
    LockstepError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.models import Document
from integration_core.storage import ETAG, PARTITION_KEY, DocumentStore

__all__ = [
    "DECIDED_BY_MAX_LENGTH",
    "IN_FLIGHT_LEASE",
    "ConflictDecision",
    "DuplicateDecision",
    "Lifecycle",
    "Claim",
    "checked",
    "claimed",
]

log = logging.getLogger(__name__)

DECIDED_BY_MAX_LENGTH = 200
# Longer than any request can live (Azure ends an HTTP call after 230 s): a decision in
# flight for longer was abandoned by a request that died, and the next one completes it.
IN_FLIGHT_LEASE = timedelta(minutes=10)

DecidedBy = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=DECIDED_BY_MAX_LENGTH)
]
M = TypeVar("M", bound=BaseModel)


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConflictDecision(_Decision):
    """`{"winner": "hub"|"incoming", "decided_by": "..."}`"""

    winner: Literal["hub", "incoming"]
    decided_by: DecidedBy


class DuplicateDecision(_Decision):
    """`{"same": true|false, "decided_by": "..."}`"""

    same: StrictBool
    decided_by: DecidedBy


def checked(model: type[M], **fields: Any) -> M:
    """`model` from keyword arguments, or PermanentError saying what is wrong (no input echoed)."""
    try:
        return model.model_validate(fields)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
            for e in err.errors(include_input=False, include_url=False)
        )
        raise PermanentError(f"invalid decision: {problems}") from None


@dataclass(frozen=True)
class Lifecycle:
    """The statuses of a decision on `model`: `pending`, then one of `in_flight` while its
    effects are applied, then the final status that in-flight status maps to.
    """

    model: type[Document]
    pending: str
    in_flight: Mapping[str, str]

    @property
    def waiting(self) -> list[str]:
        """What readers must treat as undecided: pending, or decided but not yet applied."""
        return [self.pending, *self.in_flight]


@dataclass
class Claim:
    """The decision's document: in flight inside the `with` block, final after it.

    `ours` is False when the decision is one whose request died, completed by this one.
    """

    model: type[Document]
    document: dict[str, Any]
    ours: bool

    def outcome(self) -> dict[str, Any]:
        """The final document of our decision, or AlreadyDecidedError naming the other."""
        if not self.ours:
            raise AlreadyDecidedError(
                f"{self.model.container}/{self.document['id']} was decided already;"
                " that decision is now applied",
                decision=self.model.from_document(self.document).to_document(),
            )
        return self.document


@contextmanager
def claimed(
    store: DocumentStore,
    lifecycle: Lifecycle,
    tenant_id: str,
    id: str,
    *,
    claim_as: str,
    decided_by: str,
    attempts: int = 8,
    **fields: Any,
) -> Iterator[Claim]:
    """Claim a decision on a pending document, apply it in the block, then mark it final.

    The claim is the conditional write: `claim_as` (an in-flight status), `decided_by`,
    now and `fields`. Raises AlreadyDecidedError when the document is decided or being
    decided. A decision whose request died in flight (older than IN_FLIGHT_LEASE) is
    completed instead: the block applies that recorded decision, and `Claim.outcome()`
    then names it. An error inside the block gives our claim back.
    """
    model, now = lifecycle.model, utcnow()
    for _ in range(attempts):
        before = store.get(model.container, tenant_id, id)
        status = before.get("status")
        ours = status == lifecycle.pending
        if ours:
            update = {"status": claim_as, "decidedBy": decided_by, "decidedAt": to_iso(now)}
            update |= fields
        elif status in lifecycle.in_flight and _abandoned(before, now):
            update = {"decidedAt": to_iso(now)}  # take over its lease, keep its decision
        else:
            raise AlreadyDecidedError(
                f"{model.container}/{id} was decided already ({status})",
                decision=model.from_document(before).to_document(),
            )
        try:
            after = store.upsert(model.container, {**before, **update}, if_match=before[ETAG])
        except PreconditionFailedError:
            log.debug("%s/%s changed while deciding: read again", model.container, id)
            continue
        claim = Claim(model, after, ours)
        try:
            yield claim
        except BaseException:
            if ours:
                _give_back(store, model, before, after)
            raise
        claim.document = _finish(store, model, after, lifecycle.in_flight[after["status"]])
        if not ours:
            log.warning("%s/%s: completed a decision whose request died", model.container, id)
        return
    raise RetryableError(f"{model.container}/{id}: still contended after {attempts} attempts")


def _abandoned(document: dict[str, Any], now: datetime) -> bool:
    decided_at = document.get("decidedAt")
    return decided_at is None or from_iso(decided_at) < now - IN_FLIGHT_LEASE


def _finish(
    store: DocumentStore, model: type[Document], claimed: dict[str, Any], status: str
) -> dict[str, Any]:
    try:
        return store.upsert(model.container, {**claimed, "status": status}, if_match=claimed[ETAG])
    except PreconditionFailedError:  # finished by whoever took over our lease
        return store.get(model.container, claimed[PARTITION_KEY], claimed["id"])


def _give_back(
    store: DocumentStore, model: type[Document], before: dict[str, Any], after: dict[str, Any]
) -> None:
    try:
        store.upsert(model.container, before, if_match=after[ETAG])
    except LockstepError:  # the error that made us give it back is the one to raise
        log.exception("%s/%s: could not give back a failed decision", model.container, before["id"])
