"""Connections: create with a credential, test, list, get, update, disable, delete.

A connection's credential goes to the credential service (its secret to the secret store);
responses carry the connection only. Deleting a connection deletes its secret too, and is
refused while a sync task still reads from or writes to it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel

from integration_core.admin.audit import record_write
from integration_core.admin.pages import Page, paginate
from integration_core.admin.requests import ConnectionCreate, ConnectionUpdate
from integration_core.credentials.types import CredentialSecret, parse_secret
from integration_core.errors import (
    ConfigurationError,
    ConflictError,
    LockstepError,
    NotFoundError,
    PermanentError,
)
from integration_core.models import Connection, ConnectionStatus, SyncTask
from integration_core.net import OutboundPolicyError
from integration_core.ports.registry import adapter_factory
from integration_core.runtime import Runtime
from integration_core.storage import ETAG
from integration_core.storage.concurrency import get_or_none

__all__ = [
    "ConnectionCheck",
    "InvalidRequestError",
    "check_connection",
    "create_connection",
    "delete_connection",
    "disable_connection",
    "get_connection",
    "list_connections",
    "check_connection",
    "update_connection",
]

log = logging.getLogger(__name__)


class InvalidRequestError(PermanentError):
    """The request is well-formed but cannot be done as asked (unknown system, bad payload)."""


def _secret(payload: Mapping[str, Any]) -> CredentialSecret:
    try:
        return parse_secret(dict(payload))
    except ConfigurationError as err:  # names fields, never values
        raise InvalidRequestError(str(err)) from None


def _store(
    rt: Runtime, tenant_id: str, connection_id: str, secret: CredentialSecret, *, actor: str
) -> str:
    """The credential stored; one it names a refused API host with is bad input."""
    try:
        return rt.credentials.store_credential(tenant_id, connection_id, secret, owner=actor).id
    except OutboundPolicyError as err:
        raise InvalidRequestError(str(err)) from None


def _checked_config(system: str, config: Mapping[str, Any]) -> None:
    """A known system, and a config its adapter accepts (the error names the field)."""
    try:
        adapter_factory(system).validate_config(dict(config))
    except ConfigurationError as err:
        raise InvalidRequestError(str(err)) from None


def get_connection(rt: Runtime, tenant_id: str, connection_id: str) -> Connection:
    return Connection.from_document(rt.store.get(Connection.container, tenant_id, connection_id))


def list_connections(
    rt: Runtime, tenant_id: str, *, after: str | None = None, limit: int = 50
) -> Page[Connection]:
    return paginate(rt.store, Connection, tenant_id, after=after, limit=limit)


def create_connection(
    rt: Runtime, tenant_id: str, request: ConnectionCreate, *, actor: str
) -> Connection:
    """Everything is checked before anything is written; the credential is stored before
    the connection exists, so a connection never appears without the credential it was
    created with.
    """
    _checked_config(request.system, request.config)
    secret = _secret(request.credential) if request.credential is not None else None
    if get_or_none(rt.store, Connection.container, tenant_id, request.id) is not None:
        raise ConflictError(f"connection {request.id!r} already exists")
    credential_id = None
    if secret is not None:
        credential_id = _store(rt, tenant_id, request.id, secret, actor=actor)
    connection = Connection(
        id=request.id,
        tenant_id=tenant_id,
        system=request.system,
        display_name=request.display_name,
        config=request.config,
        credential_id=credential_id,
    )
    rt.store.create(Connection.container, connection.to_document())
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action="create",
        resource="connection",
        resource_id=connection.id,
        after_id=credential_id,
    )
    return connection


def update_connection(
    rt: Runtime, tenant_id: str, connection_id: str, request: ConnectionUpdate, *, actor: str
) -> Connection:
    document = rt.store.get(Connection.container, tenant_id, connection_id)
    connection = Connection.from_document(document)
    secret = _secret(request.credential) if request.credential is not None else None
    before = connection.credential_id
    if secret is not None:
        connection.credential_id = _store(rt, tenant_id, connection_id, secret, actor=actor)
    changes = request.model_dump(exclude_none=True, exclude={"credential"})
    # Validated as a whole: what is stored must be a connection every reader can parse.
    updated = Connection.model_validate(connection.model_dump() | changes)
    _checked_config(updated.system, updated.config)
    rt.store.upsert(Connection.container, updated.to_document(), if_match=document[ETAG])
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action="update",
        resource="connection",
        resource_id=connection_id,
        before_id=before,
        after_id=updated.credential_id,
    )
    return updated


def disable_connection(
    rt: Runtime, tenant_id: str, connection_id: str, *, actor: str
) -> Connection:
    """Its syncs stop (the scheduler enqueues only for active connections)."""
    document = rt.store.get(Connection.container, tenant_id, connection_id)
    connection = Connection.from_document(document)
    connection.status = ConnectionStatus.DISABLED
    rt.store.upsert(Connection.container, connection.to_document(), if_match=document[ETAG])
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action="disable",
        resource="connection",
        resource_id=connection_id,
    )
    return connection


def delete_connection(rt: Runtime, tenant_id: str, connection_id: str, *, actor: str) -> None:
    connection = get_connection(rt, tenant_id, connection_id)
    users = [
        d["id"]
        for d in rt.store.query(SyncTask.container, partition_key=tenant_id)
        if connection_id == d["connectionId"] or connection_id in d["targetConnectionIds"]
    ]
    if users:
        raise ConflictError(f"sync tasks {sorted(users)} use this connection; delete them first")
    if connection.credential_id is not None:
        try:
            rt.credentials.delete_credential(tenant_id, connection.credential_id)
        except NotFoundError:
            log.info("connection %s: its credential was already gone", connection_id)
    rt.store.delete(Connection.container, tenant_id, connection_id)
    record_write(
        rt.store,
        tenant_id,
        actor=actor,
        action="delete",
        resource="connection",
        resource_id=connection_id,
        before_id=connection.credential_id,
    )


class ConnectionCheck(BaseModel):
    ok: bool
    error: str | None = None
    detail: str | None = None


def check_connection(rt: Runtime, tenant_id: str, connection_id: str) -> dict[str, Any]:
    """Calls the adapter's health check with the stored credential. A failure is the
    answer, not an error: its kind, and Lockstep's own message (never a provider body).
    """
    connection = get_connection(rt, tenant_id, connection_id)
    try:
        rt.connectors.adapter_for(connection).health()
    except LockstepError as err:
        found = ConnectionCheck(ok=False, error=type(err).__name__, detail=str(err))
    except httpx.HTTPError as err:
        found = ConnectionCheck(
            ok=False, error=type(err).__name__, detail="the system did not answer"
        )
    else:
        found = ConnectionCheck(ok=True)
    return found.model_dump(exclude_none=True)
