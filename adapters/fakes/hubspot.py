"""A HubSpot-shaped fake of the CRM v3 object endpoints, as a WSGI app: a stand-in for the
demo and the tests, never used by a deployment.

Shapes follow HubSpot's OpenAPI files in ../shared/provider-specs/hubspot/ (contacts.json,
companies.json, tasks.json): `SimplePublicObject`, `CollectionResponse…ForwardPaging`,
`PublicObjectSearchRequest` (all five fields required), `BatchResponseSimplePublicUpsertObject`
and the `Error` body (`category`, `correlationId`, `message`). Behaviour it keeps: list by id
with `after` paging, search with GT/GTE/LT/EQ filters and sorts, search refusing to page past
10,000 results, archive-as-delete (archived records only in `?archived=true` listings),
batch upsert by a unique `idProperty`, batch create/update/read answering 207 with
`errors` for the inputs that failed (`BatchResponseSimplePublicObjectWithErrors`), only the
properties a read asks for, bearer auth, `X-HubSpot-RateLimit-*` headers.
"""

from __future__ import annotations

import bisect
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from adapters.fakes._wsgi import json_object
from adapters.sandbox_server import status_line
from integration_core.clock import to_iso, utcnow

__all__ = ["HubSpotFake", "SEARCH_LIMIT"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
SEARCH_LIMIT = 10_000
_MODIFIED = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "tasks": "hs_lastmodifieddate",
}


@dataclass
class _Object:
    id: int
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None

    def to_json(self, object_type: str, wanted: Collection[str] | None = None) -> dict[str, Any]:
        """`wanted`: the properties a read asked for (None: all); like HubSpot, the id and
        the create and modification times come whatever is asked."""
        kept = (
            self.properties
            if wanted is None
            else {name: value for name, value in self.properties.items() if name in wanted}
        )
        properties = {
            **kept,
            "hs_object_id": str(self.id),
            "createdate": to_iso(self.created_at),
            _MODIFIED[object_type]: to_iso(self.updated_at),
        }
        body: dict[str, Any] = {
            "id": str(self.id),
            "properties": properties,
            "createdAt": to_iso(self.created_at),
            "updatedAt": to_iso(self.updated_at),
            "archived": self.archived_at is not None,
        }
        if self.archived_at is not None:
            body["archivedAt"] = to_iso(self.archived_at)
        return body


class _Error(Exception):
    def __init__(self, status: int, category: str, message: str) -> None:
        super().__init__(message)
        self.status, self.category, self.message = status, category, message


@dataclass
class HubSpotFake:
    """One HubSpot portal: objects by type, a private-app token, unique properties."""

    token: str
    clock: Callable[[], datetime] = utcnow
    unique_properties: frozenset[str] = frozenset({"email", "lockstep_id"})
    _objects: dict[str, dict[int, _Object]] = field(
        default_factory=lambda: {object_type: {} for object_type in _MODIFIED}
    )
    _next_id: int = 1000
    _lock: threading.RLock = field(default_factory=threading.RLock)
    requests: list[tuple[str, str]] = field(default_factory=list)

    # -- direct access (a user in the HubSpot UI) --

    def create(self, object_type: str, properties: dict[str, str]) -> str:
        with self._lock:
            self._next_id += 1
            now = self.clock()
            self._objects[object_type][self._next_id] = _Object(
                self._next_id, dict(properties), now, now
            )
            return str(self._next_id)

    def update(self, object_type: str, object_id: str, properties: dict[str, str]) -> None:
        with self._lock:
            record = self._objects[object_type][int(object_id)]
            record.properties.update(properties)
            record.updated_at = self.clock()

    def archive(self, object_type: str, object_id: str) -> None:
        with self._lock:
            record = self._objects[object_type][int(object_id)]
            record.archived_at = record.updated_at = self.clock()

    def live_ids(self, object_type: str) -> set[str]:
        with self._lock:
            return {str(o.id) for o in self._objects[object_type].values() if o.archived_at is None}

    def live_properties(self, object_type: str) -> dict[str, dict[str, str]]:
        """Each live object's properties by id, in creation order (copies)."""
        with self._lock:
            return {
                str(o.id): dict(o.properties)
                for o in self._objects[object_type].values()
                if o.archived_at is None
            }

    # -- the HTTP API --

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        self.requests.append((method, path))
        try:
            status, body = self._route(environ, method, [p for p in path.split("/") if p])
        except _Error as err:
            status = err.status
            body = {
                "status": "error",
                "message": err.message,
                "correlationId": str(uuid.uuid4()),
                "category": err.category,
            }
        headers = [
            ("Content-Type", "application/json;charset=utf-8"),
            ("X-HubSpot-RateLimit-Max", "100"),
            ("X-HubSpot-RateLimit-Remaining", "99"),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
        ]
        start_response(status_line(status), headers)
        return [b"" if body is None else json.dumps(body).encode()]

    def _route(self, environ: dict[str, Any], method: str, parts: list[str]) -> tuple[int, Any]:
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            raise _Error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        if len(parts) < 4 or parts[:3] != ["crm", "v3", "objects"] or parts[3] not in _MODIFIED:
            raise _Error(404, "OBJECT_NOT_FOUND", "resource not found")
        object_type, rest = parts[3], parts[4:]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        with self._lock:
            if not rest and method == "GET":
                return 200, self._list(object_type, query)
            if not rest and method == "POST":
                return 201, self._create(object_type, _json(environ))
            if rest == ["search"] and method == "POST":
                return 200, self._search(object_type, _json(environ))
            if rest == ["batch", "upsert"] and method == "POST":
                return 200, self._upsert(object_type, _json(environ))
            if rest[:1] == ["batch"] and len(rest) == 2 and method == "POST":
                return self._batch(object_type, rest[1], _json(environ))
            if len(rest) == 1:
                return self._one(object_type, method, rest[0], environ, query)
        raise _Error(404, "OBJECT_NOT_FOUND", "resource not found")

    def _list(self, object_type: str, query: dict[str, list[str]]) -> dict[str, Any]:
        limit = _int(query.get("limit", ["10"])[0], "limit")
        after = _int(query.get("after", ["0"])[0], "after")
        archived = query.get("archived", ["false"])[0] == "true"
        # An exploded array or comma-separated: both are accepted.
        wanted = {p for value in query.get("properties", []) for p in value.split(",")}
        # Ids only grow and the table keeps insertion order: page from `after` on.
        table = self._objects[object_type]
        ids = list(table)
        start = bisect.bisect_right(ids, after)
        rows: list[_Object] = []
        for object_id in ids[start:]:
            record = table[object_id]
            if (record.archived_at is not None) == archived:
                if len(rows) == limit:
                    return _page(object_type, rows, wanted or None, more=True)
                rows.append(record)
        return _page(object_type, rows, wanted or None, more=False)

    def _search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        missing = {"after", "filterGroups", "limit", "properties", "sorts"} - set(body)
        if missing:
            raise _Error(400, "VALIDATION_ERROR", f"missing {sorted(missing)}")
        limit = int(body["limit"])
        offset = _int(body["after"] or "0", "after")
        if offset + limit > SEARCH_LIMIT:
            raise _Error(400, "VALIDATION_ERROR", "search cannot page past 10,000 results")
        rows = [
            o
            for o in self._objects[object_type].values()
            if o.archived_at is None and _passes(object_type, o, body["filterGroups"])
        ]
        for sort in reversed(body["sorts"] or ["hs_object_id"]):
            descending = sort.startswith("-")
            name = sort.lstrip("-")
            rows.sort(key=lambda o: _value(object_type, o, name), reverse=descending)
        page = rows[offset : offset + limit]
        more = len(rows) > offset + limit
        wanted = set(body["properties"]) or None
        result = _page(object_type, page, wanted, more=more, after=offset + limit)
        return {"total": len(rows), **result}

    def _create(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        properties = _properties(body)
        self._check_unique(object_type, properties, None)
        new_id = self.create(object_type, properties)
        return self._objects[object_type][int(new_id)].to_json(object_type)

    def _upsert(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        results = []
        started = to_iso(self.clock())
        for item in body.get("inputs", []):
            prop = item.get("idProperty")
            if prop not in self.unique_properties:
                raise _Error(400, "VALIDATION_ERROR", f"{prop!r} is not a unique property")
            properties = {**_properties(item), prop: str(item["id"])}
            found = self._find(object_type, prop, str(item["id"]))
            if found is None:
                record = self._objects[object_type][int(self.create(object_type, properties))]
            else:
                self.update(object_type, str(found.id), properties)
                record = found
            trace = (
                {"objectWriteTraceId": item["objectWriteTraceId"]}
                if "objectWriteTraceId" in item
                else {}
            )
            results.append({**record.to_json(object_type), "new": found is None, **trace})
        return {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": to_iso(self.clock()),
        }

    def _batch(self, object_type: str, operation: str, body: dict[str, Any]) -> tuple[int, Any]:
        """`batch/create|update|read`: every input is checked first (a malformed one
        refuses the whole batch with a 400, as HubSpot does); then each input succeeds or
        fails alone, and a batch with failures answers 207 with `errors` naming each
        failed input by its `objectWriteTraceId` (or its id)."""
        inputs = body.get("inputs")
        if operation not in {"create", "update", "read"} or not isinstance(inputs, list):
            raise _Error(
                404 if operation not in {"create", "update", "read"} else 400,
                "VALIDATION_ERROR",
                "unknown batch operation or no inputs",
            )
        if len(inputs) > 100:
            raise _Error(400, "VALIDATION_ERROR", "at most 100 inputs per batch")
        for item in inputs:
            if not isinstance(item, dict) or (operation != "create" and "id" not in item):
                raise _Error(400, "VALIDATION_ERROR", "each input needs an id")
            if operation != "read":
                _properties(item)
        started = to_iso(self.clock())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in inputs:
            trace = (
                {"objectWriteTraceId": item["objectWriteTraceId"]}
                if "objectWriteTraceId" in item
                else {}
            )
            try:
                record = self._batch_one(object_type, operation, item)
            except _Error as err:
                context = {"objectWriteTraceId": [item["objectWriteTraceId"]]} if trace else {}
                if "id" in item:
                    context["ids"] = [str(item["id"])]
                errors.append(
                    {
                        "status": "error",
                        "category": err.category,
                        "message": err.message,
                        "context": context,
                        "errors": [],
                        "links": {},
                    }
                )
                continue
            results.append(
                {**record.to_json(object_type, set(body.get("properties") or []) or None), **trace}
            )
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": to_iso(self.clock()),
        }
        if errors:
            return 207, {**answer, "errors": errors, "numErrors": len(errors)}
        return (201 if operation == "create" else 200), answer

    def _batch_one(self, object_type: str, operation: str, item: dict[str, Any]) -> _Object:
        if operation == "create":
            properties = _properties(item)
            self._check_unique(object_type, properties, None)
            return self._objects[object_type][int(self.create(object_type, properties))]
        raw_id = str(item["id"])
        record = self._objects[object_type].get(int(raw_id)) if raw_id.isdigit() else None
        if record is None or record.archived_at is not None:
            raise _Error(404, "OBJECT_NOT_FOUND", f"no {object_type} {raw_id}")
        if operation == "update":
            properties = _properties(item)
            self._check_unique(object_type, properties, record.id)
            self.update(object_type, raw_id, properties)
        return record

    def _one(
        self,
        object_type: str,
        method: str,
        raw_id: str,
        environ: dict[str, Any],
        query: dict[str, list[str]],
    ) -> tuple[int, Any]:
        record = self._objects[object_type].get(int(raw_id)) if raw_id.isdigit() else None
        if record is None or record.archived_at is not None:
            raise _Error(404, "OBJECT_NOT_FOUND", "resource not found")
        if method == "GET":
            wanted = {p for value in query.get("properties", []) for p in value.split(",")}
            return 200, record.to_json(object_type, wanted or None)
        if method == "PATCH":
            properties = _properties(_json(environ))
            self._check_unique(object_type, properties, record.id)
            self.update(object_type, raw_id, properties)
            return 200, record.to_json(object_type)
        if method == "DELETE":
            self.archive(object_type, raw_id)
            return 204, None
        raise _Error(405, "VALIDATION_ERROR", "method not allowed")

    def _find(self, object_type: str, prop: str, value: str) -> _Object | None:
        return next(
            (
                o
                for o in self._objects[object_type].values()
                if o.archived_at is None and o.properties.get(prop) == value
            ),
            None,
        )

    def _check_unique(self, object_type: str, properties: dict[str, str], own: int | None) -> None:
        for prop in self.unique_properties & set(properties):
            other = self._find(object_type, prop, properties[prop])
            if other is not None and other.id != own:
                raise _Error(409, "CONFLICT", f"an object already has {prop}={properties[prop]}")


def _page(
    object_type: str,
    rows: list[_Object],
    wanted: Collection[str] | None,
    *,
    more: bool,
    after: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"results": [o.to_json(object_type, wanted) for o in rows]}
    if more and rows:
        token = str(after if after is not None else rows[-1].id)
        body["paging"] = {"next": {"after": token, "link": f"?after={token}"}}
    return body


def _value(object_type: str, record: _Object, name: str) -> Any:
    if name == "hs_object_id":
        return record.id
    if name == _MODIFIED[object_type]:
        return record.updated_at.timestamp() * 1000
    return record.properties.get(name, "")


def _passes(object_type: str, record: _Object, groups: list[dict[str, Any]]) -> bool:
    def one(f: dict[str, Any]) -> bool:
        have = _value(object_type, record, f["propertyName"])
        want: Any = f.get("value", "")
        if isinstance(have, int | float):
            want = float(want)
        return bool(
            {
                "EQ": have == want,
                "GT": have > want,
                "GTE": have >= want,
                "LT": have < want,
            }[f["operator"]]
        )

    return not groups or any(all(one(f) for f in g["filters"]) for g in groups)


def _json(environ: dict[str, Any]) -> dict[str, Any]:
    return json_object(environ, lambda reason: _Error(400, "VALIDATION_ERROR", reason))


def _properties(body: dict[str, Any]) -> dict[str, str]:
    properties = body.get("properties")
    if not isinstance(properties, dict) or not all(isinstance(v, str) for v in properties.values()):
        raise _Error(400, "VALIDATION_ERROR", "properties must be an object of strings")
    return dict(properties)


def _int(value: str, name: str) -> int:
    if not value.isdigit():
        raise _Error(400, "VALIDATION_ERROR", f"{name} must be a number")
    return int(value)
