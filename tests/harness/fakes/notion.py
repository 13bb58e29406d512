"""A Notion-shaped fake of the database and page endpoints (API version 2022-06-28), as a
WSGI app: stateful, served on loopback by `SandboxServer`.

Shapes are those of Notion's API reference examples (fixtures in
tests/harness/fakes/fixtures/notion_*.json, each citing its page): the page object with
its typed property values, the paginated list (`object: list`, `results`, `next_cursor`,
`has_more`), and the error object (`object: error`, `status`, `code`, `message`).
Behaviour it keeps: bearer auth, the Notion-Version header required, `last_edited_time`
kept to the minute, a database query filtered on `last_edited_time` (`on_or_after`) or
on a rich text property (`equals`), sorted by `last_edited_time`, `start_cursor` paging
of at most 100, trashed (archived) pages left out of queries but readable by id, and
property values checked against the database's schema (unknown column, wrong type: 400
validation_error), and the size limits of rich text (2,000 characters a run, 100 runs;
https://developers.notion.com/reference/request-limits#size-limits). https://developers.notion.com/reference/post-database-query,
https://developers.notion.com/reference/page-property-values
"""

from __future__ import annotations

import hmac
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapters.fakes._wsgi import json_object
from adapters.sandbox_server import status_line
from integration_core.clock import from_iso, utcnow

__all__ = ["NotionFake", "rich", "title"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}
_STRINGS = frozenset({"email", "phone_number", "url"})
_LISTS = frozenset({"people", "relation"})


def rich(text: str) -> dict[str, Any]:
    """A rich text property value as a create or update sends it."""
    return {"rich_text": [{"type": "text", "text": {"content": text}}]}


def title(text: str) -> dict[str, Any]:
    """A title property value as a create or update sends it."""
    return {"title": [{"type": "text", "text": {"content": text}}]}


class _Error(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> _Error:
    return _Error(400, "validation_error", message)


def _minute(moment: datetime) -> str:
    """Notion's `last_edited_time`: to the minute, milliseconds written as zeros."""
    return moment.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:00.000Z")


@dataclass
class _Page:
    id: str
    database_id: str
    properties: dict[str, dict[str, Any]]
    created_time: datetime
    last_edited_time: datetime
    order: int
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "page",
            "id": self.id,
            "created_time": _minute(self.created_time),
            "last_edited_time": _minute(self.last_edited_time),
            "created_by": {"object": "user", "id": _BOT},
            "last_edited_by": {"object": "user", "id": _BOT},
            "cover": None,
            "icon": None,
            "parent": {"type": "database_id", "database_id": self.database_id},
            "archived": self.archived,
            "in_trash": self.archived,
            "properties": json.loads(json.dumps(self.properties)),
            "url": f"https://www.notion.so/{self.id.replace('-', '')}",
            "public_url": None,
        }

    def edited_key(self) -> tuple[str, int]:
        return _minute(self.last_edited_time), self.order


_BOT = "c2f20311-9e54-4d11-8c79-7398424ae41e"


@dataclass
class NotionFake:
    """One workspace: databases by id with their schema ({column: type}), and pages."""

    token: str
    databases: dict[str, dict[str, str]]
    clock: Callable[[], datetime] = utcnow
    _pages: dict[str, _Page] = field(default_factory=dict)
    _order: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)
    requests: list[tuple[str, str]] = field(default_factory=list)

    # -- direct access (a user in the Notion app) --

    def create(self, database_id: str, properties: Mapping[str, Any]) -> str:
        with self._lock:
            schema = self._schema(database_id)
            self._order += 1
            now = self.clock()
            page = _Page(
                id=str(uuid.uuid4()),
                database_id=database_id,
                properties={},
                created_time=now,
                last_edited_time=now,
                order=self._order,
            )
            for name, kind in schema.items():
                page.properties[name] = _empty(name, kind)
            self._set(page, schema, properties)
            self._pages[page.id] = page
            return page.id

    def update(self, page_id: str, properties: Mapping[str, Any]) -> None:
        with self._lock:
            page = self._pages[page_id]
            self._set(page, self._schema(page.database_id), properties)
            self._touch(page)

    def trash(self, page_id: str) -> None:
        with self._lock:
            page = self._pages[page_id]
            page.archived = True
            self._touch(page)

    def live_ids(self, database_id: str) -> set[str]:
        with self._lock:
            return {
                p.id
                for p in self._pages.values()
                if p.database_id == database_id and not p.archived
            }

    def page(self, page_id: str) -> dict[str, Any]:
        with self._lock:
            return self._pages[page_id].to_json()

    def _touch(self, page: _Page) -> None:
        self._order += 1
        page.order = self._order
        page.last_edited_time = self.clock()

    # -- the HTTP API --

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        self.requests.append((method, path))
        try:
            status, body = self._route(environ, method, [p for p in path.split("/") if p])
        except _Error as err:
            status = err.status
            body = {
                "object": "error",
                "status": err.status,
                "code": err.code,
                "message": err.message,
            }
        start_response(status_line(status), [("Content-Type", "application/json; charset=utf-8")])
        return [json.dumps(body).encode()]

    def _route(self, environ: dict[str, Any], method: str, parts: list[str]) -> tuple[int, Any]:
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            raise _Error(401, "unauthorized", "API token is invalid.")
        if not environ.get("HTTP_NOTION_VERSION"):
            raise _Error(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be "
                "defined, instead was `undefined`.",
            )
        with self._lock:
            if parts == ["v1", "users", "me"] and method == "GET":
                return 200, {"object": "user", "id": _BOT, "type": "bot", "bot": {}}
            query = len(parts) == 4 and parts[:2] == ["v1", "databases"] and parts[3] == "query"
            if query and method == "POST":
                return 200, self._query(parts[2], _json(environ))
            if parts == ["v1", "pages"] and method == "POST":
                return 200, self._create(_json(environ))
            if len(parts) == 3 and parts[:2] == ["v1", "pages"]:
                page = self._pages.get(parts[2])
                if page is None:
                    raise _Error(
                        404,
                        "object_not_found",
                        f"Could not find page with ID: {parts[2]}. Make sure the relevant "
                        "pages and databases are shared with your integration.",
                    )
                if method == "GET":
                    return 200, page.to_json()
                if method == "PATCH":
                    return 200, self._patch(page, _json(environ))
        raise _Error(400, "invalid_request_url", "Invalid request URL.")

    def _schema(self, database_id: str) -> dict[str, str]:
        schema = self.databases.get(database_id)
        if schema is None:
            raise _Error(
                404, "object_not_found", f"Could not find database with ID: {database_id}."
            )
        return schema

    def _query(self, database_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._schema(database_id)
        size = body.get("page_size", 100)
        if not isinstance(size, int) or not 1 <= size <= 100:
            raise _invalid("body.page_size should be a number less than or equal to `100`.")
        rows = [
            p
            for p in self._pages.values()
            if p.database_id == database_id and not p.archived and _passes(p, body.get("filter"))
        ]
        sorts = body.get("sorts") or []
        if sorts not in ([], [{"timestamp": "last_edited_time", "direction": "ascending"}]):
            raise _invalid("the fake sorts by last_edited_time ascending only")
        rows.sort(key=_Page.edited_key)
        start = 0
        cursor = body.get("start_cursor")
        if cursor is not None:
            ids = [p.id for p in rows]
            if cursor not in ids:
                raise _invalid(
                    f"body.start_cursor should be a valid cursor, instead was `{cursor}`."
                )
            start = ids.index(cursor)
        page = rows[start : start + size]
        following = rows[start + size : start + size + 1]
        return {
            "object": "list",
            "results": [p.to_json() for p in page],
            "next_cursor": following[0].id if following else None,
            "has_more": bool(following),
            "type": "page_or_database",
            "page_or_database": {},
        }

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        parent = body.get("parent")
        database_id = parent.get("database_id") if isinstance(parent, dict) else None
        if not isinstance(database_id, str):
            raise _invalid("body.parent.database_id should be defined.")
        properties = body.get("properties")
        if not isinstance(properties, dict):
            raise _invalid("body.properties should be an object.")
        return self._pages[self.create(database_id, properties)].to_json()

    def _patch(self, page: _Page, body: dict[str, Any]) -> dict[str, Any]:
        if "properties" in body:
            if not isinstance(body["properties"], dict):
                raise _invalid("body.properties should be an object.")
            if page.archived:
                raise _invalid(
                    "Can't edit block that is archived. You must unarchive the block before"
                    " editing."
                )
            self.update(page.id, body["properties"])
        if "archived" in body:
            page.archived = bool(body["archived"])
            self._touch(page)
        return page.to_json()

    def _set(self, page: _Page, schema: dict[str, str], properties: Mapping[str, Any]) -> None:
        for name, value in properties.items():
            kind = schema.get(name)
            if kind is None:
                raise _invalid(f"{name} is not a property that exists.")
            if not isinstance(value, dict) or kind not in value:
                raise _invalid(f"{name} is expected to be {kind}.")
            page.properties[name] = {
                "id": _property_id(name),
                "type": kind,
                kind: _read_shape(name, kind, value[kind]),
            }


def _property_id(name: str) -> str:
    return "title" if name == "Name" else name[:4].replace(" ", "%20")


def _empty(name: str, kind: str) -> dict[str, Any]:
    value: Any = [] if kind in {"title", "rich_text", "multi_select"} | _LISTS else None
    if kind == "checkbox":
        value = False
    return {"id": _property_id(name), "type": kind, kind: value}


def _read_shape(name: str, kind: str, value: Any) -> Any:
    """A property value as written, as a read returns it (plain_text, option ids...)."""
    if kind in ("title", "rich_text"):
        if not isinstance(value, list):
            raise _invalid(f"{name}.{kind} should be an array.")
        if len(value) > 100:
            raise _invalid(f"{name}.{kind}.length should be ≤ `100`, instead was `{len(value)}`.")
        runs = []
        for i, run in enumerate(value):
            content = run.get("text", {}).get("content") if isinstance(run, dict) else None
            if not isinstance(content, str):
                raise _invalid(f"{name}.{kind}[].text.content should be a string.")
            units = len(content.encode("utf-16-le")) // 2  # JavaScript's length
            if units > 2000:
                raise _invalid(
                    f"{name}.{kind}[{i}].text.content.length should be ≤ `2000`, instead was "
                    f"`{units}`."
                )
            runs.append(
                {
                    "type": "text",
                    "text": {"content": content, "link": None},
                    "annotations": dict(_ANNOTATIONS),
                    "plain_text": content,
                    "href": None,
                }
            )
        return runs
    if kind in ("select", "status"):
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise _invalid(f"{name}.{kind}.name should be a string.")
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, value["name"])),
            "name": value["name"],
            "color": "default",
        }
    if kind == "multi_select":
        if not isinstance(value, list) or not all(
            isinstance(v, dict) and isinstance(v.get("name"), str) for v in value
        ):
            raise _invalid(f"{name}.multi_select should be an array of options.")
        return [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, v["name"])),
                "name": v["name"],
                "color": "default",
            }
            for v in value
        ]
    if kind == "date":
        if value is None:
            return None
        start = value.get("start") if isinstance(value, dict) else None
        try:
            from_iso(start) if isinstance(start, str) and "T" in start else datetime.fromisoformat(
                str(start)
            )
        except ValueError as err:
            raise _invalid(f"{name}.date.start should be a valid ISO 8601 date string.") from err
        return {"start": start, "end": value.get("end"), "time_zone": value.get("time_zone")}
    if kind in _STRINGS:
        if value is not None and not isinstance(value, str):
            raise _invalid(f"{name}.{kind} should be a string or `null`.")
        return value
    if kind == "checkbox":
        if not isinstance(value, bool):
            raise _invalid(f"{name}.checkbox should be a boolean.")
        return value
    if kind == "number":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _invalid(f"{name}.number should be a number or `null`.")
        return value
    if kind in _LISTS:
        if not isinstance(value, list) or not all(isinstance(v, dict) and "id" in v for v in value):
            raise _invalid(f"{name}.{kind} should be an array of objects with an id.")
        return [
            {"object": "user", "id": v["id"]} if kind == "people" else {"id": v["id"]}
            for v in value
        ]
    raise _invalid(f"the fake does not keep {kind} properties")


def _passes(page: _Page, query: Any) -> bool:
    if query is None:
        return True
    if not isinstance(query, dict):
        raise _invalid("body.filter should be an object.")
    if query.get("timestamp") == "last_edited_time":
        bound = query.get("last_edited_time", {}).get("on_or_after")
        if not isinstance(bound, str):
            raise _invalid("the fake filters last_edited_time with on_or_after only")
        return from_iso(_minute(page.last_edited_time)) >= from_iso(bound)
    prop = query.get("property")
    if isinstance(prop, str) and isinstance(query.get("rich_text"), dict):
        value = page.properties.get(prop)
        if value is None:
            raise _invalid(f"Could not find property with name or id: {prop}")
        text = "".join(run["plain_text"] for run in value.get("rich_text") or [])
        return text == query["rich_text"].get("equals")
    raise _invalid("the fake filters on last_edited_time or a rich text property")


def _json(environ: dict[str, Any]) -> dict[str, Any]:
    return json_object(environ, lambda reason: _Error(400, "invalid_json", reason))
