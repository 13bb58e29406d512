"""The `httpx.Auth` adapters use: current credential on every request, one retry on 401.

The auth keeps the payload it last used and goes back to its source only when that is
close to expiry or a provider answered 401. On 401 it asks for a refresh *of the version
that was rejected*: if another worker already replaced it, no token endpoint call happens.
A second 401 is returned to the caller as is. A static credential (API key, basic, bearer
token, ...) cannot be refreshed: a 401 on it is reported to the source, which marks it as
needing re-authorization unless it was replaced meanwhile. A provider that refuses a
token in another answer (Slack: HTTP 200, `invalid_auth`) gets the same through
`refused()`, which the adapter toolkit calls when its error map says so.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from integration_core.clock import utcnow
from integration_core.credentials.records import CredentialRecord
from integration_core.credentials.types import REFRESHABLE_TYPES, CredentialSecret, CredentialType

__all__ = ["CredentialSource", "CredentialAuth", "HttpOptions"]


class CredentialSource(Protocol):
    """Where a `CredentialAuth` gets its credential (the CredentialService)."""

    def fresh_credential(
        self,
        tenant_id: str,
        credential_id: str,
        *,
        min_validity: timedelta | None = None,
        rejected_version: str | None = None,
    ) -> tuple[CredentialRecord, CredentialSecret]:
        """The credential, refreshed first when due or when `rejected_version` is current."""

    def report_rejected(self, tenant_id: str, credential_id: str, version: str) -> None:
        """A provider answered 401 to this version of a credential that cannot refresh."""


@dataclass(frozen=True)
class _Current:
    version: str
    expires_at: datetime | None
    payload: CredentialSecret


class CredentialAuth(httpx.Auth):
    """Authenticates requests with one stored credential (sync and async clients)."""

    def __init__(
        self,
        source: CredentialSource,
        tenant_id: str,
        credential_id: str,
        credential_type: CredentialType,
        *,
        margin: timedelta,
    ) -> None:
        self._source = source
        self._tenant_id = tenant_id
        self._credential_id = credential_id
        self._margin = margin
        self._lock = threading.Lock()
        self._current: _Current | None = None
        self.credential_type = credential_type
        self.refreshable = credential_type in REFRESHABLE_TYPES
        # Only request signing needs the body; do not buffer uploads otherwise.
        self.requires_request_body = credential_type is CredentialType.WEBHOOK_SECRET

    def _usable(self) -> _Current | None:
        with self._lock:
            current = self._current
        if current is None:
            return None
        if current.expires_at is not None and current.expires_at - self._margin <= utcnow():
            return None
        return current

    def _fetch(self, rejected_version: str | None) -> _Current:
        record, payload = self._source.fresh_credential(
            self._tenant_id, self._credential_id, rejected_version=rejected_version
        )
        current = _Current(record.secret_version, record.expires_at, payload)
        with self._lock:
            self._current = current
        return current

    def _current_or_fetch(self) -> _Current:
        return self._usable() or self._fetch(None)

    def _after_refusal(self, current: _Current) -> _Current | None:
        """The credential refreshed after the provider refused `current`; None when it
        cannot be refreshed (reported to the source: a person must replace it)."""
        if self.refreshable:
            return self._fetch(current.version)
        self._source.report_rejected(self._tenant_id, self._credential_id, current.version)
        return None

    def refused(self) -> bool:
        """The provider refused the credential last applied in an answer other than a 401
        (Slack's HTTP 200 with `invalid_auth`): the same one refresh as a 401 gets. True
        when the request may be sent again."""
        with self._lock:
            current = self._current
        return current is not None and self._after_refusal(current) is not None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        current = self._current_or_fetch()
        current.payload.apply(request)
        response = yield request
        if response.status_code != 401:
            return
        refreshed = self._after_refusal(current)
        if refreshed is not None:
            refreshed.payload.apply(request)
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.requires_request_body:
            await request.aread()
        usable = self._usable()
        current = usable if usable is not None else await asyncio.to_thread(self._fetch, None)
        current.payload.apply(request)
        response = yield request
        if response.status_code != 401:
            return
        refreshed = await asyncio.to_thread(self._after_refusal, current)
        if refreshed is not None:
            refreshed.payload.apply(request)
            yield request


@dataclass(frozen=True)
class HttpOptions:
    """What an adapter's `httpx.Client` needs: the auth, a TLS context for mTLS, and the
    API host the credential's token answer named (`instance_url`), if any."""

    auth: httpx.Auth
    verify: ssl.SSLContext | None = None
    instance_url: str | None = None

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"auth": self.auth}
        if self.verify is not None:
            kwargs["verify"] = self.verify
        return kwargs
