"""The sandbox: a small SaaS system of our own, for demos, trials and tests.

It behaves like a real CRM API so that everything above the adapter runs for real:
bearer-token auth (or the same key as an `api_key` query parameter), cursor pagination,
incremental listing by modification time, versions with If-Match, archive-as-delete
(tombstones in listings), idempotency keys on create, X-RateLimit-* headers, and faults on
request (429 with Retry-After, 5xx). It is a WSGI app: served on loopback by
`SandboxServer`, or in-process through the transports `in_process_transports` builds (the
demo and tests inject them; production never does).

API (JSON):
    GET    /v1/health
    GET    /v1/objects/{type}?modified_since=ISO&after_time=ISO&after_id=ID&after=TOKEN&limit=N
           (sorted by (modifiedAt, id); after_* is strict, modified_since inclusive; `after`
           is the opaque `paging.next.after` of the previous page; a modified_since or
           after_time older than the account's `retention` is answered 410 CURSOR_EXPIRED)
    GET    /v1/objects/{type}/{id}
    POST   /v1/objects/{type}                {"properties": {...}}   Idempotency-Key: k
    PATCH  /v1/objects/{type}/{id}           {"properties": {...}}   If-Match: version
    DELETE /v1/objects/{type}/{id}

Webhooks (signed per Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature):
    {"events": [{"object": "contacts", "id": ID, "action": "created" | "updated" |
                 "archived", "occurredAt": ISO}]}
    Events are thin: the subscriber reads the record for its state.
    POST   /v1/webhooks        {"url": "https://...", "secret": "whsec_...", "objects": [...]}
                               -> 201 {"id", "url", "objects"} (the secret is never answered)
    PATCH  /v1/webhooks/{id}   {"secret": "whsec_..."}  (a rotation)
    DELETE /v1/webhooks/{id}
    `subscriptions` holds them, for tests to sign deliveries as the sandbox would.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

from integration_core.clock import from_iso, to_iso, utcnow

__all__ = [
    "SandboxRecord",
    "SandboxAccount",
    "SandboxServer",
    "SandboxSubscription",
    "in_process_transports",
    "status_line",
]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
MAX_PAGE_SIZE = 200


@dataclass
class SandboxRecord:
    id: str
    version: int
    modified_at: datetime
    properties: dict[str, Any]
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": str(self.version),
            "modifiedAt": to_iso(self.modified_at),
            "properties": dict(self.properties),
            "archived": self.archived,
        }


@dataclass
class SandboxSubscription:
    """A webhook endpoint registered at the sandbox, and the secret it signs with."""

    id: str
    url: str
    secret: str
    objects: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "objects": list(self.objects)}


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: float | None


@dataclass
class SandboxAccount:
    """One sandbox tenant: its records, its API key and its behaviour switches."""

    name: str
    api_key: str
    object_types: tuple[str, ...] = ("contacts", "companies", "tasks")
    clock: Callable[[], datetime] = utcnow
    rate_limit_per_second: int = 1000
    # How far back a listing may start (None: forever); older is 410 CURSOR_EXPIRED.
    retention: timedelta | None = None
    _records: dict[str, dict[str, SandboxRecord]] = field(default_factory=dict)
    _idempotency: dict[str, str] = field(default_factory=dict)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _window: tuple[int, int] = (0, 0)
    requests: int = 0
    subscriptions: dict[str, SandboxSubscription] = field(default_factory=dict)

    @property
    def in_process_url(self) -> str:
        """The base URL `in_process_transports` routes to this account."""
        return f"http://{self.in_process_host}"

    @property
    def in_process_host(self) -> str:
        return f"{self.name}.sandbox.invalid"

    # -- direct access (seeding, assertions, the demo's "a user edits a record") --

    def create(self, object_type: str, properties: Mapping[str, Any]) -> SandboxRecord:
        with self._lock:
            record = SandboxRecord(
                id=uuid.uuid4().hex[:12],
                version=1,
                modified_at=self._tick(),
                properties=dict(properties),
            )
            self._table(object_type)[record.id] = record
            return record

    def update(
        self, object_type: str, record_id: str, properties: Mapping[str, Any]
    ) -> SandboxRecord:
        with self._lock:
            record = self._table(object_type)[record_id]
            record.properties.update(properties)
            record.version += 1
            record.modified_at = self._tick()
            return record

    def archive(self, object_type: str, record_id: str) -> SandboxRecord:
        with self._lock:
            record = self._table(object_type)[record_id]
            record.archived = True
            record.version += 1
            record.modified_at = self._tick()
            return record

    def webhook_event(self, object_type: str, record_id: str) -> dict[str, Any]:
        """The webhook event the sandbox sends for the record's latest change."""
        with self._lock:
            record = self._table(object_type)[record_id]
            action = (
                "archived" if record.archived else "created" if record.version == 1 else "updated"
            )
            return {
                "object": object_type,
                "id": record.id,
                "action": action,
                "occurredAt": to_iso(record.modified_at),
            }

    def records(self, object_type: str, *, include_archived: bool = False) -> list[SandboxRecord]:
        with self._lock:
            return [
                r for r in self._table(object_type).values() if include_archived or not r.archived
            ]

    def inject_fault(
        self, status: int, *, count: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next `count` API calls with `status` (e.g. 429 or 503)."""
        if count < 1 or not 400 <= status <= 599:
            raise ValueError("a fault needs count >= 1 and an HTTP error status")
        with self._lock:
            self._faults.append(_Fault(status, count, retry_after))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _table(self, object_type: str) -> dict[str, SandboxRecord]:
        if object_type not in self.object_types:
            raise KeyError(object_type)
        return self._records.setdefault(object_type, {})

    def _tick(self) -> datetime:
        return self.clock()

    # -- the HTTP API --

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status, body, headers = self._handle(environ)
        payload = b"" if body is None else json.dumps(body).encode()
        all_headers = [("Content-Type", "application/json"), *headers]
        start_response(status_line(status), all_headers)
        return [payload]

    def _handle(self, environ: dict[str, Any]) -> tuple[int, Any, list[tuple[str, str]]]:
        with self._lock:
            self.requests += 1
            fault = self._take_fault()
            limit_headers, over_limit = self._count_request()
        if fault is not None:
            headers = [("Retry-After", f"{fault.retry_after:g}")] if fault.retry_after else []
            return fault.status, {"error": "injected fault"}, headers
        if over_limit:
            return 429, {"error": "rate limit exceeded"}, [*limit_headers, ("Retry-After", "1")]
        method = environ["REQUEST_METHOD"]
        parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
        if parts == ["v1", "health"]:
            return 200, {"status": "ok", "account": self.name}, limit_headers
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        if not token:
            token = parse_qs(environ.get("QUERY_STRING", "")).get("api_key", [""])[0]
        if not hmac.compare_digest(token.encode(), self.api_key.encode()):
            return 401, {"error": "invalid or missing bearer token"}, limit_headers
        if parts[:2] == ["v1", "webhooks"] and len(parts) <= 3:
            try:
                status, body = self._webhooks(method, parts[2:], environ)
            except _HttpError as err:
                status, body = err.status, {"error": err.message}
            return status, body, limit_headers
        if len(parts) < 3 or parts[:2] != ["v1", "objects"] or parts[2] not in self.object_types:
            return 404, {"error": "no such resource"}, limit_headers
        object_type = parts[2]
        record_id = parts[3] if len(parts) == 4 else None
        try:
            status, body = self._route(method, object_type, record_id, environ)
        except _HttpError as err:
            status = err.status
            body = {"error": err.message, **({"code": err.code} if err.code else {})}
        return status, body, limit_headers

    def _route(
        self, method: str, object_type: str, record_id: str | None, environ: dict[str, Any]
    ) -> tuple[int, Any]:
        if record_id is None and method == "GET":
            return 200, self._list(object_type, parse_qs(environ.get("QUERY_STRING", "")))
        if record_id is None and method == "POST":
            return self._create(
                object_type, _read_json(environ), environ.get("HTTP_IDEMPOTENCY_KEY")
            )
        if record_id is None:
            raise _HttpError(405, "method not allowed")
        with self._lock:
            record = self._table(object_type).get(record_id)
            if record is None or (record.archived and method != "GET"):
                raise _HttpError(404, f"{object_type}/{record_id} not found")
            expected = environ.get("HTTP_IF_MATCH")
            if expected is not None and expected.strip('"') != str(record.version):
                raise _HttpError(412, f"version is {record.version}, not {expected}")
            if method == "GET":
                return 200, record.to_json()
            if method == "PATCH":
                properties = _read_json(environ).get("properties")
                if not isinstance(properties, dict):
                    raise _HttpError(400, "body must be {'properties': {...}}")
                return 200, self.update(object_type, record_id, properties).to_json()
            if method == "DELETE":
                self.archive(object_type, record_id)
                return 204, None
        raise _HttpError(405, "method not allowed")

    def _webhooks(self, method: str, rest: list[str], environ: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            if not rest and method == "POST":
                body = _read_json(environ)
                url, secret, objects = body.get("url"), body.get("secret"), body.get("objects")
                if not isinstance(url, str) or not url.startswith("https://"):
                    raise _HttpError(400, "url must be an https URL")
                if not isinstance(secret, str) or not secret.startswith("whsec_"):
                    raise _HttpError(400, "secret must be a whsec_ key")
                if not isinstance(objects, list) or not set(objects) <= set(self.object_types):
                    raise _HttpError(400, f"objects must be a list of {sorted(self.object_types)}")
                created = SandboxSubscription(uuid.uuid4().hex[:12], url, secret, list(objects))
                self.subscriptions[created.id] = created
                return 201, created.to_json()
            found = self.subscriptions.get(rest[0]) if rest else None
            if found is None:
                raise _HttpError(404 if rest else 405, "no such webhook subscription")
            if method == "PATCH":
                secret = _read_json(environ).get("secret")
                if not isinstance(secret, str) or not secret.startswith("whsec_"):
                    raise _HttpError(400, "secret must be a whsec_ key")
                found.secret = secret
                return 200, found.to_json()
            if method == "DELETE":
                del self.subscriptions[found.id]
                return 204, None
            raise _HttpError(405, "method not allowed")

    def _list(self, object_type: str, query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            limit = min(int(query.get("limit", ["100"])[0]), MAX_PAGE_SIZE)
            since = from_iso(query["modified_since"][0]) if "modified_since" in query else None
            after = (
                (from_iso(query["after_time"][0]), query.get("after_id", [""])[0])
                if "after_time" in query
                else None
            )
            page_after = _decode_token(query["after"][0]) if "after" in query else None
        except ValueError as err:
            raise _HttpError(400, f"bad query: {err}") from err
        if limit <= 0:
            raise _HttpError(400, "limit must be positive")
        starts = [t for t in (since, after[0] if after else None) if t is not None]
        if self.retention is not None and starts and min(starts) < self.clock() - self.retention:
            raise _HttpError(410, "changes that old are no longer kept", code="CURSOR_EXPIRED")
        with self._lock:
            rows = sorted(self._table(object_type).values(), key=lambda r: (r.modified_at, r.id))
            if since is not None:
                rows = [r for r in rows if r.modified_at >= since]
            for bound in (after, page_after):
                if bound is not None:
                    rows = [r for r in rows if (r.modified_at, r.id) > bound]
            page = rows[:limit]
            more = len(rows) > limit
        paging = {"next": {"after": _encode_token(page[-1])}} if more else None
        return {"results": [r.to_json() for r in page], "paging": paging}

    def _create(
        self, object_type: str, body: dict[str, Any], idempotency_key: str | None
    ) -> tuple[int, Any]:
        properties = body.get("properties")
        if not isinstance(properties, dict):
            raise _HttpError(400, "body must be {'properties': {...}}")
        with self._lock:
            if idempotency_key and idempotency_key in self._idempotency:
                existing = self._table(object_type)[self._idempotency[idempotency_key]]
                return 200, existing.to_json()
            record = self.create(object_type, properties)
            if idempotency_key:
                self._idempotency[idempotency_key] = record.id
            return 201, record.to_json()

    def _take_fault(self) -> _Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.pop(0)
        return fault

    def _count_request(self) -> tuple[list[tuple[str, str]], bool]:
        second = int(self.clock().timestamp())
        start, used = self._window
        used = used + 1 if start == second else 1
        self._window = (second, used)
        remaining = max(0, self.rate_limit_per_second - used)
        headers = [
            ("X-RateLimit-Limit", str(self.rate_limit_per_second)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", "1"),
        ]
        return headers, used > self.rate_limit_per_second


def status_line(status: int) -> str:
    """A WSGI status line: "404 Not Found" (a code without a standard phrase: "599 Error")."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


class _HttpError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def _encode_token(record: SandboxRecord) -> str:
    raw = f"{to_iso(record.modified_at)}|{record.id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[datetime, str]:
    try:
        stamp, _, record_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
    except (binascii.Error, UnicodeDecodeError) as err:
        raise ValueError(f"bad page token {token[:40]!r}") from err
    return from_iso(stamp), record_id


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError as err:
        raise _HttpError(400, f"invalid JSON: {err.msg}") from err
    if not isinstance(body, dict):
        raise _HttpError(400, "body must be a JSON object")
    return body


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        return


class SandboxServer:
    """Serves one SandboxAccount (or any provider fake's WSGI app) on loopback, in a thread."""

    def __init__(
        self,
        account: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.account = account
        self._host = host
        self._server = make_server(
            host, port, account, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}"

    def __enter__(self) -> SandboxServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def in_process_transports(accounts: Iterable[SandboxAccount]) -> dict[str, httpx.BaseTransport]:
    """Transports by host that reach each account at its `in_process_url`, with no network."""
    return {account.in_process_host: httpx.WSGITransport(app=account) for account in accounts}
