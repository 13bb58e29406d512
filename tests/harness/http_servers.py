"""Small real HTTP(S) servers on loopback for the outbound tests.

`RecordingServer` answers every request with one canned response and records what it
received, so a test can assert that a refused request never arrived. `MutualTlsServer`
speaks HTTPS, requires a client certificate, and answers with the subject it was shown.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.harness.keyvault_standin import server_tls_context

__all__ = ["MutualTlsServer", "ReceivedRequest", "RecordingServer"]


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class _Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class _Server:
    scheme = "http"

    def __init__(self, host: str) -> None:
        self.received: list[ReceivedRequest] = []
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _answer(self, handler: BaseHTTPRequestHandler) -> _Reply:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.received.append(
                    ReceivedRequest(self.command, self.path, dict(self.headers.items()), body)
                )
                reply = owner._answer(self)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class RecordingServer(_Server):
    """Answers `status`/`body`/`headers` to everything; `received` lists the requests."""

    def __init__(
        self,
        *,
        status: int = 200,
        body: bytes = b"{}",
        headers: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.reply = _Reply(status, body, headers or {"Content-Type": "application/json"})

    def _answer(self, handler: BaseHTTPRequestHandler) -> _Reply:
        return self.reply


class MutualTlsServer(_Server):
    """HTTPS on 127.0.0.1 that requires a client certificate issued by `client_ca_pem`.

    Answers `{"client": <the client certificate's common name>}`.
    """

    scheme = "https"

    def __init__(self, *, certificate_pem: str, key_pem: str, client_ca_pem: str) -> None:
        super().__init__("127.0.0.1")
        context = server_tls_context(certificate_pem, key_pem)
        context.load_verify_locations(cadata=client_ca_pem)
        context.verify_mode = ssl.CERT_REQUIRED
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)

    def _answer(self, handler: BaseHTTPRequestHandler) -> _Reply:
        peer = handler.connection.getpeercert()  # type: ignore[attr-defined]
        names = [value for rdn in (peer or {}).get("subject", ()) for key, value in rdn]
        return _Reply(body=json.dumps({"client": names[0] if names else None}).encode())
