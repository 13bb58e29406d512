"""The service layer the admin API and the CLI share: every call is scoped to one tenant."""

from __future__ import annotations

from integration_core.admin.audit import AuditEntry, list_audit, record_write
from integration_core.admin.keys import (
    ApiKey,
    ApiKeyRefusedError,
    IssuedKey,
    authenticate,
    issue_key,
    list_keys,
    revoke_key,
)
from integration_core.admin.pages import Page, PageQuery, paginate

__all__ = [
    "ApiKey",
    "ApiKeyRefusedError",
    "AuditEntry",
    "IssuedKey",
    "Page",
    "PageQuery",
    "authenticate",
    "issue_key",
    "list_audit",
    "list_keys",
    "paginate",
    "record_write",
    "revoke_key",
]
