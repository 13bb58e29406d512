"""The OAuth 2.0 connect flow: authorization code with PKCE (RFC 6749 §4.1, RFC 7636).

`start_connect` (admin API, CLI) issues a state for one tenant's connection and returns
the provider's authorize URL: client id, redirect URI, scopes, state and an S256 code
challenge, built by authlib. The person who owns the provider account opens it and
consents; the provider sends the browser back to the callback with `code` and `state`.
`finish_connect` (the anonymous callback) spends the state, exchanges the code with
authlib's `OAuth2Client` — an httpx client with `outbound_options`, so the token
endpoint obeys the outbound policy like every other request for a connection — stores the
tokens through the credential service and marks the connection active.

Errors say what happened without carrying anything secret: the state refused
(states.py), the consent refused (`ConsentRefusedError`, RFC 6749 §4.1.2.1), the token
endpoint refusing the code (`CodeExchangeError`) or unavailable (`RetryableError`).
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic.alias_generators import to_camel

from integration_core.admin.audit import record_write
from integration_core.clock import utcnow
from integration_core.connect.clients import OAuthClient, OAuthEndpoints, endpoints_for
from integration_core.connect.states import consume_state, issue_state
from integration_core.credentials.oauth import _oauth_grant
from integration_core.credentials.types import OAuth2AuthorizationCode
from integration_core.errors import AuthError, NotFoundError, PermanentError, RetryableError
from integration_core.models import Connection, ConnectionStatus, UtcDatetime
from integration_core.net import OutboundPolicy, outbound_options
from integration_core.ports.oauth import oauth_spec
from integration_core.storage.concurrency import get_or_none, update_document

with warnings.catch_warnings():
    # authlib 1.9 prefers the `httpx2` package and warns when it falls back to httpx. We
    # stay on httpx: the outbound policy's transport (integration_core/net/) is httpx's.
    import authlib.deprecate  # noqa: F401 - its import adds an "always" filter; ours goes in front

    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

if TYPE_CHECKING:
    from integration_core.runtime import Runtime

__all__ = [
    "LOCAL_REDIRECT_URI",
    "CodeExchangeError",
    "ConnectStarted",
    "ConsentRefusedError",
    "NotConnectableError",
    "finish_connect",
    "oauth_unavailable",
    "start_connect",
]

log = logging.getLogger(__name__)

TOKEN_TIMEOUT_SECONDS = 20.0
# The callback of `lockstep serve` on its default address, for flows started from the CLI.
LOCAL_REDIRECT_URI = "http://127.0.0.1:7071/api/connect/callback"


class NotConnectableError(PermanentError):
    """The connection's system has no OAuth flow, or this deployment has no app for it."""


class ConsentRefusedError(PermanentError):
    """The provider sent the browser back with an error instead of a code: `access_denied`
    (the person declined) or another RFC 6749 §4.1.2.1 code."""

    def __init__(self, error: str, *, connection: str, system: str) -> None:
        super().__init__(f"the {system} authorization for {connection} failed: {error}")
        self.error = error
        self.connection = connection
        self.system = system


class CodeExchangeError(AuthError):
    """The token endpoint refused the authorization code (RFC 6749 §5.2)."""


class ConnectStarted(BaseModel):
    """Where to send the person who owns the provider account, and until when it works."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    connection_id: str
    authorize_url: str
    redirect_uri: str
    expires_at: UtcDatetime


def _endpoints(rt: Runtime, connection: Connection) -> tuple[OAuthClient, OAuthEndpoints]:
    spec = oauth_spec(connection.system)
    if spec is None:
        raise NotConnectableError(f"{connection.system} connections are not connected with OAuth")
    client = rt.settings.oauth_client(connection.system)
    if client is None:
        raise NotConnectableError(
            f"this deployment has no OAuth app for {connection.system} (OAUTH_CLIENTS)"
        )
    try:
        return client, endpoints_for(spec, client)
    except ValueError as err:
        raise NotConnectableError(f"OAUTH_CLIENTS {connection.system}: {err}") from None


def oauth_unavailable(rt: Runtime, connection: Connection) -> str | None:
    """Why `start_connect` would refuse the connection (None: it can be connected)."""
    try:
        _endpoints(rt, connection)
    except NotConnectableError as err:
        return str(err)
    return None


def _scope(connection: Connection, endpoints: OAuthEndpoints) -> str:
    """The connection's `oauth_scopes` (its adapter validated the list), else the
    provider's; space-delimited (RFC 6749 §3.3)."""
    chosen = connection.config.get("oauth_scopes") or endpoints.scopes
    return " ".join(str(s) for s in chosen)


def _oauth_client(
    rt: Runtime, client: OAuthClient, endpoints: OAuthEndpoints, *, redirect_uri: str, scope: str
) -> OAuth2Client:
    secret = client.client_secret.get_secret_value() if client.client_secret else None
    policy = OutboundPolicy.from_setting(rt.settings.outbound_allow_private_cidrs)
    return OAuth2Client(
        client_id=client.client_id,
        client_secret=secret,
        # A public client (no secret) authenticates with its id alone (RFC 6749 §2.3).
        token_endpoint_auth_method=endpoints.token_endpoint_auth_method if secret else "none",
        scope=scope or None,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=TOKEN_TIMEOUT_SECONDS,
        **outbound_options(policy),
    )


def start_connect(
    rt: Runtime, tenant_id: str, connection_id: str, *, actor: str, redirect_uri: str
) -> ConnectStarted:
    """A new flow for one of `tenant_id`'s connections.

    Raises:
        NotFoundError: no such connection in this tenant.
        NotConnectableError: its system has no OAuth flow or no configured app.
    """
    connection = Connection.from_document(
        rt.store.get(Connection.container, tenant_id, connection_id)
    )
    client, endpoints = _endpoints(rt, connection)
    scope = _scope(connection, endpoints)
    state, flow = issue_state(
        rt.store,
        tenant_id,
        connection_id,
        system=connection.system,
        redirect_uri=redirect_uri,
        actor=actor,
    )
    with _oauth_client(rt, client, endpoints, redirect_uri=redirect_uri, scope=scope) as oauth:
        url, _ = oauth.create_authorization_url(
            endpoints.authorize_url,
            state=state,
            code_verifier=flow.code_verifier,
            **dict(endpoints.authorize_params),
        )
    log.info(
        "connect flow started for %s",
        connection_id,
        extra={"connection_id": connection_id, "system": connection.system},
    )
    return ConnectStarted(
        connection_id=connection_id,
        authorize_url=str(url),
        redirect_uri=redirect_uri,
        expires_at=flow.expires_at,
    )


def _exchange(oauth: OAuth2Client, token_url: str, *, code: str, verifier: str) -> dict[str, Any]:
    """The token response for `code`, or an error that names the cause, never a secret."""
    try:
        token = oauth.fetch_token(
            token_url, grant_type="authorization_code", code=code, code_verifier=verifier
        )
    except OAuthError as err:
        raise CodeExchangeError(
            f"the token endpoint refused the authorization code: {err.error}"
        ) from None
    except httpx.HTTPStatusError as err:
        status = err.response.status_code
        if status == 429 or status >= 500:
            raise RetryableError(f"the token endpoint answered HTTP {status}") from None
        raise CodeExchangeError(f"the token endpoint answered HTTP {status}") from None
    except httpx.TimeoutException as err:
        raise RetryableError(f"the token endpoint timed out ({type(err).__name__})") from None
    except httpx.TransportError as err:
        raise RetryableError(f"the token endpoint is unreachable ({type(err).__name__})") from None
    except ValueError:  # a 2xx body that is not a JSON object
        raise CodeExchangeError("the token endpoint answered something not OAuth") from None
    return dict(token)


def finish_connect(
    rt: Runtime,
    *,
    state: str,
    code: str | None,
    error: str | None = None,
    now: datetime | None = None,
) -> Connection:
    """Complete the flow `state` started: the connection, now active with its new tokens.

    Raises:
        StateRefusedError: unknown, used or expired state (nothing else is looked at).
        ConsentRefusedError: the provider answered `error` (or no code).
        NotFoundError: the connection was deleted since the flow started.
        NotConnectableError: the deployment's OAuth app for it is gone.
        CodeExchangeError / RetryableError: the token endpoint refused or failed.
    """
    flow = consume_state(rt.store, state, now=now)
    tenant_id, connection_id = flow.tenant_id, flow.connection_id
    if error is not None or not code:
        raise ConsentRefusedError(
            error or "invalid_request", connection=connection_id, system=flow.system
        )
    found = get_or_none(rt.store, Connection.container, tenant_id, connection_id)
    if found is None:
        raise NotFoundError(f"connection {connection_id!r} was deleted since the flow started")
    connection = Connection.from_document(found)
    client, endpoints = _endpoints(rt, connection)
    started = utcnow()
    with _oauth_client(
        rt, client, endpoints, redirect_uri=flow.redirect_uri, scope=_scope(connection, endpoints)
    ) as oauth:
        body = _exchange(oauth, endpoints.token_url, code=code, verifier=flow.code_verifier)
    try:
        grant = _oauth_grant(body, started)
    except AuthError as err:
        raise CodeExchangeError(str(err)) from None
    if grant.refresh_token is None:
        raise CodeExchangeError("the token endpoint issued no refresh token")
    scope = body.get("scope")
    payload = OAuth2AuthorizationCode(
        token_url=endpoints.token_url,
        client_id=client.client_id,
        client_secret=client.client_secret,
        token_endpoint_auth_method=endpoints.token_endpoint_auth_method,
        refresh_token=SecretStr(grant.refresh_token),
        scope=scope if isinstance(scope, str) and scope else None,
        access_token=SecretStr(grant.access_token),
        extras=grant.extras,
    )
    record = rt.credentials.store_credential(
        tenant_id, connection_id, payload, expires_at=grant.expires_at, owner=flow.actor
    )

    def activate(document: dict[str, Any]) -> dict[str, Any]:
        return document | {"credentialId": record.id, "status": ConnectionStatus.ACTIVE.value}

    stored = update_document(rt.store, Connection.container, tenant_id, connection_id, activate)
    record_write(
        rt.store,
        tenant_id,
        actor=flow.actor,
        action="connect",
        resource="connection",
        resource_id=connection_id,
        before_id=connection.credential_id,
        after_id=record.id,
    )
    log.info(
        "connection %s connected with OAuth",
        connection_id,
        extra={"connection_id": connection_id, "system": connection.system},
    )
    return Connection.from_document(stored or found)
