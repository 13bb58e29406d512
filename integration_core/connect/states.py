"""The `state` of an OAuth connect flow: random, single-use, bound to one tenant and one
connection, expiring, kept server-side with the PKCE verifier.

The callback is anonymous, so the state is its only authentication (RFC 6749 §10.12: it
binds the authorization response to the flow Lockstep started). The value itself is 256
random bits and is never stored: the document's id is its SHA-256, so neither the store
nor its backups can replay a flow. The document lives in `oauth-states` (TTL: the
container's 10 minutes cleans up after flows never finished); the expiry is also checked
here, since a TTL purge may lag.

Single use: the callback marks the document used with a conditional write on its etag; of
two callbacks presenting one state, exactly one wins, and the other (or any later replay)
is told the state was already used.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from integration_core.clock import utcnow
from integration_core.errors import PermanentError, PreconditionFailedError
from integration_core.models import Document, UtcDatetime
from integration_core.storage import ETAG, DocumentStore, Filter

__all__ = [
    "STATE_TTL",
    "ConnectState",
    "StateProblem",
    "StateRefusedError",
    "consume_state",
    "issue_state",
]

STATE_TTL = timedelta(minutes=10)
# What `secrets.token_urlsafe` makes; anything else is refused before a store query.
_STATE_TEXT = re.compile(r"[A-Za-z0-9_-]{20,128}")


class StateProblem(StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


class StateRefusedError(PermanentError):
    """The callback's state is not one this deployment issued, was used, or expired."""

    def __init__(self, problem: StateProblem) -> None:
        super().__init__(f"the connect state is {problem.value}")
        self.problem = problem


class ConnectState(Document):
    """One started connect flow. `code_verifier` is the PKCE secret (RFC 7636 §4.1): it
    leaves the server only in the token request, to the provider that issued the code."""

    container: ClassVar[str] = "oauth-states"

    connection_id: str
    system: str
    redirect_uri: str
    code_verifier: str
    actor: str
    created_at: UtcDatetime
    expires_at: UtcDatetime
    used_at: UtcDatetime | None = None
    ttl: int = int(STATE_TTL.total_seconds())


def _state_id(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def issue_state(
    store: DocumentStore,
    tenant_id: str,
    connection_id: str,
    *,
    system: str,
    redirect_uri: str,
    actor: str,
    now: datetime | None = None,
) -> tuple[str, ConnectState]:
    """A new state value (for the authorize URL) and its stored document."""
    state = secrets.token_urlsafe(32)
    created = now or utcnow()
    document = ConnectState(
        id=_state_id(state),
        tenant_id=tenant_id,
        connection_id=connection_id,
        system=system,
        redirect_uri=redirect_uri,
        # 64 random bytes: 86 characters of the unreserved set, within RFC 7636's 43–128.
        code_verifier=secrets.token_urlsafe(64),
        actor=actor,
        created_at=created,
        expires_at=created + STATE_TTL,
    )
    store.create(ConnectState.container, document.to_document())
    return state, document


def consume_state(store: DocumentStore, state: str, *, now: datetime | None = None) -> ConnectState:
    """The flow `state` started, marked used; `StateRefusedError` when it is unknown, used
    or expired.
    """
    if not _STATE_TEXT.fullmatch(state):
        raise StateRefusedError(StateProblem.UNKNOWN)
    # The callback does not know the tenant: one cross-partition point query by id.
    found = store.query(ConnectState.container, filters=[Filter("id", "=", _state_id(state))])
    if not found:
        raise StateRefusedError(StateProblem.UNKNOWN)
    document = found[0]
    flow = ConnectState.from_document(document)
    if flow.used_at is not None:
        raise StateRefusedError(StateProblem.USED)
    at = now or utcnow()
    if at >= flow.expires_at:
        raise StateRefusedError(StateProblem.EXPIRED)
    flow.used_at = at
    try:
        store.upsert(ConnectState.container, flow.to_document(), if_match=document[ETAG])
    except PreconditionFailedError:
        raise StateRefusedError(StateProblem.USED) from None
    return flow
