"""Admin decisions: what a decision may say, and the conditional write that makes it.

Two admins may decide the same conflict or duplicate at the same moment. The decision is
claimed first, as a write of the pending document conditional on the etag it was read
with: exactly one claim succeeds, the other re-reads and raises AlreadyDecidedError with
the decision that won. Only the winner touches the data, so the stored decision and the
data agree. If applying the decision fails, the claim is given back (conditionally again)
and the document is pending as before, so the decision can be made again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints, ValidationError

from integration_core.clock import to_iso, utcnow
from integration_core.errors import (
    AlreadyDecidedError,
    LockstepError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.models import Document
from integration_core.storage import ETAG, DocumentStore

__all__ = [
    "DECIDED_BY_MAX_LENGTH",
    "ConflictDecision",
    "DuplicateDecision",
    "checked",
    "claimed",
]

log = logging.getLogger(__name__)

DECIDED_BY_MAX_LENGTH = 200

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


@contextmanager
def claimed(
    store: DocumentStore,
    model: type[Document],
    tenant_id: str,
    id: str,
    *,
    pending: str,
    status: str,
    decided_by: str,
    attempts: int = 8,
    **fields: Any,
) -> Iterator[dict[str, Any]]:
    """Claim the decision (`status`, `decided_by`, now, `fields`) on a pending document.

    Yields the decided document. Raises AlreadyDecidedError when it is not pending (any
    more). An error inside the block gives the claim back, so nothing is recorded that the
    data does not show.
    """
    decision = {"status": status, "decidedBy": decided_by, "decidedAt": to_iso(utcnow()), **fields}
    for _ in range(attempts):
        before = store.get(model.container, tenant_id, id)
        if before.get("status") != pending:
            raise AlreadyDecidedError(
                f"{model.container}/{id} was decided already ({before.get('status')})",
                decision=model.from_document(before).to_document(),
            )
        try:
            after = store.upsert(model.container, {**before, **decision}, if_match=before[ETAG])
        except PreconditionFailedError:
            log.debug("%s/%s changed while deciding: read again", model.container, id)
            continue
        try:
            yield after
        except BaseException:
            _give_back(store, model, before, after)
            raise
        return
    raise RetryableError(f"{model.container}/{id}: still contended after {attempts} attempts")


def _give_back(
    store: DocumentStore, model: type[Document], before: dict[str, Any], after: dict[str, Any]
) -> None:
    try:
        store.upsert(model.container, before, if_match=after[ETAG])
    except LockstepError:  # the error that made us give it back is the one to raise
        log.exception("%s/%s: could not give back a failed decision", model.container, before["id"])
