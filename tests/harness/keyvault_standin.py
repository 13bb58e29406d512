"""A local HTTPS stand-in for the Key Vault secrets REST API (reusable).

Serves what `azure.keyvault.secrets.SecretClient` calls — set, get (latest or a version),
list versions, delete (soft delete with a recovery id), get/purge deleted — and performs
Key Vault's challenge-based auth: a request without a valid bearer token gets
``401`` with ``WWW-Authenticate: Bearer authorization=..., resource=...``, after which the
SDK asks its credential for a token and resends. TLS uses a self-signed certificate
generated with `cryptography` at start; pass ``connection_verify=standin.ca_path`` and
``verify_challenge_resource=False`` (the vault is on 127.0.0.1, not *.vault.azure.net).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import secrets
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = [
    "KeyVaultStandin",
    "StaticTokenCredential",
    "self_signed_certificate",
    "server_tls_context",
]

_TENANT = "00000000-0000-0000-0000-000000000001"
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")


def self_signed_certificate(hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> tuple[str, str]:
    """(certificate PEM, private key PEM) valid for `hosts` for one day."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )


def server_tls_context(certificate_pem: str, key_pem: str) -> ssl.SSLContext:
    """A server-side TLS context for a PEM pair (`ssl` loads chains only from files)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="tls-pair-") as folder:
        cert_path, key_path = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_path.write_text(certificate_pem)
        key_path.write_text(key_pem)
        key_path.chmod(0o600)
        context.load_cert_chain(cert_path, key_path)
    return context


class StaticTokenCredential:
    """An azure-core TokenCredential that always returns one token (counts its calls)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)

    def close(self) -> None:
        return None

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@dataclass
class _Version:
    version: str
    value: str
    created: int
    content_type: str | None
    tags: dict[str, str]
    enabled: bool = True


@dataclass
class _Vault:
    secrets: dict[str, list[_Version]] = field(default_factory=dict)
    deleted: dict[str, tuple[list[_Version], int]] = field(default_factory=dict)
    challenges: int = 0
    requests: int = 0


class KeyVaultStandin:
    """``with KeyVaultStandin() as kv:`` then ``SecretClient(kv.url, kv.credential(), ...)``."""

    def __init__(self) -> None:
        self.token = "kv-" + secrets.token_urlsafe(24)
        self._vault = _Vault()
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="kv-standin-")
        cert_pem, key_pem = self_signed_certificate()
        self.ca_path = str(Path(self._dir.name) / "ca.pem")
        Path(self.ca_path).write_text(cert_pem)
        context = server_tls_context(cert_pem, key_pem)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> KeyVaultStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def credential(self) -> StaticTokenCredential:
        return StaticTokenCredential(self.token)

    @property
    def challenges(self) -> int:
        with self._lock:
            return self._vault.challenges

    def stored_values(self) -> list[str]:
        """Every value held (live and deleted), for leak and persistence checks."""
        with self._lock:
            live = [v.value for vs in self._vault.secrets.values() for v in vs]
            gone = [v.value for vs, _ in self._vault.deleted.values() for v in vs]
        return live + gone

    # ------------------------------------------------------------ protocol
    def _bundle(self, name: str, v: _Version, *, value: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"{self.url}/secrets/{name}/{v.version}",
            "attributes": {
                "enabled": v.enabled,
                "created": v.created,
                "updated": v.created,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
            "tags": v.tags,
        }
        if v.content_type:
            body["contentType"] = v.content_type
        if value:
            body["value"] = v.value
        return body

    def _deleted_bundle(self, name: str, versions: list[_Version], when: int) -> dict[str, Any]:
        body = self._bundle(name, versions[-1])
        body.update(
            {
                "recoveryId": f"{self.url}/deletedsecrets/{name}",
                "deletedDate": when,
                "scheduledPurgeDate": when + 90 * 86400,
            }
        )
        return body

    def _dispatch(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        parts = [p for p in path.split("/") if p]

        def not_found(what: str) -> tuple[int, dict[str, Any]]:
            return 404, {"error": {"code": "SecretNotFound", "message": f"{what} not found"}}

        vault = self._vault
        with self._lock:
            if parts[:1] == ["secrets"] and len(parts) >= 2:
                name = parts[1]
                if not _NAME.match(name):
                    return 400, {"error": {"code": "BadParameter", "message": "bad name"}}
                if method == "PUT" and len(parts) == 2:
                    if name in vault.deleted:
                        return 409, {
                            "error": {
                                "code": "Conflict",
                                "message": f"Secret {name} is currently in a deleted but"
                                " recoverable state",
                            }
                        }
                    request = json.loads(body or b"{}")
                    if "value" not in request:
                        return 400, {"error": {"code": "BadParameter", "message": "no value"}}
                    version = _Version(
                        version=uuid.uuid4().hex,
                        value=str(request["value"]),
                        created=int(time.time()),
                        content_type=request.get("contentType"),
                        tags=request.get("tags") or {},
                    )
                    vault.secrets.setdefault(name, []).append(version)
                    return 200, self._bundle(name, version)
                versions = vault.secrets.get(name)
                if method == "GET" and len(parts) == 3 and parts[2] == "versions":
                    items = [self._bundle(name, v, value=False) for v in versions or []]
                    return 200, {"value": items, "nextLink": None}
                if method == "GET" and len(parts) in (2, 3):
                    if not versions:
                        return not_found(f"secret {name}")
                    if len(parts) == 2 or not parts[2]:
                        return 200, self._bundle(name, versions[-1])
                    for v in versions:
                        if v.version == parts[2]:
                            return 200, self._bundle(name, v)
                    return not_found(f"secret {name} version")
                if method == "DELETE" and len(parts) == 2:
                    if not versions:
                        return not_found(f"secret {name}")
                    del vault.secrets[name]
                    when = int(time.time())
                    vault.deleted[name] = (versions, when)
                    return 200, self._deleted_bundle(name, versions, when)
            if parts[:1] == ["deletedsecrets"] and len(parts) == 2:
                name = parts[1]
                entry = vault.deleted.get(name)
                if entry is None:
                    return not_found(f"deleted secret {name}")
                if method == "GET":
                    return 200, self._deleted_bundle(name, entry[0], entry[1])
                if method == "DELETE":
                    del vault.deleted[name]
                    return 204, None
        return 405, {"error": {"code": "BadRequest", "message": f"{method} {path}"}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(
                self, status: int, body: dict[str, Any] | None, *, challenge: bool = False
            ) -> None:
                raw = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if challenge:
                    self.send_header(
                        "WWW-Authenticate",
                        f'Bearer authorization="https://login.microsoftonline.com/{_TENANT}",'
                        ' resource="https://vault.azure.net"',
                    )
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with standin._lock:
                    standin._vault.requests += 1
                split = urlsplit(self.path)
                if "api-version=" not in split.query:
                    self._reply(400, {"error": {"code": "MissingApiVersionParameter"}})
                    return
                if self.headers.get("Authorization") != f"Bearer {standin.token}":
                    with standin._lock:
                        standin._vault.challenges += 1
                    self._reply(401, {"error": {"code": "Unauthorized"}}, challenge=True)
                    return
                status, payload = standin._dispatch(self.command, split.path, body)
                self._reply(status, payload)

            do_GET = _handle
            do_PUT = _handle
            do_DELETE = _handle
            do_POST = _handle

        return Handler
