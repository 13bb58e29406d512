"""Credential metadata and token-refresh audit documents. No secret value lives here."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from integration_core.clock import utcnow
from integration_core.credentials.types import CredentialType
from integration_core.models import Document, UtcDatetime

__all__ = [
    "NEVER_VALID",
    "CredentialStatus",
    "CredentialRecord",
    "RefreshOutcome",
    "TokenRefreshAudit",
]

# The expiry recorded for a refreshable credential stored without an access token: it is
# due at once, both for on-use refresh and for the TokenRefresher's scan.
NEVER_VALID = datetime(1970, 1, 1, tzinfo=UTC)


class CredentialStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"


class CredentialRecord(Document):
    """Metadata of one credential (container `credentials`); its value is in the SecretStore.

    `secret_version` is the commit point: a refresh writes a new secret version and then
    switches this pointer with an etag-conditional write, so readers never see a torn state.
    `fence` is the Redis lock's fencing token of the last refresh that claimed the record.
    """

    container: ClassVar[str] = "credentials"

    connection_id: str
    name: str = "default"
    credential_type: CredentialType
    refreshable: bool
    secret_name: str
    secret_version: str
    status: CredentialStatus = CredentialStatus.ACTIVE
    expires_at: UtcDatetime | None = None
    # The API host the last token answer named (Salesforce's org); None: the connection's.
    instance_url: str | None = None
    refresh_count: int = 0
    last_refreshed_at: UtcDatetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    fence: int = 0
    owner: str | None = None
    previous_secret_version: str | None = None
    previous_valid_until: UtcDatetime | None = None
    created_at: UtcDatetime = Field(default_factory=utcnow)
    updated_at: UtcDatetime = Field(default_factory=utcnow)


class RefreshOutcome(StrEnum):
    REFRESHED = "refreshed"
    ALREADY_FRESH = "already_fresh"
    NEEDS_REAUTH = "needs_reauth"
    RETRYABLE_ERROR = "retryable_error"
    ERROR = "error"


class TokenRefreshAudit(Document):
    """One refresh attempt (container `token-refresh`, TTL 90 days)."""

    container: ClassVar[str] = "token-refresh"
    default_ttl_seconds: ClassVar[int] = 90 * 24 * 3600

    connection_id: str
    credential_id: str
    credential_type: CredentialType
    trigger: str
    outcome: RefreshOutcome
    attempt: int
    started_at: UtcDatetime
    duration_ms: float
    new_expires_at: UtcDatetime | None = None
    refresh_count: int = 0
    error: str | None = None
    fence: int | None = None
    distributed_lock: bool = True
    ttl: int = default_ttl_seconds
