"""CredentialService: the credentials API for adapters, pipelines and the admin surface.

It stores credentials, hands adapters an auth, and refreshes tokens safely; the work is
done by the repository (metadata + secret versions, repository.py) and the refresher
(lock, token call, rotation, audit: refresher.py). What happens to a connection's syncs
when its credential needs re-authorization is not decided here: this emits events
(events.py), and the pipelines' subscriber pauses and resumes the syncs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx
import redis

from integration_core.clock import utcnow
from integration_core.credentials.auth import CredentialAuth, HttpOptions
from integration_core.credentials.base import SecretStore
from integration_core.credentials.events import (
    CredentialEventKind,
    EventSink,
    LoggingEventSink,
    emit,
)
from integration_core.credentials.instance_url import checked_instance_url
from integration_core.credentials.lock import RefreshLock
from integration_core.credentials.records import (
    NEVER_VALID,
    CredentialRecord,
    CredentialStatus,
)
from integration_core.credentials.refresher import (
    Refresher,
    RetryPolicy,
    log_fields,
    raise_if_needs_reauth,
)
from integration_core.credentials.repository import CredentialRepository
from integration_core.credentials.types import (
    REFRESHABLE_TYPES,
    ClientCertificate,
    CredentialSecret,
    CredentialType,
    WebhookSecret,
    parse_secret,
)
from integration_core.net import OutboundPolicy, outbound_client
from integration_core.storage.base import DocumentStore

__all__ = ["CredentialService"]

_log = logging.getLogger(__name__)

# The error code a credential is marked with when a provider refuses a static credential.
UNAUTHORIZED = "unauthorized"


class CredentialService:
    """The credentials API for adapters, pipelines and the admin surface.

    Args:
        documents: the DocumentStore (containers `credentials`, `token-refresh`; reads
            `integrations` for a connection's credential id).
        secrets: where payloads live (Key Vault or the local encrypted file).
        redis_client: for the cross-instance refresh lock; None = per-instance only.
        events: where needs-reauth / re-authorized / rotation events go (default: the log).
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
        self._events: EventSink = events or LoggingEventSink()
        self._owns_http = http is None
        self._policy = outbound or OutboundPolicy()
        self._http = http or outbound_client(self._policy, timeout=token_timeout_seconds)
        self._margin = refresh_margin
        self._clock = clock
        self._repository = CredentialRepository(
            documents, secrets, secret_prefix=secret_prefix, clock=clock
        )
        self._refresher = Refresher(
            self._repository,
            lock=RefreshLock(
                redis_client,
                prefix=lock_prefix,
                ttl_seconds=lock_ttl_seconds,
                wait_seconds=lock_wait_seconds,
            ),
            http=self._http,
            policy=self._policy,
            events=self._events,
            margin=refresh_margin,
            retry=retry or RetryPolicy(),
            reauth_grace_seconds=reauth_grace_seconds,
            clock=clock,
        )

        # Refresh one credential if it still needs it once the lock is held (refresher.py);
        # raises `ReauthRequiredError` for a dead grant.
        self.refresh = self._refresher.refresh

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
        return CredentialRepository.credential_id_for(tenant_id, connection_id, name)

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
        secret_name = self._repository.secret_name_for(credential_id)
        refreshable = self.is_refreshable(secret.type)
        if refreshable and getattr(secret, "access_token", None) is None:
            expires_at = NEVER_VALID
        instance_url = checked_instance_url(getattr(secret, "extras", {}), self._policy)
        version = self._repository.write_secret(secret_name, secret)
        now = self._clock()

        def build(previous: CredentialRecord | None) -> CredentialRecord:
            return CredentialRecord(
                id=credential_id,
                tenant_id=tenant_id,
                connection_id=connection_id,
                name=name,
                credential_type=secret.type,
                refreshable=refreshable,
                secret_name=secret_name,
                secret_version=version,
                expires_at=expires_at,
                instance_url=instance_url,
                owner=owner if owner is not None else (previous.owner if previous else None),
                refresh_count=previous.refresh_count if previous else 0,
                last_refreshed_at=previous.last_refreshed_at if previous else None,
                fence=previous.fence if previous else 0,
                created_at=previous.created_at if previous else now,
                updated_at=now,
            )

        record, previous = self._repository.save(tenant_id, credential_id, build)
        if previous is not None and previous.status is CredentialStatus.NEEDS_REAUTH:
            emit(self._events, CredentialEventKind.REAUTHORIZED, record, {"name": name})
        else:
            # A new credential may be what a misconfigured connection waited for (a client
            # certificate); if it is not, the next sync marks the connection again.
            emit(self._events, CredentialEventKind.STORED, record, {"name": name})
        _log.info(
            "stored credential",
            extra=log_fields(record) | {"credential_type": str(record.credential_type)},
        )
        return record

    def delete_credential(self, tenant_id: str, credential_id: str) -> None:
        self._repository.delete(self._repository.get(tenant_id, credential_id))

    # ----------------------------------------------------------------- reading

    def get_record(self, tenant_id: str, credential_id: str) -> CredentialRecord:
        return self._repository.get(tenant_id, credential_id)

    def credential_id_for_connection(self, tenant_id: str, connection_id: str) -> str:
        """The connection's `credential_id` when it has one, else its default credential."""
        return self._repository.credential_id_for_connection(tenant_id, connection_id)

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
        record = self._repository.get(tenant_id, credential_id)
        raise_if_needs_reauth(record)
        if self._refresher.needs_refresh(record, min_validity, rejected_version):
            trigger = "unauthorized" if rejected_version else "on_use"
            self._refresher.refresh(
                tenant_id,
                credential_id,
                trigger=trigger,
                min_validity=min_validity,
                rejected_version=rejected_version,
            )
            record = self._repository.get(tenant_id, credential_id)
            raise_if_needs_reauth(record)
        return record, self._repository.payload(record, record.secret_version)

    def report_rejected(self, tenant_id: str, credential_id: str, version: str) -> None:
        """A provider answered 401 to `version` of a credential that cannot be refreshed:
        unless it was replaced since, only a person can fix it (like a dead OAuth grant).
        """
        record = self._repository.get(tenant_id, credential_id)
        if record.refreshable or record.secret_version != version:
            return
        self._refresher.mark_needs_reauth(record, UNAUTHORIZED)

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
        return HttpOptions(auth=auth, verify=verify, instance_url=record.instance_url)

    def expiring(self, within: timedelta) -> list[CredentialRecord]:
        """Active refreshable credentials (all tenants) expiring within `within`."""
        return self._repository.expiring(self._clock() + within)

    def current_and_previous(self, tenant_id: str, credential_id: str) -> list[CredentialSecret]:
        """The current payload, then the previous one while its overlap window lasts."""
        return self._repository.current_and_previous(self._repository.get(tenant_id, credential_id))

    def webhook_secrets(self, tenant_id: str, credential_id: str) -> list[str]:
        """Signing secrets a webhook may be signed with now: current first, then previous."""
        return [
            p.secret.get_secret_value()
            for p in self.current_and_previous(tenant_id, credential_id)
            if isinstance(p, WebhookSecret)
        ]

    # ------------------------------------------------------------------ rotate

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
        return self._refresher.rotate(tenant_id, credential_id, secret, overlap=overlap)
