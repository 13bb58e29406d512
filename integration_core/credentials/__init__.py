"""Credentials: the SecretStore port, the nine credential types, and the CredentialService
(over the repository and the refresher).

Backends (keyvault.py, local.py) are chosen only by runtime.py and imported from their
modules; this package exports the port, the types and the service.
"""

from __future__ import annotations

from integration_core.credentials.auth import CredentialAuth, CredentialSource, HttpOptions
from integration_core.credentials.base import SecretStore, SecretVersion
from integration_core.credentials.events import (
    Broadcast,
    CredentialEvent,
    CredentialEventKind,
    EventSink,
    LoggingEventSink,
    MemoryEventSink,
)
from integration_core.credentials.lock import LockLease, RefreshLock
from integration_core.credentials.oauth import ReauthRequiredError, TokenGrant, fetch_token
from integration_core.credentials.records import (
    CredentialRecord,
    CredentialStatus,
    RefreshOutcome,
    TokenRefreshAudit,
)
from integration_core.credentials.refresher import RefreshResult, RetryPolicy
from integration_core.credentials.repository import CredentialRepository, credential_id_of
from integration_core.credentials.service import CredentialService
from integration_core.credentials.types import (
    REFRESHABLE_TYPES,
    ApiKey,
    Basic,
    BearerToken,
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

__all__ = [
    "SecretStore",
    "SecretVersion",
    "CredentialType",
    "REFRESHABLE_TYPES",
    "CredentialSecret",
    "OAuth2AuthorizationCode",
    "OAuth2ClientCredentials",
    "OAuth2JwtBearer",
    "GitHubApp",
    "ApiKey",
    "Basic",
    "BearerToken",
    "WebhookSecret",
    "ClientCertificate",
    "parse_secret",
    "dump_secret",
    "CredentialRecord",
    "CredentialStatus",
    "RefreshOutcome",
    "TokenRefreshAudit",
    "CredentialService",
    "CredentialRepository",
    "credential_id_of",
    "RefreshResult",
    "RetryPolicy",
    "CredentialAuth",
    "CredentialSource",
    "HttpOptions",
    "ReauthRequiredError",
    "TokenGrant",
    "fetch_token",
    "RefreshLock",
    "LockLease",
    "CredentialEvent",
    "CredentialEventKind",
    "Broadcast",
    "EventSink",
    "LoggingEventSink",
    "MemoryEventSink",
]
