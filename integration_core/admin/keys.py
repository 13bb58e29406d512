"""Lockstep API keys: each belongs to one tenant, is shown once, and is stored hashed.

A key reads `lsk_<key id>_<secret>`: the key id finds the stored record, the whole key's
SHA-256 is compared in constant time. The secret is 256 random bits, so a fast hash is
enough (no password stretching is needed for a key nobody chose).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from integration_core.admin.audit import record_write
from integration_core.admin.pages import Page, paginate
from integration_core.clock import utcnow
from integration_core.errors import LockstepError
from integration_core.models import Document, UtcDatetime
from integration_core.storage import DocumentStore, Filter

__all__ = [
    "ApiKey",
    "ApiKeyView",
    "IssuedKeyView",
    "ApiKeyRefusedError",
    "IssuedKey",
    "authenticate",
    "issue_key",
    "list_keys",
    "revoke_key",
]

_KEY = re.compile(r"lsk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")


class ApiKeyRefusedError(LockstepError):
    """The key is missing, malformed, unknown or revoked (the caller is not told which)."""


class ApiKeyView(Document):
    """A key as the API shows it: never its hash."""

    name: str
    created_at: UtcDatetime = Field(default_factory=utcnow)
    revoked_at: UtcDatetime | None = None


class IssuedKeyView(ApiKeyView):
    """A new key as the API shows it, the one time: `key` is the only copy of the key."""

    key: str


class ApiKey(ApiKeyView):
    """A key's record; `key_hash` is never sent out (see `public`)."""

    container = "api-keys"

    key_hash: str

    def public(self) -> dict[str, Any]:
        return ApiKeyView.model_validate(self.model_dump()).to_document()


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is the only copy of the key itself."""

    key: ApiKey
    secret: str


def _hash(presented: str) -> str:
    return hashlib.sha256(presented.encode()).hexdigest()


def issue_key(store: DocumentStore, tenant_id: str, *, name: str, actor: str) -> IssuedKey:
    key_id = secrets.token_hex(8)
    secret = f"lsk_{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(id=key_id, tenant_id=tenant_id, name=name, key_hash=_hash(secret))
    store.create(ApiKey.container, key.to_document())
    record_write(
        store, tenant_id, actor=actor, action="issue", resource="api-key", resource_id=key_id
    )
    return IssuedKey(key=key, secret=secret)


def list_keys(
    store: DocumentStore, tenant_id: str, *, after: str | None = None, limit: int = 50
) -> Page[ApiKey]:
    return paginate(store, ApiKey, tenant_id, after=after, limit=limit)


def revoke_key(store: DocumentStore, tenant_id: str, key_id: str, *, actor: str) -> ApiKey:
    key = ApiKey.from_document(store.get(ApiKey.container, tenant_id, key_id))
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        store.upsert(ApiKey.container, key.to_document())
    record_write(
        store, tenant_id, actor=actor, action="revoke", resource="api-key", resource_id=key_id
    )
    return key


def authenticate(store: DocumentStore, presented: str) -> ApiKey:
    """The live key `presented` is, or ApiKeyRefusedError."""
    match = _KEY.fullmatch(presented)
    if match is None:
        raise ApiKeyRefusedError("not a Lockstep API key")
    # The key id alone does not say the tenant: one cross-partition point query.
    found = store.query(ApiKey.container, filters=[Filter("id", "=", match.group(1))], limit=1)
    if not found:
        raise ApiKeyRefusedError("unknown API key")
    key = ApiKey.from_document(found[0])
    if not hmac.compare_digest(key.key_hash, _hash(presented)) or key.revoked_at is not None:
        raise ApiKeyRefusedError("unknown or revoked API key")
    return key
