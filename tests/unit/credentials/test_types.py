"""The nine credential types: validation, what each puts on a request, token grants."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
from collections.abc import Iterator

import httpx
import jwt
import pytest
from pydantic import ValidationError

from integration_core.clock import utcnow
from integration_core.credentials import (
    ApiKey,
    Basic,
    BearerToken,
    ClientCertificate,
    CredentialType,
    GitHubApp,
    OAuth2ClientCredentials,
    OAuth2JwtBearer,
    ReauthRequiredError,
    WebhookSecret,
    dump_secret,
    fetch_token,
    parse_secret,
)
from integration_core.credentials.oauth import github_app_jwt
from integration_core.errors import ConfigurationError, RetryableError
from tests.harness.keyvault_standin import self_signed_certificate
from tests.harness.oauth_server import OAuthServer
from tests.unit.credentials.support import rsa_keypair

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def server() -> Iterator[OAuthServer]:
    with OAuthServer() as srv:
        yield srv


def _request(url: str = "https://api.example.test/v1/items", body: bytes = b"") -> httpx.Request:
    return httpx.Request("POST", url, content=body)


def test_the_enum_has_exactly_the_nine_types() -> None:
    assert {t.value for t in CredentialType} == {
        "oauth2_authorization_code",
        "oauth2_client_credentials",
        "oauth2_jwt_bearer",
        "github_app",
        "api_key",
        "basic",
        "bearer_token",
        "webhook_secret",
        "client_certificate",
    }


def test_api_key_in_header_or_query() -> None:
    request = _request()
    parse_secret({"type": "api_key", "key": "k-123", "header": "X-Key"}).apply(request)
    assert request.headers["X-Key"] == "k-123"
    request = _request()
    ApiKey(key="k-9", header=None, query_param="hapikey").apply(request)
    assert request.url.params["hapikey"] == "k-9"
    with pytest.raises(ValueError, match="exactly one"):
        ApiKey(key="k", header="X", query_param="q")


def test_basic_and_bearer() -> None:
    request = _request()
    Basic(username="u", password="p@ss").apply(request)
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p@ss").decode()
    request = _request()
    BearerToken(token="t0k").apply(request)
    assert request.headers["Authorization"] == "Bearer t0k"


def test_webhook_secret_signs_the_body() -> None:
    request = _request(body=b'{"a":1}')
    WebhookSecret(secret="whsec").apply(request)
    expected = hmac.new(b"whsec", b'{"a":1}', hashlib.sha256).hexdigest()
    assert request.headers["X-Lockstep-Signature-256"] == "sha256=" + expected


def test_client_certificate_builds_a_tls_context() -> None:
    cert, key = self_signed_certificate(("client.example.test",))
    payload = ClientCertificate(certificate_pem=cert, private_key_pem=key, ca_bundle_pem=cert)
    assert isinstance(payload.ssl_context(), ssl.SSLContext)
    with pytest.raises(ValueError, match="private_key_pem"):
        ClientCertificate(certificate_pem=cert, private_key_pem="garbage")


def test_invalid_payload_errors_never_echo_values() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_secret(
            {
                "type": "oauth2_jwt_bearer",
                "token_url": "u",
                "issuer": "i",
                "private_key": "SUPER-SECRET-NOT-A-KEY",
            }
        )
    assert "SUPER-SECRET" not in str(caught.value)
    assert "private_key" in str(caught.value)
    with pytest.raises(ValidationError, match="unexpected") as direct:
        Basic(username="u", password="p", unexpected="SUPER-SECRET-2")  # type: ignore[call-arg]
    assert "SUPER-SECRET-2" not in str(direct.value)


def test_repr_and_dump_round_trip() -> None:
    payload = BearerToken(token="very-secret-token")
    assert "very-secret-token" not in repr(payload)
    assert "very-secret-token" not in payload.model_dump_json()
    assert parse_secret(dump_secret(payload)) == payload


def test_client_credentials_grant(server: OAuthServer) -> None:
    payload = OAuth2ClientCredentials(
        token_url=server.token_url,
        client_id=server.client_id,
        client_secret=server.client_secret,
        token_endpoint_auth_method="client_secret_basic",
        scope="crm.read",
    )
    with httpx.Client() as http:
        grant = fetch_token(http, payload)
    assert grant.access_token.startswith("at-")
    assert grant.refresh_token is None
    assert grant.expires_at is not None


def test_jwt_bearer_grant_signs_a_verifiable_assertion(server: OAuthServer) -> None:
    private, public = rsa_keypair()
    server.register_public_key("svc@project.iam.example", public)
    payload = OAuth2JwtBearer(
        token_url=server.token_url,
        issuer="svc@project.iam.example",
        subject="user@example.com",
        private_key=private,
        scope="https://www.googleapis.com/auth/contacts",
    )
    with httpx.Client() as http:
        grant = fetch_token(http, payload)
        assert grant.access_token.startswith("at-")
        server.register_public_key("svc@project.iam.example", rsa_public_other())
        with pytest.raises(ReauthRequiredError):
            fetch_token(http, payload)


def rsa_public_other() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_github_app_installation_token(server: OAuthServer) -> None:
    private, public = rsa_keypair()
    server.register_public_key("12345", public)
    server.add_installation("777")
    payload = GitHubApp(
        app_id="12345", installation_id="777", private_key=private, api_url=server.base_url
    )
    with httpx.Client() as http:
        grant = fetch_token(http, payload)
        assert grant.expires_at is not None
        claims = jwt.decode(github_app_jwt(payload, utcnow()), public, algorithms=["RS256"])
        assert claims["iss"] == "12345"
        removed = payload.model_copy(update={"installation_id": "999"})
        with pytest.raises(ReauthRequiredError):
            fetch_token(http, removed)


def test_429_and_unreachable_are_retryable(server: OAuthServer) -> None:
    payload = OAuth2ClientCredentials(
        token_url=server.token_url, client_id=server.client_id, client_secret=server.client_secret
    )
    server.fail_next(429, {"error": "slow_down"})
    with httpx.Client() as http:
        with pytest.raises(RetryableError):
            fetch_token(http, payload)
        dead = payload.model_copy(update={"token_url": "http://127.0.0.1:9/token"})
        with pytest.raises(RetryableError):
            fetch_token(http, dead)
