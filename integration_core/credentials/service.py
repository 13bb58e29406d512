"""CredentialService: stores credentials, hands adapters an auth, refreshes tokens safely.

Refresh protocol (one credential):
1. take the refresh lock (Redis lease + fencing token; local lock when Redis is down);
2. re-read the metadata: if another worker already refreshed, use its result;
3. claim the record with our fence (etag-conditional write);
4. call the token endpoint once;
5. write the new payload, *including a rotated refresh token*, as a new secret version;
6. switch the metadata to that version (etag-conditional; a later fence wins).
Only after step 6 does anyone use the new access token. Retryable failures back off
outside the lock; a dead grant marks the connection `needs_reauth`, pauses its sync tasks
and emits an event.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import redis

from integration_core.clock import to_iso, utcnow
from integration_core.credentials.auth import CredentialAuth, HttpOptions
from integration_core.credentials.base import SecretStore
from integration_core.credentials.events import (
    CredentialEvent,
    CredentialEventKind,
    EventSink,
    LoggingEventSink,
)
from integration_core.credentials.lock import LockLease, RefreshLock
from integration_core.credentials.oauth import ReauthRequiredError, fetch_token
from integration_core.credentials.records import (
    NEVER_VALID,
    CredentialRecord,
    CredentialStatus,
    RefreshOutcome,
    TokenRefreshAudit,
)
from integration_core.credentials.types import (
    REFRESHABLE_TYPES,
    ClientCertificate,
    CredentialSecret,
    CredentialType,
    GitHubApp,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
    OAuth2JwtBearer,
    WebhookSecret,
    dump_secret,
    parse_secret,
)
from integration_core.errors import (
    AuthError,
    ConflictError,
    LockstepError,
    NotFoundError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.models import Connection, ConnectionStatus, SyncTask, deterministic_id
from integration_core.net import OutboundPolicy, outbound_client
from integration_core.observability import register_secrets
from integration_core.storage.base import ETAG, DocumentStore, Filter

__all__ = ["RetryPolicy", "RefreshResult", "CredentialService"]

_log = logging.getLogger(__name__)
_CACHE_SIZE = 1024
_CAS_ATTEMPTS = 8
_FIXED_BY_A_NEW_CREDENTIAL = (
    ConnectionStatus.NEEDS_REAUTH.value,
    ConnectionStatus.MISCONFIGURED.value,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for retryable refresh failures: attempt n waits up to base * 2**n (jittered)."""

    attempts: int = 3
    base_seconds: float = 0.5
    max_seconds: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        import random

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


class CredentialService:
    """The credentials API for adapters, pipelines and the admin surface.

    Args:
        documents: the DocumentStore (containers `credentials`, `token-refresh`,
            `integrations`, `sync-tasks`).
        secrets: where payloads live (Key Vault or the local encrypted file).
        redis_client: for the cross-instance refresh lock; None = per-instance only.
        events: where needs-reauth / rotation events go (default: the log).
        http: client for token endpoints; default one with `token_timeout_seconds` that
            obeys `outbound` (default: public https addresses only).
        refresh_margin: refresh a token on use when it expires within this margin.
        lock_ttl_seconds / lock_wait_seconds: the refresh lock's lease and patience.
        reauth_grace_seconds: without Redis, how long to wait before trusting an
            `invalid_grant` (another instance may be committing a rotated token).
    """

    def __init__(
        self,
        documents: DocumentStore,
        secrets: SecretStore,
        *,
        redis_client: redis.Redis | None = None,
        events: EventSink | None = None,
        http: httpx.Client | None = None,
        outbound: OutboundPolicy | None = None,
        refresh_margin: timedelta = timedelta(minutes=5),
        lock_ttl_seconds: float = 30.0,
        lock_wait_seconds: float = 30.0,
        lock_prefix: str = "lockstep:credlock:",
        retry: RetryPolicy | None = None,
        token_timeout_seconds: float = 20.0,
        secret_prefix: str = "lockstep-cred-",  # noqa: S107 - a name prefix
        reauth_grace_seconds: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._documents = documents
        self._secrets = secrets
        self._events: EventSink = events or LoggingEventSink()
        self._owns_http = http is None
        self._http = http or outbound_client(
            outbound or OutboundPolicy(), timeout=token_timeout_seconds
        )
        self._lock = RefreshLock(
            redis_client,
            prefix=lock_prefix,
            ttl_seconds=lock_ttl_seconds,
            wait_seconds=lock_wait_seconds,
        )
        self._margin = refresh_margin
        self._retry = retry or RetryPolicy()
        self._secret_prefix = secret_prefix
        self._reauth_grace = reauth_grace_seconds
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], CredentialSecret] = OrderedDict()
        self._cache_lock = threading.Lock()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    @property
    def refresh_margin(self) -> timedelta:
        return self._margin

    @staticmethod
    def is_refreshable(credential_type: CredentialType) -> bool:
        return credential_type in REFRESHABLE_TYPES

    @staticmethod
    def credential_id_for(tenant_id: str, connection_id: str, name: str = "default") -> str:
        return deterministic_id("credential", tenant_id, connection_id, name)

    # ----------------------------------------------------------------- storing

    def store_credential(
        self,
        tenant_id: str,
        connection_id: str,
        payload: CredentialSecret | Mapping[str, Any],
        *,
        name: str = "default",
        expires_at: datetime | None = None,
        owner: str | None = None,
    ) -> CredentialRecord:
        """Create or replace a connection's credential (also completes a re-authorization).

        For token types, `expires_at` is the expiry of the included access token; without
        an access token the credential is due for refresh at once.
        """
        secret = payload if not isinstance(payload, Mapping) else parse_secret(dict(payload))
        credential_id = self.credential_id_for(tenant_id, connection_id, name)
        secret_name = self._secret_prefix + credential_id
        refreshable = self.is_refreshable(secret.type)
        if refreshable and getattr(secret, "access_token", None) is None:
            expires_at = NEVER_VALID
        version = self._secrets.set(secret_name, dump_secret(secret))
        self._remember(secret_name, version, secret)
        now = self._clock()
        previous: CredentialRecord | None = None
        for _ in range(_CAS_ATTEMPTS):
            try:
                previous, etag = self._load(tenant_id, credential_id)
            except NotFoundError:
                previous, etag = None, None
            record = CredentialRecord(
                id=credential_id,
                tenant_id=tenant_id,
                connection_id=connection_id,
                name=name,
                credential_type=secret.type,
                refreshable=refreshable,
                secret_name=secret_name,
                secret_version=version,
                expires_at=expires_at,
                owner=owner if owner is not None else (previous.owner if previous else None),
                refresh_count=previous.refresh_count if previous else 0,
                last_refreshed_at=previous.last_refreshed_at if previous else None,
                fence=previous.fence if previous else 0,
                created_at=previous.created_at if previous else now,
                updated_at=now,
            )
            try:
                if etag is None:
                    self._documents.create(CredentialRecord.container, record.to_document())
                else:
                    self._put(record, etag)
                break
            except ConflictError:
                _log.debug("credential record changed while storing; retrying")
        else:
            raise RetryableError(f"credential {credential_id} kept changing while stored")
        self._link_connection(tenant_id, connection_id, credential_id, name)
        if previous is not None and previous.status is CredentialStatus.NEEDS_REAUTH:
            self._resume_tasks(tenant_id, previous.paused_task_ids)
            self._emit(CredentialEventKind.REAUTHORIZED, record)
        _log.info(
            "stored credential",
            extra=self._fields(record) | {"credential_type": str(record.credential_type)},
        )
        return record

    def delete_credential(self, tenant_id: str, credential_id: str) -> None:
        record, _ = self._load(tenant_id, credential_id)
        try:
            self._secrets.delete(record.secret_name)
        except NotFoundError:
            _log.debug("secret already gone", extra=self._fields(record))
        self._documents.delete(CredentialRecord.container, tenant_id, credential_id)
        with self._cache_lock:
            for key in [k for k in self._cache if k[0] == record.secret_name]:
                del self._cache[key]

    # ----------------------------------------------------------------- reading

    def get_record(self, tenant_id: str, credential_id: str) -> CredentialRecord:
        return self._load(tenant_id, credential_id)[0]

    def credential_id_for_connection(self, tenant_id: str, connection_id: str) -> str:
        """The connection's `credential_id` when it has one, else its default credential."""
        try:
            document = self._documents.get(Connection.container, tenant_id, connection_id)
        except NotFoundError:
            return self.credential_id_for(tenant_id, connection_id)
        connection = Connection.from_document(document)
        return connection.credential_id or self.credential_id_for(tenant_id, connection_id)

    def fresh_credential(
        self,
        tenant_id: str,
        credential_id: str,
        *,
        min_validity: timedelta | None = None,
        rejected_version: str | None = None,
    ) -> tuple[CredentialRecord, CredentialSecret]:
        """The credential, refreshed first if it expires within `min_validity` (default:
        the margin) or if `rejected_version` is still the current one (a provider's 401).
        """
        record, _ = self._load(tenant_id, credential_id)
        self._raise_if_needs_reauth(record)
        if self._needs_refresh(record, min_validity, rejected_version):
            trigger = "unauthorized" if rejected_version else "on_use"
            self.refresh(
                tenant_id,
                credential_id,
                trigger=trigger,
                min_validity=min_validity,
                rejected_version=rejected_version,
            )
            record, _ = self._load(tenant_id, credential_id)
            self._raise_if_needs_reauth(record)
        return record, self._payload(record, record.secret_version)

    def auth_for(self, tenant_id: str, connection_id: str) -> httpx.Auth:
        """The `httpx.Auth` for a connection's client: refresh on use, one retry on 401."""
        return self.http_options(tenant_id, connection_id).auth

    def http_options(self, tenant_id: str, connection_id: str) -> HttpOptions:
        """Auth plus, for `client_certificate`, the mTLS context (pass as ``verify=``)."""
        credential_id = self.credential_id_for_connection(tenant_id, connection_id)
        record, payload = self.fresh_credential(tenant_id, credential_id)
        auth = CredentialAuth(
            self, tenant_id, credential_id, record.credential_type, margin=self._margin
        )
        verify = payload.ssl_context() if isinstance(payload, ClientCertificate) else None
        return HttpOptions(auth=auth, verify=verify)

    def expiring(self, within: timedelta) -> list[CredentialRecord]:
        """Active refreshable credentials (all tenants) expiring within `within`."""
        documents = self._documents.query(
            CredentialRecord.container,
            filters=[
                Filter("refreshable", "=", True),
                Filter("status", "=", CredentialStatus.ACTIVE.value),
                Filter("expiresAt", "<=", to_iso(self._clock() + within)),
            ],
            order_by=[("expiresAt", False)],
        )
        return [CredentialRecord.from_document(d) for d in documents]

    # ---------------------------------------------------------------- rotation

    def rotate(
        self,
        tenant_id: str,
        credential_id: str,
        payload: CredentialSecret | Mapping[str, Any],
        *,
        overlap: timedelta = timedelta(hours=24),
    ) -> CredentialRecord:
        """Replace a secret; the previous one stays accepted for `overlap`."""
        secret = payload if not isinstance(payload, Mapping) else parse_secret(dict(payload))
        with self._lock.hold(credential_id):
            record, etag = self._load(tenant_id, credential_id)
            if secret.type != record.credential_type:
                raise AuthError(
                    f"cannot rotate a {record.credential_type} credential to {secret.type}"
                )
            version = self._secrets.set(record.secret_name, dump_secret(secret))
            self._remember(record.secret_name, version, secret)
            now = self._clock()
            updated = record.model_copy(
                update={
                    "secret_version": version,
                    "previous_secret_version": record.secret_version,
                    "previous_valid_until": now + overlap,
                    "updated_at": now,
                }
            )
            self._put(updated, etag)
        self._emit(
            CredentialEventKind.ROTATED,
            updated,
            {"overlap_seconds": str(int(overlap.total_seconds()))},
        )
        return updated

    def current_and_previous(self, tenant_id: str, credential_id: str) -> list[CredentialSecret]:
        """The current payload, then the previous one while its overlap window lasts."""
        record, _ = self._load(tenant_id, credential_id)
        found = [self._payload(record, record.secret_version)]
        if (
            record.previous_secret_version
            and record.previous_valid_until is not None
            and self._clock() < record.previous_valid_until
        ):
            found.append(self._payload(record, record.previous_secret_version))
        return found

    def webhook_secrets(self, tenant_id: str, credential_id: str) -> list[str]:
        """Signing secrets a webhook may be signed with now: current first, then previous."""
        return [
            p.secret.get_secret_value()
            for p in self.current_and_previous(tenant_id, credential_id)
            if isinstance(p, WebhookSecret)
        ]

    # ----------------------------------------------------------------- refresh

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
        out, `AuthError` for other refusals; every attempt is audited.
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
                    record, etag = self._load(tenant_id, credential_id)
                    self._raise_if_needs_reauth(record)
                    due = force or self._needs_refresh(record, min_validity, rejected_version)
                    if not due:
                        outcome = RefreshOutcome.ALREADY_FRESH
                    else:
                        record = self._refresh_locked(record, etag, lease)
                        outcome = RefreshOutcome.REFRESHED
                self._audit(record, trigger, outcome, attempt, started, attempt_began, lease)
                return self._result(record, outcome, attempt, began)
            except ReauthRequiredError as err:
                record = record or self.get_record(tenant_id, credential_id)
                if record.status is not CredentialStatus.NEEDS_REAUTH:
                    record = self._mark_needs_reauth(record, err.error_code)
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
                if record is None:
                    record = self.get_record(tenant_id, credential_id)
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
                    extra=self._fields(record) | {"attempt": attempt, "error": str(err)},
                )
                time.sleep(delay)
            except AuthError as err:
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

    def _refresh_locked(
        self, record: CredentialRecord, etag: str, lease: LockLease
    ) -> CredentialRecord:
        payload = self._payload(record, record.secret_version)
        if not isinstance(
            payload, OAuth2AuthorizationCode | OAuth2ClientCredentials | OAuth2JwtBearer | GitHubApp
        ):
            raise AuthError(f"{record.credential_type} credentials cannot be refreshed")
        if lease.fence is not None:
            if record.fence > lease.fence:
                raise _Superseded("a later refresh holds this credential")
            record = record.model_copy(update={"fence": lease.fence})
            etag = self._put(record, etag)
        try:
            grant = fetch_token(self._http, payload)
        except ReauthRequiredError as err:
            # Without the distributed lock (Redis down) another instance may have used and
            # rotated the same refresh token first; give its commit a moment to land, and
            # treat its stored result as ours rather than as a dead grant.
            if lease.fence is None:
                time.sleep(self._reauth_grace)
            current, _ = self._load(record.tenant_id, record.id)
            if current.secret_version != record.secret_version:
                raise _Superseded("another instance refreshed with a rotated token") from err
            raise
        renewed = payload.with_tokens(
            grant.access_token, refresh_token=grant.refresh_token, extras=grant.extras
        )
        # The rotated refresh token is durable before anyone can use the new access token.
        version = self._secrets.set(record.secret_name, dump_secret(renewed))
        self._remember(record.secret_name, version, renewed)
        now = self._clock()
        changes: dict[str, Any] = {
            "secret_version": version,
            "expires_at": grant.expires_at,
            "last_refreshed_at": now,
            "last_error": None,
            "consecutive_failures": 0,
            "updated_at": now,
        }
        if lease.lost.is_set():
            _log.warning("refresh lock lapsed during the token call", extra=self._fields(record))
        return self._commit(record, etag, lease, changes)

    def _commit(
        self,
        record: CredentialRecord,
        etag: str,
        lease: LockLease,
        changes: dict[str, Any],
    ) -> CredentialRecord:
        base_version = record.secret_version
        for _ in range(_CAS_ATTEMPTS):
            updated = record.model_copy(
                update={**changes, "refresh_count": record.refresh_count + 1}
            )
            try:
                self._put(updated, etag)
                return updated
            except PreconditionFailedError:
                record, etag = self._load(record.tenant_id, record.id)
                ours = (
                    record.fence == lease.fence
                    if lease.fence is not None
                    else record.secret_version == base_version
                )
                if not ours:
                    _log.warning(
                        "refresh superseded by another instance; result discarded",
                        extra=self._fields(record),
                    )
                    raise _Superseded("another refresh committed first") from None
        raise RetryableError("credential record kept changing during commit")

    def _needs_refresh(
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

    # ------------------------------------------------------------ re-auth path

    def _raise_if_needs_reauth(self, record: CredentialRecord) -> None:
        if record.status is CredentialStatus.NEEDS_REAUTH:
            raise ReauthRequiredError(
                f"connection {record.connection_id} needs re-authorization",
                error_code=record.last_error or "needs_reauth",
            )

    def _mark_needs_reauth(self, record: CredentialRecord, error_code: str) -> CredentialRecord:
        paused = self._pause_tasks(record.tenant_id, record.connection_id)
        updated = self._update(
            record.tenant_id,
            record.id,
            lambda r: {
                "status": CredentialStatus.NEEDS_REAUTH,
                "last_error": error_code,
                "consecutive_failures": r.consecutive_failures + 1,
                "paused_task_ids": sorted(set(r.paused_task_ids) | set(paused)),
                "updated_at": self._clock(),
            },
        )
        self._set_connection_status(
            record.tenant_id, record.connection_id, ConnectionStatus.NEEDS_REAUTH
        )
        _log.warning(
            "credential needs re-authorization; syncs paused",
            extra=self._fields(updated) | {"error": error_code, "paused_tasks": len(paused)},
        )
        self._emit(CredentialEventKind.NEEDS_REAUTH, updated, {"error_code": error_code})
        return updated

    def _pause_tasks(self, tenant_id: str, connection_id: str) -> list[str]:
        paused: list[str] = []
        documents = self._documents.query(
            SyncTask.container,
            partition_key=tenant_id,
            filters=[Filter("connectionId", "=", connection_id), Filter("enabled", "=", True)],
        )
        for document in documents:
            if self._set_task_enabled(tenant_id, str(document["id"]), enabled=False):
                paused.append(str(document["id"]))
        return paused

    def _resume_tasks(self, tenant_id: str, task_ids: list[str]) -> None:
        for task_id in task_ids:
            self._set_task_enabled(tenant_id, task_id, enabled=True)

    def _set_task_enabled(self, tenant_id: str, task_id: str, *, enabled: bool) -> bool:
        for _ in range(_CAS_ATTEMPTS):
            try:
                document = self._documents.get(SyncTask.container, tenant_id, task_id)
            except NotFoundError:
                return False
            if bool(document.get("enabled")) is enabled:
                return False
            etag = document.get(ETAG)
            try:
                self._documents.upsert(
                    SyncTask.container, {**document, "enabled": enabled}, if_match=etag
                )
                return True
            except PreconditionFailedError:
                continue
        raise RetryableError(f"sync task {task_id} kept changing")

    def _set_connection_status(
        self, tenant_id: str, connection_id: str, status: ConnectionStatus
    ) -> None:
        for _ in range(_CAS_ATTEMPTS):
            try:
                document = self._documents.get(Connection.container, tenant_id, connection_id)
            except NotFoundError:
                _log.info(
                    "no connection document to update", extra={"connection_id": connection_id}
                )
                return
            if document.get("status") == status.value:
                return
            try:
                self._documents.upsert(
                    Connection.container,
                    {**document, "status": status.value},
                    if_match=document.get(ETAG),
                )
                return
            except PreconditionFailedError:
                continue
        raise RetryableError(f"connection {connection_id} kept changing")

    def _link_connection(
        self, tenant_id: str, connection_id: str, credential_id: str, name: str
    ) -> None:
        for _ in range(_CAS_ATTEMPTS):
            try:
                document = self._documents.get(Connection.container, tenant_id, connection_id)
            except NotFoundError:
                return
            update: dict[str, Any] = {}
            if name == "default" and document.get("credentialId") != credential_id:
                update["credentialId"] = credential_id
            # A new credential may be the fix (a client certificate, too); if it is not,
            # the next sync marks the connection misconfigured again.
            if document.get("status") in _FIXED_BY_A_NEW_CREDENTIAL:
                update["status"] = ConnectionStatus.ACTIVE.value
            if not update:
                return
            try:
                self._documents.upsert(
                    Connection.container, {**document, **update}, if_match=document.get(ETAG)
                )
                return
            except PreconditionFailedError:
                continue
        raise RetryableError(f"connection {connection_id} kept changing")

    def _note_failure(self, tenant_id: str, credential_id: str, error: str) -> None:
        try:
            self._update(
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

    # ----------------------------------------------------------------- plumbing

    def _load(self, tenant_id: str, credential_id: str) -> tuple[CredentialRecord, str]:
        document = self._documents.get(CredentialRecord.container, tenant_id, credential_id)
        return CredentialRecord.from_document(document), str(document.get(ETAG))

    def _put(self, record: CredentialRecord, etag: str) -> str:
        stored = self._documents.upsert(
            CredentialRecord.container, record.to_document(), if_match=etag
        )
        return str(stored.get(ETAG))

    def _update(
        self,
        tenant_id: str,
        credential_id: str,
        changes: Callable[[CredentialRecord], dict[str, Any]],
    ) -> CredentialRecord:
        for _ in range(_CAS_ATTEMPTS):
            record, etag = self._load(tenant_id, credential_id)
            updated = record.model_copy(update=changes(record))
            try:
                self._put(updated, etag)
                return updated
            except PreconditionFailedError:
                continue
        raise RetryableError(f"credential {credential_id} kept changing")

    def _payload(self, record: CredentialRecord, version: str) -> CredentialSecret:
        key = (record.secret_name, version)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        payload = parse_secret(self._secrets.get(record.secret_name, version=version))
        self._remember(record.secret_name, version, payload)
        return payload

    def _remember(self, name: str, version: str, payload: CredentialSecret) -> None:
        register_secrets(payload.secret_values())  # every loaded or saved secret: redacted
        with self._cache_lock:
            self._cache[(name, version)] = payload
            self._cache.move_to_end((name, version))
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)

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
        try:
            self._documents.create(TokenRefreshAudit.container, audit.to_document())
        except LockstepError as err:
            _log.warning("could not write token-refresh audit (%s)", type(err).__name__)
        _log.info(
            "token refresh %s",
            outcome.value,
            extra=self._fields(record)
            | {"trigger": trigger, "attempt": attempt, "duration_ms": audit.duration_ms},
        )

    def _result(
        self, record: CredentialRecord, outcome: RefreshOutcome, attempts: int, began: float
    ) -> RefreshResult:
        return RefreshResult(
            tenant_id=record.tenant_id,
            credential_id=record.id,
            connection_id=record.connection_id,
            outcome=outcome,
            attempts=attempts,
            duration_ms=round((time.perf_counter() - began) * 1000, 2),
            expires_at=record.expires_at,
        )

    def _emit(
        self,
        kind: CredentialEventKind,
        record: CredentialRecord,
        detail: dict[str, str] | None = None,
    ) -> None:
        event = CredentialEvent(
            kind=kind,
            tenant_id=record.tenant_id,
            connection_id=record.connection_id,
            credential_id=record.id,
            detail=detail or {},
        )
        try:
            self._events.emit(event)
        except Exception as err:  # noqa: BLE001 - a broken notifier must not break refresh
            _log.warning("event sink failed (%s)", type(err).__name__)

    @staticmethod
    def _fields(record: CredentialRecord) -> dict[str, Any]:
        return {
            "tenant_id": record.tenant_id,
            "connection_id": record.connection_id,
            "credential_id": record.id,
        }
