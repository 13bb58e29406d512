"""The secret-backed credential repository: metadata documents that point at secret versions.

A credential is two things: its metadata (container `credentials`, no secret value) and
its payload, a version in the SecretStore (Key Vault or the local encrypted file). The
metadata's `secret_version` is the commit point. Versions never change once written, so a
payload is read once per (secret, version) and then served from a bounded cache.
Updates that can race go through `storage.concurrency.update_document`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from integration_core.clock import to_iso
from integration_core.credentials.base import SecretStore
from integration_core.credentials.records import (
    CredentialRecord,
    CredentialStatus,
    TokenRefreshAudit,
)
from integration_core.credentials.types import CredentialSecret, dump_secret, parse_secret
from integration_core.errors import ConflictError, LockstepError, NotFoundError, RetryableError
from integration_core.models import Connection, deterministic_id
from integration_core.observability import register_secrets
from integration_core.storage.base import ETAG, DocumentStore, Filter
from integration_core.storage.concurrency import get_or_none, update_document

__all__ = ["CredentialRepository", "credential_id_of"]

_log = logging.getLogger(__name__)

_CACHE_SIZE = 1024

Changes = Callable[[CredentialRecord], dict[str, Any] | None]


class CredentialRepository:
    """Loads, stores and updates credential metadata and payloads."""

    def __init__(
        self,
        documents: DocumentStore,
        secrets: SecretStore,
        *,
        secret_prefix: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._documents = documents
        self._secrets = secrets
        self._secret_prefix = secret_prefix
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], CredentialSecret] = OrderedDict()
        self._cache_lock = threading.Lock()

    @staticmethod
    def credential_id_for(tenant_id: str, connection_id: str, name: str = "default") -> str:
        return deterministic_id("credential", tenant_id, connection_id, name)

    def secret_name_for(self, credential_id: str) -> str:
        return self._secret_prefix + credential_id

    def credential_id_for_connection(self, tenant_id: str, connection_id: str) -> str:
        """The connection's `credential_id` when it has one, else its default credential."""
        found = get_or_none(self._documents, Connection.container, tenant_id, connection_id)
        if found is None:
            return self.credential_id_for(tenant_id, connection_id)
        return credential_id_of(Connection.from_document(found))

    # -- metadata --

    def load(self, tenant_id: str, credential_id: str) -> tuple[CredentialRecord, str]:
        """The record and its etag."""
        document = self._documents.get(CredentialRecord.container, tenant_id, credential_id)
        return CredentialRecord.from_document(document), str(document.get(ETAG))

    def get(self, tenant_id: str, credential_id: str) -> CredentialRecord:
        return self.load(tenant_id, credential_id)[0]

    def put(self, record: CredentialRecord, etag: str) -> str:
        """Replace the record only if it is still at `etag`; returns the new etag."""
        stored = self._documents.upsert(
            CredentialRecord.container, record.to_document(), if_match=etag
        )
        return str(stored.get(ETAG))

    def update(
        self, tenant_id: str, credential_id: str, changes: Changes
    ) -> tuple[CredentialRecord, bool]:
        """Apply `changes` (field -> value, or None for no change) to the current record.

        Returns the record as stored and whether it changed.
        """
        changed = False

        def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
            nonlocal changed
            update = changes(CredentialRecord.from_document(document))
            changed = update is not None
            if update is None:
                return None
            record = CredentialRecord.from_document(document).model_copy(update=update)
            return record.to_document()

        stored = update_document(
            self._documents, CredentialRecord.container, tenant_id, credential_id, mutate
        )
        assert stored is not None  # update_document returns the stored or unchanged document
        return CredentialRecord.from_document(stored), changed

    def save(
        self,
        tenant_id: str,
        credential_id: str,
        build: Callable[[CredentialRecord | None], CredentialRecord],
    ) -> tuple[CredentialRecord, CredentialRecord | None]:
        """Create the record, or replace it with `build(previous)`; returns (new, previous)."""
        for _ in range(2):
            previous: CredentialRecord | None = None

            def mutate(document: dict[str, Any]) -> dict[str, Any]:
                nonlocal previous
                previous = CredentialRecord.from_document(document)
                return build(previous).to_document()

            try:
                stored = update_document(
                    self._documents, CredentialRecord.container, tenant_id, credential_id, mutate
                )
                assert stored is not None  # mutate always returns a document
                return CredentialRecord.from_document(stored), previous
            except NotFoundError:
                record = build(None)
                try:
                    self._documents.create(CredentialRecord.container, record.to_document())
                except ConflictError:
                    continue  # created meanwhile by someone else: replace theirs
                return record, None
        raise RetryableError(f"credential {credential_id} kept appearing and disappearing")

    def delete(self, record: CredentialRecord) -> None:
        """The record and its secret (every version)."""
        try:
            self._secrets.delete(record.secret_name)
        except NotFoundError:
            _log.debug("secret of credential %s already gone", record.id)
        self._documents.delete(CredentialRecord.container, record.tenant_id, record.id)
        with self._cache_lock:
            for key in [k for k in self._cache if k[0] == record.secret_name]:
                del self._cache[key]

    def expiring(self, cutoff: datetime) -> list[CredentialRecord]:
        """Active refreshable credentials (all tenants) expiring at or before `cutoff`."""
        documents = self._documents.query(
            CredentialRecord.container,
            filters=[
                Filter("refreshable", "=", True),
                Filter("status", "=", CredentialStatus.ACTIVE.value),
                Filter("expiresAt", "<=", to_iso(cutoff)),
            ],
            order_by=[("expiresAt", False)],
        )
        return [CredentialRecord.from_document(d) for d in documents]

    def write_audit(self, audit: TokenRefreshAudit) -> None:
        """One refresh attempt's audit row; losing one is logged, never fatal to the refresh."""
        try:
            self._documents.create(TokenRefreshAudit.container, audit.to_document())
        except LockstepError as err:
            _log.warning("could not write token-refresh audit (%s)", type(err).__name__)

    # -- payloads --

    def write_secret(self, secret_name: str, payload: CredentialSecret) -> str:
        """Store `payload` as a new version of the secret; returns the version."""
        version = self._secrets.set(secret_name, dump_secret(payload))
        self._remember(secret_name, version, payload)
        return version

    def payload(self, record: CredentialRecord, version: str) -> CredentialSecret:
        key = (record.secret_name, version)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        payload = parse_secret(self._secrets.get(record.secret_name, version=version))
        self._remember(record.secret_name, version, payload)
        return payload

    def current_and_previous(self, record: CredentialRecord) -> list[CredentialSecret]:
        """The current payload, then the previous one while its overlap window lasts."""
        found = [self.payload(record, record.secret_version)]
        if (
            record.previous_secret_version
            and record.previous_valid_until is not None
            and self._clock() < record.previous_valid_until
        ):
            found.append(self.payload(record, record.previous_secret_version))
        return found

    def _remember(self, name: str, version: str, payload: CredentialSecret) -> None:
        register_secrets(payload.secret_values())  # every loaded or saved secret: redacted
        with self._cache_lock:
            self._cache[(name, version)] = payload
            self._cache.move_to_end((name, version))
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)


def credential_id_of(connection: Connection) -> str:
    """The credential `connection` uses: its `credential_id`, else its default one."""
    return connection.credential_id or CredentialRepository.credential_id_for(
        connection.tenant_id, connection.id
    )
