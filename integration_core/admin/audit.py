"""The audit log: every admin write, who made it, what it touched — never a secret.

An entry names the API key (or CLI user) that wrote, the action, the resource's kind and
id, and the ids before and after (e.g. the credential a connection pointed to). Values
are never recorded, so nothing a secret was written into can leak through the log.
"""

from __future__ import annotations

import secrets

from pydantic import Field

from integration_core.admin.pages import Page, paginate
from integration_core.clock import utcnow
from integration_core.models import Document, UtcDatetime
from integration_core.storage import DocumentStore

__all__ = ["AuditEntry", "list_audit", "record_write"]


class AuditEntry(Document):
    container = "admin-audit"

    actor: str
    action: str
    resource: str
    resource_id: str
    before_id: str | None = None
    after_id: str | None = None
    at: UtcDatetime = Field(default_factory=utcnow)


def record_write(
    store: DocumentStore,
    tenant_id: str,
    *,
    actor: str,
    action: str,
    resource: str,
    resource_id: str,
    before_id: str | None = None,
    after_id: str | None = None,
) -> AuditEntry:
    # Time first, so that id order (the order pages are in) is the order writes happened.
    at = utcnow()
    entry = AuditEntry(
        id=f"{at.strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(4)}",
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        resource=resource,
        resource_id=resource_id,
        before_id=before_id,
        after_id=after_id,
        at=at,
    )
    store.create(AuditEntry.container, entry.to_document())
    return entry


def list_audit(
    store: DocumentStore, tenant_id: str, *, after: str | None = None, limit: int = 50
) -> Page[AuditEntry]:
    return paginate(store, AuditEntry, tenant_id, after=after, limit=limit)
