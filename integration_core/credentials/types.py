"""The nine credential types: validated secret payloads and how each authenticates.

A payload is what the SecretStore holds for one credential (JSON). Secret fields are
`SecretStr`, and `hide_input_in_errors` keeps raw values out of validation errors, so a
payload can be logged, repr'd or raised about without leaking. `apply(request)` sets
whatever the provider expects on an outgoing `httpx.Request`; the token-based types carry
the current access token and know how to get a new one (see oauth.py).
"""

from __future__ import annotations

import base64
import hmac
import json
import ssl
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

import httpx
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from integration_core.errors import ConfigurationError

__all__ = [
    "CredentialType",
    "REFRESHABLE_TYPES",
    "OAuth2AuthorizationCode",
    "OAuth2ClientCredentials",
    "OAuth2JwtBearer",
    "GitHubApp",
    "ApiKey",
    "Basic",
    "BearerToken",
    "WebhookSecret",
    "ClientCertificate",
    "CredentialSecret",
    "TokenCredentialSecret",
    "parse_secret",
    "dump_secret",
]


class CredentialType(StrEnum):
    OAUTH2_AUTHORIZATION_CODE = "oauth2_authorization_code"
    OAUTH2_CLIENT_CREDENTIALS = "oauth2_client_credentials"
    OAUTH2_JWT_BEARER = "oauth2_jwt_bearer"
    GITHUB_APP = "github_app"
    API_KEY = "api_key"
    BASIC = "basic"
    BEARER_TOKEN = "bearer_token"  # noqa: S105 - a type name, not a secret
    WEBHOOK_SECRET = "webhook_secret"  # noqa: S105 - a type name, not a secret
    CLIENT_CERTIFICATE = "client_certificate"


REFRESHABLE_TYPES = frozenset(
    {
        CredentialType.OAUTH2_AUTHORIZATION_CODE,
        CredentialType.OAUTH2_CLIENT_CREDENTIALS,
        CredentialType.OAUTH2_JWT_BEARER,
        CredentialType.GITHUB_APP,
    }
)


ClientAuthMethod = Literal["client_secret_post", "client_secret_basic"]


def _check_private_key(value: SecretStr) -> SecretStr:
    try:
        load_pem_private_key(value.get_secret_value().encode(), password=None)
    except (ValueError, TypeError) as err:
        raise ValueError("not an unencrypted PEM private key") from err
    return value


def _check_endpoint(value: str) -> str:
    """Token and API endpoints are absolute http(s) URLs; where they may point is the
    OutboundPolicy's decision when the request is made."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as err:
        raise ValueError("must be an absolute https URL") from err
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute https URL")
    return value


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    def apply(self, request: httpx.Request) -> None:
        """Authenticate `request` in place."""
        raise NotImplementedError

    def secret_values(self) -> list[str]:
        """Every secret string in this payload (for redaction checks)."""
        found: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                found.append(value.get_secret_value())
        return found


class _TokenPayload(_Payload):
    """A payload that carries a short-lived access token obtained from a token endpoint."""

    access_token: SecretStr | None = None
    extras: dict[str, str] = Field(default_factory=dict)

    def apply(self, request: httpx.Request) -> None:
        if self.access_token is None:
            raise ConfigurationError("no access token yet: refresh before use")
        request.headers["Authorization"] = f"Bearer {self.access_token.get_secret_value()}"

    def with_tokens(
        self,
        access_token: str,
        *,
        refresh_token: str | None = None,
        extras: dict[str, str] | None = None,
    ) -> Self:
        update: dict[str, Any] = {"access_token": SecretStr(access_token)}
        if extras:
            update["extras"] = {**self.extras, **extras}
        if refresh_token is not None and "refresh_token" in type(self).model_fields:
            update["refresh_token"] = SecretStr(refresh_token)
        return self.model_copy(update=update)


class OAuth2AuthorizationCode(_TokenPayload):
    """A user-granted OAuth2 token pair (HubSpot, Salesforce web flow, Slack, Google user)."""

    type: Literal[CredentialType.OAUTH2_AUTHORIZATION_CODE] = (
        CredentialType.OAUTH2_AUTHORIZATION_CODE
    )
    token_url: str
    client_id: str
    client_secret: SecretStr | None = None
    token_endpoint_auth_method: ClientAuthMethod = "client_secret_post"  # noqa: S105
    refresh_token: SecretStr
    scope: str | None = None

    _validate_endpoint = field_validator("token_url")(_check_endpoint)


class OAuth2ClientCredentials(_TokenPayload):
    """Machine-to-machine OAuth2: the client's own id and secret buy an access token."""

    type: Literal[CredentialType.OAUTH2_CLIENT_CREDENTIALS] = (
        CredentialType.OAUTH2_CLIENT_CREDENTIALS
    )
    token_url: str
    client_id: str
    client_secret: SecretStr
    token_endpoint_auth_method: ClientAuthMethod = "client_secret_post"  # noqa: S105
    scope: str | None = None
    audience: str | None = None

    _validate_endpoint = field_validator("token_url")(_check_endpoint)


class OAuth2JwtBearer(_TokenPayload):
    """RFC 7523 JWT bearer grant: Google service accounts, Salesforce JWT flow."""

    type: Literal[CredentialType.OAUTH2_JWT_BEARER] = CredentialType.OAUTH2_JWT_BEARER
    token_url: str
    issuer: str
    subject: str | None = None
    audience: str | None = None
    private_key: SecretStr
    key_id: str | None = None
    algorithm: Literal["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"] = "RS256"
    scope: str | None = None
    assertion_lifetime_seconds: int = Field(default=300, gt=0, le=3600)

    _validate_key = field_validator("private_key")(_check_private_key)
    _validate_endpoint = field_validator("token_url")(_check_endpoint)


class GitHubApp(_TokenPayload):
    """A GitHub App installation: an app JWT buys an hour-long installation token."""

    type: Literal[CredentialType.GITHUB_APP] = CredentialType.GITHUB_APP
    app_id: str
    installation_id: str
    private_key: SecretStr
    api_url: str = "https://api.github.com"

    _validate_key = field_validator("private_key")(_check_private_key)
    _validate_endpoint = field_validator("api_url")(_check_endpoint)


class ApiKey(_Payload):
    """A static key sent in a header (default) or a query parameter."""

    type: Literal[CredentialType.API_KEY] = CredentialType.API_KEY
    key: SecretStr
    header: str | None = "X-API-Key"
    query_param: str | None = None
    prefix: str = ""

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.header is None) == (self.query_param is None):
            raise ValueError("set exactly one of header and query_param")
        return self

    def apply(self, request: httpx.Request) -> None:
        value = self.prefix + self.key.get_secret_value()
        if self.query_param is not None:
            request.url = request.url.copy_set_param(self.query_param, value)
        else:
            assert self.header is not None
            request.headers[self.header] = value


class Basic(_Payload):
    type: Literal[CredentialType.BASIC] = CredentialType.BASIC
    username: str
    password: SecretStr

    def apply(self, request: httpx.Request) -> None:
        raw = f"{self.username}:{self.password.get_secret_value()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()


class BearerToken(_Payload):
    """A long-lived token (personal access token, Notion integration secret...)."""

    type: Literal[CredentialType.BEARER_TOKEN] = CredentialType.BEARER_TOKEN
    token: SecretStr
    scheme: str = "Bearer"

    def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"{self.scheme} {self.token.get_secret_value()}"


class WebhookSecret(_Payload):
    """A shared signing secret. As an auth it HMAC-signs outgoing request bodies.

    Incoming signatures are verified by the webhooks package, which reads the accepted
    secrets (current and, during a rotation overlap, previous) from the service.
    """

    type: Literal[CredentialType.WEBHOOK_SECRET] = CredentialType.WEBHOOK_SECRET
    secret: SecretStr
    header: str = "X-Lockstep-Signature-256"
    digest: Literal["sha256", "sha512", "sha1"] = "sha256"
    prefix: str = "sha256="

    def signature(self, body: bytes) -> str:
        mac = hmac.new(self.secret.get_secret_value().encode(), body, self.digest)
        return self.prefix + mac.hexdigest()

    def apply(self, request: httpx.Request) -> None:
        request.headers[self.header] = self.signature(request.content)


class ClientCertificate(_Payload):
    """mTLS: a client certificate chain and its key. Applied at the TLS layer, not per request."""

    type: Literal[CredentialType.CLIENT_CERTIFICATE] = CredentialType.CLIENT_CERTIFICATE
    certificate_pem: str
    private_key_pem: SecretStr
    key_password: SecretStr | None = None
    ca_bundle_pem: str | None = None

    @model_validator(mode="after")
    def _loadable(self) -> Self:
        password = self.key_password.get_secret_value().encode() if self.key_password else None
        try:
            load_pem_private_key(self.private_key_pem.get_secret_value().encode(), password)
        except (ValueError, TypeError) as err:
            raise ValueError("private_key_pem is not a PEM private key for that password") from err
        if "BEGIN CERTIFICATE" not in self.certificate_pem:
            raise ValueError("certificate_pem is not a PEM certificate")
        return self

    def apply(self, request: httpx.Request) -> None:
        return None

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context presenting this certificate; pass as httpx ``verify=``."""
        from integration_core.credentials._private import client_ssl_context

        return client_ssl_context(
            certificate_pem=self.certificate_pem,
            private_key_pem=self.private_key_pem.get_secret_value(),
            key_password=self.key_password.get_secret_value() if self.key_password else None,
            ca_bundle_pem=self.ca_bundle_pem,
        )


TokenCredentialSecret = (
    OAuth2AuthorizationCode | OAuth2ClientCredentials | OAuth2JwtBearer | GitHubApp
)

CredentialSecret = Annotated[
    OAuth2AuthorizationCode
    | OAuth2ClientCredentials
    | OAuth2JwtBearer
    | GitHubApp
    | ApiKey
    | Basic
    | BearerToken
    | WebhookSecret
    | ClientCertificate,
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[CredentialSecret] = TypeAdapter(
    CredentialSecret, config=ConfigDict(hide_input_in_errors=True)
)


def parse_secret(data: str | dict[str, Any]) -> CredentialSecret:
    """Validate a stored or submitted payload. Errors name fields, never values."""
    try:
        if isinstance(data, str):
            return _ADAPTER.validate_json(data)
        return _ADAPTER.validate_python(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in err.errors(include_url=False, include_input=False, include_context=False)
        )
        raise ConfigurationError(f"invalid credential payload: {problems}") from err


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def dump_secret(payload: CredentialSecret) -> str:
    """The payload as JSON with secret values in clear: only for the SecretStore."""
    return json.dumps(_reveal(payload.model_dump(mode="python")), separators=(",", ":"))
