"""Token endpoint calls for the four refreshable credential types.

Errors are classified for the caller: `ReauthRequiredError` when the grant itself is dead
(`invalid_grant`, a revoked or unknown client, a removed GitHub installation) and only a
person can fix it; `RetryableError` for 5xx, 429, timeouts and network failures; `AuthError`
for any other refusal. Messages carry the OAuth error code and HTTP status, and for other
refusals a short redacted excerpt of the body (providers sometimes echo the request, so
never the body as is), never a token.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import jwt

from integration_core.clock import from_iso, utcnow
from integration_core.credentials._private import REDACTED_KEYS
from integration_core.credentials.types import (
    GitHubApp,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
    OAuth2JwtBearer,
    TokenCredentialSecret,
)
from integration_core.errors import AuthError, RetryableError
from integration_core.net import body_excerpt

__all__ = ["TokenGrant", "ReauthRequiredError", "REAUTH_ERROR_CODES", "fetch_token"]

_log = logging.getLogger(__name__)

REAUTH_ERROR_CODES = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied", "token_revoked"}
)
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class ReauthRequiredError(AuthError):
    """The grant is dead (revoked, expired refresh token, removed app): a person must reconnect."""

    def __init__(self, message: str, *, error_code: str) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass(frozen=True)
class TokenGrant:
    """What a token endpoint returned. `refresh_token` is None when none was issued."""

    access_token: str = field(repr=False)
    expires_at: datetime | None
    refresh_token: str | None = field(default=None, repr=False)
    extras: dict[str, str] = field(default_factory=dict)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
        except (TypeError, ValueError):
            return None


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code: str = body["error"]
        return code
    return None


def _post(
    http: httpx.Client,
    url: str,
    *,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: httpx.Auth | None = None,
    reauth_statuses: frozenset[int] = frozenset(),
) -> dict[str, Any]:
    try:
        response = http.post(url, data=data, headers=headers, auth=auth or httpx.USE_CLIENT_DEFAULT)
    except httpx.TimeoutException as err:
        raise RetryableError(f"token endpoint timed out ({type(err).__name__})") from err
    except httpx.TransportError as err:
        raise RetryableError(f"token endpoint unreachable ({type(err).__name__})") from err
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableError(
            f"token endpoint returned HTTP {status}", retry_after=_retry_after(response)
        )
    if status >= 400:
        code = _error_code(response)
        if code in REAUTH_ERROR_CODES or (code is None and status in reauth_statuses):
            raise ReauthRequiredError(
                f"token endpoint refused the grant: {code or 'HTTP ' + str(status)}",
                error_code=code or f"http_{status}",
            )
        raise AuthError(
            f"token endpoint returned HTTP {status} ({code or 'no error code'}):"
            f" {body_excerpt(response)}"
        )
    try:
        body = response.json()
    except ValueError as err:
        raise AuthError(f"token endpoint returned non-JSON (HTTP {status})") from err
    if not isinstance(body, dict):
        raise AuthError("token endpoint returned a non-object JSON body")
    return body


def _client_auth(
    payload: OAuth2AuthorizationCode | OAuth2ClientCredentials, form: dict[str, str]
) -> httpx.Auth | None:
    secret = payload.client_secret.get_secret_value() if payload.client_secret else None
    basic = payload.token_endpoint_auth_method == "client_secret_basic"  # noqa: S105
    if basic and secret is not None:
        return httpx.BasicAuth(payload.client_id, secret)
    form["client_id"] = payload.client_id
    if secret is not None:
        form["client_secret"] = secret
    return None


def _oauth_grant(body: dict[str, Any], started: datetime) -> TokenGrant:
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise AuthError("token response has no access_token")
    expires_at: datetime | None = None
    expires_in = body.get("expires_in")
    if isinstance(expires_in, int | float | str):
        try:
            expires_at = started + timedelta(seconds=float(expires_in))
        except ValueError:
            expires_at = None
    refresh = body.get("refresh_token")
    extras = {k: v for k, v in body.items() if isinstance(v, str) and k not in REDACTED_KEYS}
    return TokenGrant(
        access_token=access,
        expires_at=expires_at,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        extras=extras,
    )


def _jwt_assertion(payload: OAuth2JwtBearer, now: datetime) -> str:
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": payload.issuer,
        "aud": payload.audience or payload.token_url,
        "iat": issued,
        "exp": issued + payload.assertion_lifetime_seconds,
    }
    if payload.subject:
        claims["sub"] = payload.subject
    if payload.scope:
        claims["scope"] = payload.scope
    headers = {"kid": payload.key_id} if payload.key_id else None
    return jwt.encode(
        claims, payload.private_key.get_secret_value(), payload.algorithm, headers=headers
    )


def github_app_jwt(payload: GitHubApp, now: datetime) -> str:
    """The app's own JWT (RS256, at most 10 minutes, backdated 60 s for clock drift)."""
    issued = int(now.timestamp()) - 60
    claims = {"iat": issued, "exp": issued + 540, "iss": payload.app_id}
    return jwt.encode(claims, payload.private_key.get_secret_value(), "RS256")


def fetch_token(http: httpx.Client, payload: TokenCredentialSecret) -> TokenGrant:
    """One call to the payload's token endpoint. Never retries; the caller decides."""
    started = utcnow()
    begin = time.perf_counter()
    if isinstance(payload, OAuth2AuthorizationCode):
        form = {
            "grant_type": "refresh_token",
            "refresh_token": payload.refresh_token.get_secret_value(),
        }
        if payload.scope:
            form["scope"] = payload.scope
        auth = _client_auth(payload, form)
        grant = _oauth_grant(_post(http, payload.token_url, data=form, auth=auth), started)
    elif isinstance(payload, OAuth2ClientCredentials):
        form = {"grant_type": "client_credentials"}
        if payload.scope:
            form["scope"] = payload.scope
        if payload.audience:
            form["audience"] = payload.audience
        auth = _client_auth(payload, form)
        grant = _oauth_grant(_post(http, payload.token_url, data=form, auth=auth), started)
    elif isinstance(payload, OAuth2JwtBearer):
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": _jwt_assertion(payload, started)}
        grant = _oauth_grant(_post(http, payload.token_url, data=form), started)
    else:
        base = payload.api_url.rstrip("/")
        url = f"{base}/app/installations/{payload.installation_id}/access_tokens"
        body = _post(
            http,
            url,
            headers={
                "Authorization": f"Bearer {github_app_jwt(payload, started)}",
                "Accept": "application/vnd.github+json",
            },
            reauth_statuses=frozenset({401, 403, 404}),
        )
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise AuthError("GitHub installation token response has no token")
        expires = body.get("expires_at")
        grant = TokenGrant(
            access_token=token,
            expires_at=from_iso(expires) if isinstance(expires, str) else None,
        )
    _log.debug(
        "token endpoint answered",
        extra={
            "credential_type": str(payload.type),
            "duration_ms": round((time.perf_counter() - begin) * 1000, 1),
            "rotated_refresh_token": grant.refresh_token is not None,
        },
    )
    return grant
