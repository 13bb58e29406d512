"""A Google People API-shaped fake of the contact endpoints, as a WSGI app: stateful,
served on loopback by `SandboxServer`.

Shapes are those of Google's People API reference (fixtures in
tests/harness/fakes/fixtures/google_*.json, each citing its page): `Person` with
`resourceName`, `etag` and `metadata.sources[].updateTime`, `ListConnectionsResponse`
(`connections`, `nextPageToken`, `nextSyncToken`, `totalItems`), and errors as
google.rpc.Status (`error.code`, `error.message`, `error.status`, `error.details` with an
ErrorInfo `reason`). Behaviour it keeps: bearer auth; `personFields` required and each
person answered with those fields only; `pageSize` 1-1000; a paged request whose other
parameters differ from its first call's refused; a sync token for the changes after the
listing that handed it out, deleted contacts in sync listings as `metadata.deleted`;
expired sync tokens (400 FAILED_PRECONDITION, reason EXPIRED_SYNC_TOKEN); updates that
need the etag (missing: 400; stale: 400 FAILED_PRECONDITION) and replace the fields
`updatePersonFields` names; `sortOrder=LAST_MODIFIED_DESCENDING`.
https://developers.google.com/people/api/rest/v1/people.connections/list,
https://developers.google.com/people/api/rest/v1/people/updateContact
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from adapters.fakes._wsgi import json_object
from adapters.sandbox_server import status_line
from integration_core.clock import to_iso, utcnow

__all__ = ["GooglePeopleFake"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_WRITABLE = frozenset(
    {"names", "emailAddresses", "phoneNumbers", "organizations", "addresses", "clientData"}
)
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND"}


class _Error(Exception):
    def __init__(
        self, code: int, message: str, *, status: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or _STATUS.get(code, "UNKNOWN")
        self.reason = reason

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.reason:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "people.googleapis.com",
                }
            ]
        return {"error": error}


@dataclass
class _Person:
    id: str
    fields: dict[str, list[dict[str, Any]]]
    updated: datetime
    seq: int
    revision: int = 1
    deleted: bool = False

    @property
    def etag(self) -> str:
        digest = hashlib.sha256(f"{self.id}:{self.revision}".encode()).digest()[:12]
        return "%" + base64.b64encode(digest).decode()

    def to_json(self, wanted: set[str]) -> dict[str, Any]:
        source = {"type": "CONTACT", "id": self.id.removeprefix("c"), "etag": "#" + self.etag[1:]}
        body: dict[str, Any] = {"resourceName": f"people/{self.id}", "etag": self.etag}
        if self.deleted:
            body["metadata"] = {"sources": [source], "deleted": True, "objectType": "PERSON"}
            return body
        if "metadata" in wanted:
            source["updateTime"] = to_iso(self.updated)
            body["metadata"] = {"sources": [source], "objectType": "PERSON"}
        for name in sorted(wanted & set(self.fields)):
            items = json.loads(json.dumps(self.fields[name]))
            for i, item in enumerate(items):
                item["metadata"] = {
                    "primary": i == 0,
                    "source": {"type": "CONTACT", "id": source["id"]},
                }
                if name == "names":
                    shown = " ".join(
                        p for p in (item.get("givenName"), item.get("familyName")) if p
                    )
                    item["displayName"] = shown
                    item["unstructuredName"] = shown
            body[name] = items
        return body


@dataclass
class GooglePeopleFake:
    """One Google account's contacts and its change log."""

    token: str
    clock: Callable[[], datetime] = utcnow
    _people: dict[str, _Person] = field(default_factory=dict)
    _seq: int = 0
    _next_id: int = 7000
    _forgotten: int = 0  # sync tokens from before this change are expired
    _listings: dict[str, tuple[list[str], dict[str, str], int]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- direct access (a user in Google Contacts) --

    def create(self, fields: Mapping[str, Any]) -> str:
        with self._lock:
            self._next_id += 1
            self._seq += 1
            person_id = f"c{self._next_id}"
            self._people[person_id] = _Person(person_id, _clean(fields), self.clock(), self._seq)
            return person_id

    def update(self, person_id: str, fields: Mapping[str, Any]) -> None:
        with self._lock:
            person = self._people[person_id]
            person.fields.update(_clean(fields))
            self._touch(person)

    def delete(self, person_id: str) -> None:
        with self._lock:
            person = self._people[person_id]
            person.deleted = True
            self._touch(person)

    def live_ids(self) -> set[str]:
        with self._lock:
            return {p.id for p in self._people.values() if not p.deleted}

    def person(self, person_id: str) -> dict[str, Any]:
        with self._lock:
            return self._people[person_id].to_json(set(_WRITABLE) | {"metadata"})

    def forget_changes(self) -> None:
        """Every sync token handed out so far expires."""
        with self._lock:
            self._seq += 1
            self._forgotten = self._seq

    def _touch(self, person: _Person) -> None:
        self._seq += 1
        person.seq = self._seq
        person.revision += 1
        person.updated = self.clock()

    # -- the HTTP API --

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        try:
            status, body = self._route(environ, method, path)
        except _Error as err:
            status, body = err.code, err.body()
        start_response(status_line(status), [("Content-Type", "application/json; charset=UTF-8")])
        return [json.dumps(body).encode()]

    def _route(self, environ: dict[str, Any], method: str, path: str) -> tuple[int, Any]:
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            raise _Error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        with self._lock:
            if path == "/v1/people/me/connections" and method == "GET":
                return 200, self._list(query)
            if path == "/v1/people:createContact" and method == "POST":
                fields = _body(environ)
                return 200, self._people[self.create(_writable(fields))].to_json(_wanted(query))
            if path.startswith("/v1/people/c"):
                person_id, _, verb = path.removeprefix("/v1/people/").partition(":")
                person = self._people.get(person_id)
                if person is None or person.deleted:
                    raise _Error(404, "Requested entity was not found.")
                if method == "GET" and not verb:
                    return 200, person.to_json(_wanted(query, required=True))
                if method == "PATCH" and verb == "updateContact":
                    return 200, self._update(person, query, _body(environ))
                if method == "DELETE" and verb == "deleteContact":
                    self.delete(person_id)
                    return 200, {}
        raise _Error(404, "Requested entity was not found.")

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        wanted = _wanted(query, required=True)
        size = int(query.get("pageSize", "100") or "100")
        if not 1 <= size <= 1000:
            raise _Error(400, "pageSize must be between 1 and 1000.")
        params = {k: v for k, v in query.items() if k not in ("pageToken", "syncToken")}
        page_token = query.get("pageToken")
        if page_token is not None:
            listing = self._listings.get(page_token.partition(".")[0])
            if listing is None or not page_token.partition(".")[2].isdigit():
                raise _Error(400, "Page token is not valid.")
            ids, first_params, sync_at = listing
            if params != first_params:
                raise _Error(400, "Parameters must match the first call of a paged request.")
            offset = int(page_token.partition(".")[2])
        else:
            sync = query.get("syncToken")
            if sync is not None:
                since = _token_seq(sync)
                if since < self._forgotten:
                    raise _Error(
                        400,
                        "Sync token is expired. Clear local cache and retry call without "
                        "the sync token.",
                        status="FAILED_PRECONDITION",
                        reason="EXPIRED_SYNC_TOKEN",
                    )
                changed = [p for p in self._people.values() if p.seq > since]
                changed.sort(key=lambda p: p.seq)
            else:
                changed = [p for p in self._people.values() if not p.deleted]
                descending = query.get("sortOrder") == "LAST_MODIFIED_DESCENDING"
                changed.sort(key=lambda p: p.seq, reverse=descending)
            ids, sync_at, offset = [p.id for p in changed], self._seq, 0
            key = hashlib.sha256(f"{len(self._listings)}:{sync_at}".encode()).hexdigest()[:16]
            self._listings[key] = (ids, params, sync_at)
            page_token = key
        key = page_token.partition(".")[0]
        chunk = ids[offset : offset + size]
        body: dict[str, Any] = {
            "connections": [self._people[i].to_json(wanted) for i in chunk],
            "totalItems": len(ids),
            "totalPeople": len(ids),
        }
        if offset + size < len(ids):
            body["nextPageToken"] = f"{key}.{offset + size}"
        elif query.get("requestSyncToken") == "true":
            body["nextSyncToken"] = _sync_token(sync_at)
        if not body["connections"]:
            del body["connections"]  # Google leaves an empty list out
        return body

    def _update(self, person: _Person, query: dict[str, str], body: dict[str, Any]) -> Any:
        names = [n for n in query.get("updatePersonFields", "").split(",") if n]
        if not names:
            raise _Error(
                400, "updatePersonFields mask is required. Please specify one or more valid paths."
            )
        unknown = sorted(set(names) - _WRITABLE)
        if unknown:
            raise _Error(400, f"Invalid updatePersonFields mask path: {unknown[0]!r}.")
        etags = [body.get("etag")] + [
            s.get("etag") for s in (body.get("metadata") or {}).get("sources", [])
        ]
        given = [e for e in etags if e]
        if not given:
            raise _Error(
                400,
                "Request must set person.etag or person.metadata.sources.etag for the source "
                "that is being updated.",
            )
        if given[0] != person.etag:
            raise _Error(
                400,
                "Request person.etag is different than the current person.etag. Clear local "
                "cache and get the latest person.",
                status="FAILED_PRECONDITION",
                reason="failedPrecondition",
            )
        if len(body.get("names") or []) > 1:
            raise _Error(400, "Only one name may be specified for a contact source.")
        self.update(person.id, {name: body.get(name) or [] for name in names})
        return person.to_json(_wanted(query))


def _clean(fields: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The writable fields as stored: output-only item keys (metadata, displayName) dropped."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, items in fields.items():
        if name not in _WRITABLE:
            raise _Error(400, f"Invalid person field: {name!r}.")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _Error(400, f"Invalid value at 'person.{name}': expected a list of objects.")
        out[name] = [
            {
                k: v
                for k, v in item.items()
                if k not in ("metadata", "displayName", "unstructuredName")
            }
            for item in items
        ]
    return out


def _writable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k in _WRITABLE}


def _wanted(query: dict[str, str], *, required: bool = False) -> set[str]:
    fields = query.get("personFields", "")
    if not fields:
        if required:
            raise _Error(
                400, "personFields mask is required. Please specify one or more valid paths."
            )
        return set(_WRITABLE) | {"metadata"}
    return set(fields.split(","))


def _sync_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"sync:{seq}".encode()).decode()


def _token_seq(token: str) -> int:
    try:
        kind, _, seq = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "sync" and seq.isdigit():
            return int(seq)
    except (ValueError, UnicodeDecodeError):
        pass
    raise _Error(400, "Sync token is not valid.")


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    return json_object(
        environ, lambda reason: _Error(400, f"Invalid JSON payload received. {reason}")
    )
