"""The refresher: one token endpoint call per credential, whatever the number of instances.

Refresh protocol (one credential):
1. take the refresh lock (Redis lease + fencing token; local lock when Redis is down);
2. re-read the metadata: if another worker already refreshed, use its result;
3. claim the record with our fence (etag-conditional write);
4. call the token endpoint once;
5. write the new payload, *including a rotated refresh token*, as a new secret version;
6. switch the metadata to that version (etag-conditional; a later fence wins).
Only after step 6 does anyone use the new access token. Retryable failures back off
outside the lock; a dead grant marks the credential `needs_reauth` and emits an event
(the pipelines pause the connection's syncs on it). Every attempt writes an audit row.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from integration_core.credentials.events import CredentialEventKind, EventSink, emit
from integration_core.credentials.instance_url import checked_instance_url
from integration_core.credentials.lock import LockLease, RefreshLock
from integration_core.credentials.oauth import ReauthRequiredError, fetch_token
from integration_core.credentials.records import (
    CredentialRecord,
    CredentialStatus,
    RefreshOutcome,
    TokenRefreshAudit,
)
from integration_core.credentials.repository import CredentialRepository
from integration_core.credentials.types import (
    CredentialSecret,
    GitHubApp,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
    OAuth2JwtBearer,
)
from integration_core.errors import AuthError, LockstepError, RetryableError
from integration_core.net import OutboundPolicy, OutboundPolicyError

__all__ = ["RetryPolicy", "RefreshResult", "Refresher", "raise_if_needs_reauth", "log_fields"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for retryable refresh failures: attempt n waits up to base * 2**n (jittered)."""

    attempts: int = 3
    base_seconds: float = 0.5
    max_seconds: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * (2**attempt))
        wait = random.uniform(0, ceiling)  # noqa: S311 - jitter, not security
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_seconds))
        return wait


@dataclass(frozen=True)
class RefreshResult:
    """How one `refresh` call ended (also written as audit rows, one per attempt)."""

    tenant_id: str
    credential_id: str
    connection_id: str
    outcome: RefreshOutcome
    attempts: int
    duration_ms: float
    expires_at: datetime | None
    error: str | None = None


class _Superseded(RetryableError):
    """A later lock holder claimed the record; our result must not be committed."""


def raise_if_needs_reauth(record: CredentialRecord) -> None:
    if record.status is CredentialStatus.NEEDS_REAUTH:
        raise ReauthRequiredError(
            f"connection {record.connection_id} needs re-authorization",
            error_code=record.last_error or "needs_reauth",
        )


def log_fields(record: CredentialRecord) -> dict[str, Any]:
    """A credential's ids for `extra=`; the tenant comes from the log context."""
    return {
        "connection_id": record.connection_id,
        "credential_id": record.id,
    }


class Refresher:
    """Refreshes, rotates and gives up on credentials, under the refresh lock."""

    def __init__(
        self,
        repository: CredentialRepository,
        *,
        lock: RefreshLock,
        http: httpx.Client,
        policy: OutboundPolicy,
        events: EventSink,
        margin: timedelta,
        retry: RetryPolicy,
        reauth_grace_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._repository = repository
        self._lock = lock
        self._http = http
        self._policy = policy
        self._events = events
        self._margin = margin
        self._retry = retry
        self._reauth_grace = reauth_grace_seconds
        self._clock = clock

    def needs_refresh(
        self,
        record: CredentialRecord,
        min_validity: timedelta | None,
        rejected_version: str | None,
    ) -> bool:
        if not record.refreshable:
            return False
        if rejected_version is not None:
            return record.secret_version == rejected_version
        if record.expires_at is None:
            return False
        validity = self._margin if min_validity is None else min_validity
        return record.expires_at <= self._clock() + validity

    def refresh(
        self,
        tenant_id: str,
        credential_id: str,
        *,
        trigger: str = "manual",
        min_validity: timedelta | None = None,
        rejected_version: str | None = None,
        force: bool = False,
    ) -> RefreshResult:
        """Refresh one credential if it still needs it once the lock is held.

        Raises `ReauthRequiredError` for a dead grant, `RetryableError` when retries ran
        out, `AuthError` for other refusals, `OutboundPolicyError` for an answer naming an
        `instance_url` the policy refuses (nothing of it is kept); every attempt is audited.
        """
        began = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            attempt_began = time.perf_counter()
            lease: LockLease | None = None
            record: CredentialRecord | None = None
            try:
                with self._lock.hold(credential_id) as lease:
                    record, etag = self._repository.load(tenant_id, credential_id)
                    raise_if_needs_reauth(record)
                    due = force or self.needs_refresh(record, min_validity, rejected_version)
                    if not due:
                        outcome = RefreshOutcome.ALREADY_FRESH
                    else:
                        record = self._refresh_locked(record, etag, lease)
                        outcome = RefreshOutcome.REFRESHED
                self._audit(record, trigger, outcome, attempt, started, attempt_began, lease)
                return RefreshResult(
                    tenant_id=record.tenant_id,
                    credential_id=record.id,
                    connection_id=record.connection_id,
                    outcome=outcome,
                    attempts=attempt,
                    duration_ms=round((time.perf_counter() - began) * 1000, 2),
                    expires_at=record.expires_at,
                )
            except ReauthRequiredError as err:
                record = self.mark_needs_reauth(
                    record or self._repository.get(tenant_id, credential_id), err.error_code
                )
                self._audit(
                    record,
                    trigger,
                    RefreshOutcome.NEEDS_REAUTH,
                    attempt,
                    started,
                    attempt_began,
                    lease,
                    error=err.error_code,
                )
                raise
            except RetryableError as err:
                record = record or self._repository.get(tenant_id, credential_id)
                self._audit(
                    record,
                    trigger,
                    RefreshOutcome.RETRYABLE_ERROR,
                    attempt,
                    started,
                    attempt_began,
                    lease,
                    error=str(err),
                )
                if attempt >= self._retry.attempts:
                    self._note_failure(tenant_id, credential_id, type(err).__name__)
                    raise
                delay = self._retry.delay(attempt - 1, err.retry_after)
                _log.info(
                    "token refresh failed, retrying in %.2fs",
                    delay,
                    extra=log_fields(record) | {"attempt": attempt, "error": str(err)},
                )
                time.sleep(delay)
            except (AuthError, OutboundPolicyError) as err:
                if record is None:
                    raise
                self._audit(
                    record,
                    trigger,
                    RefreshOutcome.ERROR,
                    attempt,
                    started,
                    attempt_began,
                    lease,
                    error=str(err),
                )
                self._note_failure(tenant_id, credential_id, str(err))
                raise

    def rotate(
        self,
        tenant_id: str,
        credential_id: str,
        secret: CredentialSecret,
        *,
        overlap: timedelta,
    ) -> CredentialRecord:
        """Replace a secret; the previous one stays accepted for `overlap`."""
        with self._lock.hold(credential_id):
            record, etag = self._repository.load(tenant_id, credential_id)
            if secret.type != record.credential_type:
                raise AuthError(
                    f"cannot rotate a {record.credential_type} credential to {secret.type}"
                )
            version = self._repository.write_secret(record.secret_name, secret)
            now = self._clock()
            updated = record.model_copy(
                update={
                    "secret_version": version,
                    "previous_secret_version": record.secret_version,
                    "previous_valid_until": now + overlap,
                    "updated_at": now,
                }
            )
            self._repository.put(updated, etag)
        emit(
            self._events,
            CredentialEventKind.ROTATED,
            updated,
            {"overlap_seconds": str(int(overlap.total_seconds()))},
        )
        return updated

    def mark_needs_reauth(self, record: CredentialRecord, error_code: str) -> CredentialRecord:
        """Only a person can fix this credential: mark it, once, and tell the subscribers."""
        updated, changed = self._repository.update(
            record.tenant_id,
            record.id,
            lambda r: (
                None
                if r.status is CredentialStatus.NEEDS_REAUTH
                else {
                    "status": CredentialStatus.NEEDS_REAUTH,
                    "last_error": error_code,
                    "consecutive_failures": r.consecutive_failures + 1,
                    "updated_at": self._clock(),
                }
            ),
        )
        if changed:
            _log.warning(
                "credential needs re-authorization",
                extra=log_fields(updated) | {"error": error_code},
            )
            emit(
                self._events,
                CredentialEventKind.NEEDS_REAUTH,
                updated,
                {"error_code": error_code},
            )
        return updated

    def _refresh_locked(
        self, record: CredentialRecord, etag: str, lease: LockLease
    ) -> CredentialRecord:
        payload = self._repository.payload(record, record.secret_version)
        if not isinstance(
            payload, OAuth2AuthorizationCode | OAuth2ClientCredentials | OAuth2JwtBearer | GitHubApp
        ):
            raise AuthError(f"{record.credential_type} credentials cannot be refreshed")
        if lease.fence is not None:
            if record.fence > lease.fence:
                raise _Superseded("a later refresh holds this credential")
            record = record.model_copy(update={"fence": lease.fence})
            self._repository.put(record, etag)
        try:
            grant = fetch_token(self._http, payload)
        except ReauthRequiredError as err:
            # Without the distributed lock (Redis down) another instance may have used and
            # rotated the same refresh token first; give its commit a moment to land, and
            # treat its stored result as ours rather than as a dead grant.
            if lease.fence is None:
                time.sleep(self._reauth_grace)
            current = self._repository.get(record.tenant_id, record.id)
            if current.secret_version != record.secret_version:
                raise _Superseded("another instance refreshed with a rotated token") from err
            raise
        # Checked before anything is kept: a refused answer changes nothing.
        instance_url = checked_instance_url(grant.extras, self._policy) or record.instance_url
        renewed = payload.with_tokens(
            grant.access_token, refresh_token=grant.refresh_token, extras=grant.extras
        )
        # The rotated refresh token is durable before anyone can use the new access token.
        version = self._repository.write_secret(record.secret_name, renewed)
        now = self._clock()
        changes: dict[str, Any] = {
            "secret_version": version,
            "expires_at": grant.expires_at,
            "instance_url": instance_url,
            "last_refreshed_at": now,
            "last_error": None,
            "consecutive_failures": 0,
            "updated_at": now,
        }
        if lease.lost.is_set():
            _log.warning("refresh lock lapsed during the token call", extra=log_fields(record))
        return self._commit(record, lease, changes)

    def _commit(
        self, claimed: CredentialRecord, lease: LockLease, changes: dict[str, Any]
    ) -> CredentialRecord:
        """Switch the record to the new version unless a later refresh owns it now."""

        def ours(record: CredentialRecord) -> dict[str, Any]:
            owned = (
                record.fence == lease.fence
                if lease.fence is not None
                else record.secret_version == claimed.secret_version
            )
            if not owned:
                _log.warning(
                    "refresh superseded by another instance; result discarded",
                    extra=log_fields(record),
                )
                raise _Superseded("another refresh committed first")
            return {**changes, "refresh_count": record.refresh_count + 1}

        committed, _ = self._repository.update(claimed.tenant_id, claimed.id, ours)
        return committed

    def _note_failure(self, tenant_id: str, credential_id: str, error: str) -> None:
        try:
            self._repository.update(
                tenant_id,
                credential_id,
                lambda r: {
                    "last_error": error,
                    "consecutive_failures": r.consecutive_failures + 1,
                    "updated_at": self._clock(),
                },
            )
        except LockstepError as err:
            _log.warning("could not record a refresh failure (%s)", type(err).__name__)

    def _audit(
        self,
        record: CredentialRecord,
        trigger: str,
        outcome: RefreshOutcome,
        attempt: int,
        started: datetime,
        began: float,
        lease: LockLease | None,
        *,
        error: str | None = None,
    ) -> None:
        audit = TokenRefreshAudit(
            id=uuid.uuid4().hex,
            tenant_id=record.tenant_id,
            connection_id=record.connection_id,
            credential_id=record.id,
            credential_type=record.credential_type,
            trigger=trigger,
            outcome=outcome,
            attempt=attempt,
            started_at=started,
            duration_ms=round((time.perf_counter() - began) * 1000, 2),
            new_expires_at=record.expires_at if outcome is RefreshOutcome.REFRESHED else None,
            refresh_count=record.refresh_count,
            error=error,
            fence=lease.fence if lease is not None else None,
            distributed_lock=lease.distributed if lease is not None else False,
        )
        self._repository.write_audit(audit)
        _log.info(
            "token refresh %s",
            outcome.value,
            extra=log_fields(record)
            | {"trigger": trigger, "attempt": attempt, "duration_ms": audit.duration_ms},
        )
