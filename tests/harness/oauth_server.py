"""A real OAuth2 authorization server on loopback HTTP, for credential tests (reusable).

Speaks the parts of RFC 6749/7636/7523 and GitHub's installation-token API that Lockstep
uses, with knobs for the failure modes connect and refresh code must survive:

- ``GET /oauth/authorize`` (RFC 6749 §4.1.1): checks the client, the redirect URI and a
  PKCE S256 challenge (RFC 7636 §4.3; a plain or missing one is refused), then — as if
  the person consented, or declined when ``consent = "deny"`` — answers 302 to the
  redirect URI with ``code`` and ``state`` (or ``error=access_denied``, §4.1.2.1);
- ``authorization_code`` grant (§4.1.3): the code is single-use and expires in a minute,
  the redirect URI must be the authorize request's, and the ``code_verifier`` must hash to
  the challenge (RFC 7636 §4.6) — else ``invalid_grant``; it answers an access and a
  refresh token;
- ``refresh_token`` grant with refresh-token rotation (the old token dies on use, like
  Salesforce/Google with rotation on) or without it (no ``refresh_token`` in the answer);
- ``client_credentials`` and ``urn:ietf:params:oauth:grant-type:jwt-bearer`` (assertion
  verified with PyJWT against a registered public key);
- ``POST /app/installations/{id}/access_tokens`` with an app JWT (GitHub Apps);
- ``GET /api/resource``: a protected resource answering 401 for unknown/revoked tokens;
- scripted failures (``fail_next``), a response delay, and revocation.

Every token-endpoint call is counted (``calls``), so tests can assert "exactly one".
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

__all__ = ["AuthorizeRequest", "OAuthServer", "TokenCall", "s256"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class TokenCall:
    path: str
    grant_type: str
    status: int
    at: float


@dataclass(frozen=True)
class AuthorizeRequest:
    """One authorize request as the server received it (for assertions)."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    code_challenge_method: str


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    expires: float


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class _State:
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch)
    public_keys: dict[str, str] = field(default_factory=dict)  # issuer/app id -> PEM
    installations: set[str] = field(default_factory=set)
    scripted: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)
    calls: list[TokenCall] = field(default_factory=list)
    issued: set[str] = field(default_factory=set)
    codes: dict[str, _Code] = field(default_factory=dict)
    authorize_requests: list[AuthorizeRequest] = field(default_factory=list)


class OAuthServer:
    """Start with ``with OAuthServer() as server:``; ``server.token_url`` is the endpoint."""

    def __init__(
        self,
        *,
        client_id: str = "lockstep-test-client",
        client_secret: str | None = None,
        access_ttl_seconds: int = 3600,
        rotate_refresh_tokens: bool = True,
        delay_seconds: float = 0.0,
        fixed_access_token: str | None = None,
    ) -> None:
        """`fixed_access_token`: every access token issued is this value, for a resource
        server that is a separate fake with one key (a sandbox account's `api_key`)."""
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.access_ttl_seconds = access_ttl_seconds
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.delay_seconds = delay_seconds
        self.fixed_access_token = fixed_access_token
        # What the "person" answers on the consent screen for the next authorize requests.
        self.consent: Literal["approve", "deny"] = "approve"
        # The `instance_url` token answers name, as Salesforce's do (None: this server's
        # own URL); a test changes it to move an org.
        self.instance_url: str | None = None
        self._state = _State()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> OAuthServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_url(self) -> str:
        return self.base_url + "/oauth/token"

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/oauth/authorize"

    @property
    def resource_url(self) -> str:
        return self.base_url + "/api/resource"

    @property
    def authorize_requests(self) -> list[AuthorizeRequest]:
        with self._lock:
            return list(self._state.authorize_requests)

    # ------------------------------------------------------------ test knobs
    def issue_refresh_token(self) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._state.refresh_tokens.add(token)
            self._state.issued.add(token)
        return token

    def issue_access_token(self, ttl_seconds: float | None = None) -> str:
        token = self.fixed_access_token or "at-" + secrets.token_urlsafe(24)
        ttl = self.access_ttl_seconds if ttl_seconds is None else ttl_seconds
        with self._lock:
            self._state.access_tokens[token] = time.time() + ttl
            self._state.issued.add(token)
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self._state.refresh_tokens.discard(token)
            self._state.access_tokens.pop(token, None)

    def revoke_all_access_tokens(self) -> None:
        with self._lock:
            self._state.access_tokens.clear()

    def register_public_key(self, issuer: str, public_pem: str) -> None:
        """Accept JWT assertions (or GitHub app JWTs, issuer = app id) signed by its key."""
        with self._lock:
            self._state.public_keys[issuer] = public_pem

    def add_installation(self, installation_id: str) -> None:
        with self._lock:
            self._state.installations.add(installation_id)

    def fail_next(self, status: int, body: dict[str, Any] | None = None, *, times: int = 1) -> None:
        """The next `times` token calls answer `status` with `body` (a JSON object)."""
        with self._lock:
            for _ in range(times):
                self._state.scripted.append((status, body or {}))

    @property
    def calls(self) -> list[TokenCall]:
        with self._lock:
            return list(self._state.calls)

    def issued_tokens(self) -> set[str]:
        """Every access and refresh token this server ever issued (for leak checks)."""
        with self._lock:
            return set(self._state.issued)

    def valid_refresh_tokens(self) -> set[str]:
        with self._lock:
            return set(self._state.refresh_tokens)

    # ------------------------------------------------------------ protocol
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None  # request lines may carry credentials in query strings

            def _send(self, status: int, body: dict[str, Any] | None) -> None:
                raw = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (its timeout is part of the test)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/oauth/authorize":
                    status, answer = server._authorize(
                        {k: v[0] for k, v in parse_qs(query).items()}
                    )
                    if status == 302:
                        self._redirect(answer["location"])
                    else:
                        self._send(status, answer)
                    return
                if path != "/api/resource":
                    self._send(404, {"error": "not_found"})
                    return
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ").strip()
                with server._lock:
                    expiry = server._state.access_tokens.get(token)
                if expiry is None or expiry < time.time():
                    self._send(401, {"error": "invalid_token"})
                else:
                    self._send(200, {"ok": True})

            def do_POST(self) -> None:
                raw = self._body()
                if server.delay_seconds:
                    time.sleep(server.delay_seconds)
                path = self.path.split("?")[0]
                if path.startswith("/app/installations/") and path.endswith("/access_tokens"):
                    status, body = server._github(path, self.headers.get("Authorization", ""))
                    grant_type = "github_installation"
                else:
                    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                    grant_type = form.get("grant_type", "")
                    status, body = server._token(form, self.headers.get("Authorization"))
                with server._lock:
                    server._state.calls.append(TokenCall(path, grant_type, status, time.time()))
                self._send(status, body)

        return Handler

    def _scripted(self) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            return self._state.scripted.popleft() if self._state.scripted else None

    def _client_ok(self, form: dict[str, str], authorization: str | None) -> bool:
        if authorization and authorization.startswith("Basic "):
            import base64

            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            return user == self.client_id and password == self.client_secret
        return (
            form.get("client_id") == self.client_id
            and form.get("client_secret") == self.client_secret
        )

    def _new_access(self) -> dict[str, Any]:
        return {
            "access_token": self.issue_access_token(),
            "token_type": "Bearer",
            "expires_in": self.access_ttl_seconds,
            "instance_url": self.instance_url or self.base_url,
        }

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """302 with the redirect's `location`, or 400 when there is no valid redirect URI
        to send an error to (RFC 6749 §4.1.2.1: then the person is told, not redirected).
        """
        redirect_uri = query.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        if query.get("client_id") != self.client_id:
            return 400, {"error": "invalid_client"}
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            return 400, {"error": "invalid_request", "error_description": "bad redirect_uri"}
        request = AuthorizeRequest(
            client_id=query.get("client_id", ""),
            redirect_uri=redirect_uri,
            scope=query.get("scope", ""),
            state=query.get("state", ""),
            code_challenge=query.get("code_challenge", ""),
            code_challenge_method=query.get("code_challenge_method", ""),
        )
        with self._lock:
            self._state.authorize_requests.append(request)

        def back(**params: str) -> tuple[int, dict[str, Any]]:
            if request.state:
                params["state"] = request.state
            joiner = "&" if parts.query else "?"
            return 302, {"location": redirect_uri + joiner + urlencode(params)}

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if request.code_challenge_method != "S256" or not request.code_challenge:
            return back(error="invalid_request", error_description="PKCE S256 is required")
        if self.consent == "deny":
            return back(error="access_denied", error_description="The user denied access")
        code = "ac-" + secrets.token_urlsafe(24)
        with self._lock:
            self._state.codes[code] = _Code(
                client_id=request.client_id,
                redirect_uri=redirect_uri,
                challenge=request.code_challenge,
                scope=request.scope,
                expires=time.time() + 60,
            )
            self._state.issued.add(code)
        return back(code=code)

    def _code_grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:  # single use: a code is gone once presented, right or wrong
            grant = self._state.codes.pop(form.get("code", ""), None)
        refused = {"error": "invalid_grant"}
        if grant is None or grant.expires < time.time():
            return 400, refused | {"error_description": "unknown, used or expired code"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, refused | {"error_description": "redirect_uri does not match"}
        if s256(form.get("code_verifier", "")) != grant.challenge:
            return 400, refused | {"error_description": "code_verifier does not match"}
        body = self._new_access() | {"refresh_token": self.issue_refresh_token()}
        if grant.scope:
            body["scope"] = grant.scope
        return 200, body

    def _token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        grant = form.get("grant_type")
        if grant == "authorization_code":
            if not self._client_ok(form, authorization):
                return 401, {"error": "invalid_client"}
            return self._code_grant(form)
        if grant == "refresh_token":
            if not self._client_ok(form, authorization):
                return 401, {"error": "invalid_client"}
            token = form.get("refresh_token", "")
            with self._lock:
                if token not in self._state.refresh_tokens:
                    return 400, {"error": "invalid_grant", "error_description": "bad token"}
                if self.rotate_refresh_tokens:
                    self._state.refresh_tokens.discard(token)
            body = self._new_access()
            if self.rotate_refresh_tokens:
                body["refresh_token"] = self.issue_refresh_token()
            return 200, body
        if grant == "client_credentials":
            if not self._client_ok(form, authorization):
                return 401, {"error": "invalid_client"}
            return 200, self._new_access()
        if grant == JWT_BEARER:
            assertion = form.get("assertion", "")
            try:
                issuer = jwt.decode(assertion, options={"verify_signature": False})["iss"]
                with self._lock:
                    key = self._state.public_keys[issuer]
                jwt.decode(
                    assertion,
                    key,
                    algorithms=["RS256", "ES256"],
                    audience=self.token_url,
                    options={"require": ["exp", "iat", "iss", "aud"]},
                )
            except (jwt.PyJWTError, KeyError):
                return 400, {"error": "invalid_grant", "error_description": "bad assertion"}
            return 200, self._new_access()
        return 400, {"error": "unsupported_grant_type"}

    def _github(self, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        installation = path.split("/")[3]
        token = authorization.removeprefix("Bearer ").strip()
        try:
            app_id = str(jwt.decode(token, options={"verify_signature": False})["iss"])
            with self._lock:
                key = self._state.public_keys[app_id]
            jwt.decode(token, key, algorithms=["RS256"], options={"require": ["exp", "iat"]})
        except (jwt.PyJWTError, KeyError):
            return 401, {"message": "A JSON web token could not be decoded"}
        with self._lock:
            known = installation in self._state.installations
        if not known:
            return 404, {"message": "Not Found"}
        expires = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + self.access_ttl_seconds)
        )
        return 201, {"token": self.issue_access_token(), "expires_at": expires}
