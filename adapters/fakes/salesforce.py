"""A Salesforce-shaped fake of the REST API the adapter uses, as a WSGI app: a stand-in
for the demo and the tests, never used by a deployment.

Shapes follow the REST API Developer Guide's examples
(`tests/harness/fakes/salesforce_examples.py`, each with its page): query answers (`done`,
`totalSize`, `records` with `attributes`, `nextRecordsUrl`), sObject Get Deleted, create
and upsert answers, and errors as a JSON array of `{"message", "errorCode", "fields"}`.
Behaviour it keeps:
- SOQL, but only the forms the adapter sends: `SELECT <fields> FROM <object>` with an
  optional `WHERE SystemModstamp >= <dateTime>` and `ORDER BY SystemModstamp, Id`; any other
  query is refused with MALFORMED_QUERY, an unknown field with INVALID_FIELD.
- `query` hides deleted rows, `queryAll` returns them with `IsDeleted: true`; a listing is
  a snapshot paged through query locators (`nextRecordsUrl`), `Sforce-Query-Options:
  batchSize=` between `min_batch_size` (Salesforce: 200) and 2000.
- Deletes go to the Recycle Bin (SystemModstamp moves); sObject Get Deleted lists them and
  names `earliestDateAvailable`, which `purge_delete_log()` moves to now.
- Unknown fields, system fields and a missing required field in a write are refused; an
  upsert by an External ID field creates (201) or updates (200), 300 on several matches.
- PATCH honours If-Unmodified-Since against LastModifiedDate in whole seconds (412; the
  Guide gives the status, not a body: the body here is ours).
- Bearer auth (401 INVALID_SESSION_ID), `Sforce-Limit-Info: api-usage=n/m` on every answer
  and 403 REQUEST_LIMIT_EXCEEDED once the quota is spent.
- Composite (`POST composite`, resources_composite_composite_post.htm): up to 25
  subrequests to the resources above, run in order, the whole call counting as one API
  request; each answers a Composite Subrequest Result (`body`, `httpHeaders`,
  `httpStatusCode`, `referenceId`; resources_composite_subrequest_result.htm), a create
  with its `Location`. Only `allOrNone: false` (no rollback here) and no `@{ref}`
  references: both are refused with 400.
"""

from __future__ import annotations

import hmac
import io
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from adapters.sandbox_server import status_line
from integration_core.clock import from_iso, utcnow

__all__ = ["SalesforceFake", "sf_time"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
VERSION = "v61.0"
DATA = f"/services/data/{VERSION}"
_FIELDS = {
    "Contact": (
        "FirstName LastName Email Phone Title MailingStreet MailingCity MailingPostalCode "
        "MailingState MailingCountry AccountId"
    ),
    "Account": (
        "Name Website Phone Industry Description NumberOfEmployees BillingStreet BillingCity "
        "BillingPostalCode BillingState BillingCountry"
    ),
    "Task": "Subject Description Status ActivityDate Priority WhoId WhatId OwnerId",
}
_REQUIRED = {"Contact": "LastName", "Account": "Name"}
_DEFAULTS = {"Task": {"Status": "Not Started", "Priority": "Normal"}}
_PREFIX = {"Contact": "003", "Account": "001", "Task": "00T"}
_SYSTEM = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")
_SOQL = re.compile(
    r"SELECT\s+(?P<fields>\w+(?:\s*,\s*\w+)*)\s+FROM\s+(?P<sobject>\w+)"
    r"(?:\s+WHERE\s+SystemModstamp\s*>=\s*(?P<since>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?"
    r"(?:Z|[+-]\d\d:\d\d)))?"
    r"(?:\s+ORDER\s+BY\s+SystemModstamp\s*,\s*Id)?",
    re.IGNORECASE,
)
_BATCH = re.compile(r"batchSize=(\d+)")
_REFERENCE = re.compile(r"[A-Za-z0-9_]+")
COMPOSITE_LIMIT = 25


def sf_time(value: datetime) -> str:
    """Salesforce's dateTime in answers: `2013-05-07T22:07:19.000+0000`."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass
class _Row:
    id: str
    sobject: str
    fields: dict[str, Any]
    created: datetime
    stamp: datetime  # SystemModstamp, and LastModifiedDate (no system-only updates here)
    deleted: bool = False

    def value(self, name: str) -> Any:
        system = {
            "Id": self.id,
            "IsDeleted": self.deleted,
            "CreatedDate": sf_time(self.created),
            "LastModifiedDate": sf_time(self.stamp),
            "SystemModstamp": sf_time(self.stamp),
        }
        return system[name] if name in system else self.fields.get(name)

    def to_json(self, names: Iterable[str]) -> dict[str, Any]:
        url = f"{DATA}/sobjects/{self.sobject}/{self.id}"
        return {"attributes": {"type": self.sobject, "url": url}} | {
            n: self.value(n) for n in names
        }


class _Error(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.body: Any = [{"message": message, "errorCode": code, "fields": fields or []}]


@dataclass
class SalesforceFake:
    """One org: rows by object, an access token (or `accepts`, e.g. the tokens an OAuth
    server issued), External ID fields on every object."""

    token: str
    accepts: Callable[[str], bool] | None = None
    clock: Callable[[], datetime] = utcnow
    external_id_fields: frozenset[str] = frozenset({"Lockstep_Id__c"})
    min_batch_size: int = 200
    api_limit: int = 100_000
    api_used: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    _rows: dict[str, _Row] = field(default_factory=dict)
    _cursors: dict[str, tuple[list[str], list[_Row]]] = field(default_factory=dict)
    _next: int = 0
    _deletes_kept_from: datetime | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- direct access (a user in the Salesforce UI) --

    def create(self, sobject: str, values: dict[str, Any]) -> str:
        with self._lock:
            self._next += 1
            row_id = f"{_PREFIX[sobject]}Lk{self._next:010d}AAA"
            now = _ms(self.clock())
            fields = {**_DEFAULTS.get(sobject, {}), **values}
            self._rows[row_id] = _Row(row_id, sobject, fields, now, now)
            return row_id

    def update(self, sobject: str, row_id: str, values: dict[str, Any]) -> None:
        with self._lock:
            row = self._live(sobject, row_id)
            row.fields.update(values)
            self._touch(row)

    def delete(self, sobject: str, row_id: str) -> None:
        with self._lock:
            row = self._live(sobject, row_id)
            row.deleted = True
            self._touch(row)

    def live_ids(self, sobject: str) -> set[str]:
        with self._lock:
            return {r.id for r in self._rows.values() if r.sobject == sobject and not r.deleted}

    def live_fields(self, sobject: str) -> dict[str, dict[str, Any]]:
        """Each live row's fields by id, in creation order (copies)."""
        with self._lock:
            return {
                r.id: dict(r.fields)
                for r in self._rows.values()
                if r.sobject == sobject and not r.deleted
            }

    def purge_delete_log(self) -> None:
        """The delete log keeps nothing from before now (Salesforce purges it when large)."""
        self._deletes_kept_from = _ms(self.clock())

    def _touch(self, row: _Row) -> None:
        row.stamp = max(_ms(self.clock()), row.stamp + timedelta(milliseconds=1))

    def _live(self, sobject: str, row_id: str) -> _Row:
        row = self._rows.get(row_id)
        if row is None or row.sobject != sobject or row.deleted:
            raise _Error(404, "NOT_FOUND", "The requested resource does not exist")
        return row

    # -- the HTTP API --

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        self.requests.append((method, path))
        try:
            status, body = self._route(environ, method, path)
        except _Error as err:
            status, body = err.status, err.body
        headers = [
            ("Content-Type", "application/json;charset=UTF-8"),
            ("Sforce-Limit-Info", f"api-usage={self.api_used}/{self.api_limit}"),
        ]
        start_response(status_line(status), headers)
        return [b"" if body is None else json.dumps(body).encode()]

    def _route(self, environ: dict[str, Any], method: str, path: str) -> tuple[int, Any]:
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        valid = self.accepts(token) if self.accepts is not None else False
        if not (valid or hmac.compare_digest(token.encode(), self.token.encode())):
            raise _Error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        with self._lock:
            if self.api_used >= self.api_limit:
                raise _Error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_used += 1
            if path.rstrip("/") == f"{DATA}/composite" and method == "POST":
                return 200, self._composite(environ)
            return self._dispatch(environ, method, path)

    def _dispatch(self, environ: dict[str, Any], method: str, path: str) -> tuple[int, Any]:
        with self._lock:
            if not path.startswith(DATA + "/"):
                raise _Error(404, "NOT_FOUND", "The requested resource does not exist")
            parts = [unquote(p) for p in path[len(DATA) + 1 :].split("/") if p]
            query = parse_qs(environ.get("QUERY_STRING", ""))
            if not parts and method == "GET":
                return 200, {k: f"{DATA}/{k}" for k in ("sobjects", "query", "queryAll")}
            if parts and parts[0] in ("query", "queryAll") and method == "GET":
                return 200, self._query(parts, query, environ)
            if len(parts) >= 2 and parts[0] == "sobjects" and parts[1] in _PREFIX:
                return self._sobject(environ, method, parts[1], parts[2:], query)
        raise _Error(404, "NOT_FOUND", "The requested resource does not exist")

    def _composite(self, environ: dict[str, Any]) -> dict[str, Any]:
        body = _json(environ)
        subrequests = body.get("compositeRequest")
        if body.get("allOrNone", False) is not False:
            raise _Error(400, "INVALID_INPUT", "this fake runs allOrNone: false only")
        if not isinstance(subrequests, list) or not 0 < len(subrequests) <= COMPOSITE_LIMIT:
            raise _Error(400, "INVALID_INPUT", f"compositeRequest: 1 to {COMPOSITE_LIMIT}")
        seen: set[str] = set()
        for sub in subrequests:
            ref = sub.get("referenceId") if isinstance(sub, dict) else None
            if not isinstance(ref, str) or not _REFERENCE.fullmatch(ref) or ref in seen:
                raise _Error(400, "INVALID_INPUT", f"referenceId {ref!r}: unique, [A-Za-z0-9_]")
            seen.add(ref)
            if not isinstance(sub.get("url"), str) or sub.get("method") not in (
                "GET",
                "POST",
                "PATCH",
                "DELETE",
            ):
                raise _Error(400, "INVALID_INPUT", f"{ref}: method and url are required")
            if "@{" in json.dumps(sub):
                raise _Error(400, "INVALID_INPUT", f"{ref}: references are not served here")
        return {"compositeResponse": [self._subrequest(environ, sub) for sub in subrequests]}

    def _subrequest(self, environ: dict[str, Any], sub: dict[str, Any]) -> dict[str, Any]:
        """One subrequest, run as the request it describes (not counted as an API call)."""
        path, _, query = str(sub["url"]).partition("?")
        raw = json.dumps(sub["body"]).encode() if "body" in sub else b""
        inner = {
            "REQUEST_METHOD": sub["method"],
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_LENGTH": str(len(raw)),
            "wsgi.input": io.BytesIO(raw),
            "HTTP_AUTHORIZATION": environ.get("HTTP_AUTHORIZATION", ""),
        }
        headers = sub.get("httpHeaders") or {}
        for name, value in headers.items() if isinstance(headers, dict) else ():
            inner[f"HTTP_{name.upper().replace('-', '_')}"] = str(value)
        self.requests.append((sub["method"], path))
        answered: dict[str, str] = {}
        try:
            status, body = self._dispatch(inner, sub["method"], path)
        except _Error as err:
            status, body = err.status, err.body
        parts = path[len(DATA) + 1 :].split("/")
        if status == 201 and isinstance(body, dict) and "id" in body and len(parts) > 1:
            answered["Location"] = f"{DATA}/sobjects/{parts[1]}/{body['id']}"
        return {
            "body": body,
            "httpHeaders": answered,
            "httpStatusCode": status,
            "referenceId": sub["referenceId"],
        }

    def _known(self, sobject: str) -> dict[str, str]:
        """Field names by their lower case (SOQL names are case-insensitive)."""
        names = [*_SYSTEM, *_FIELDS[sobject].split(), *self.external_id_fields]
        return {name.lower(): name for name in names}

    def _query(
        self, parts: list[str], query: dict[str, list[str]], environ: dict[str, Any]
    ) -> dict[str, Any]:
        kind, rest = parts[0], parts[1:]
        size = self._batch_size(environ.get("HTTP_SFORCE_QUERY_OPTIONS", ""))
        if rest:
            locator, _, offset = rest[0].rpartition("-")
            cursor = self._cursors.get(locator)
            if cursor is None or len(rest) > 1 or not offset.isdigit():
                raise _Error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._batch(kind, locator, cursor, int(offset), size)
        soql = query.get("q", [""])[0].strip()
        match = _SOQL.fullmatch(soql)
        if match is None:
            raise _Error(400, "MALFORMED_QUERY", f"unexpected token in: {soql[:80]}")
        sobject = match["sobject"]
        if sobject not in _FIELDS:
            raise _Error(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        known = self._known(sobject)
        names: list[str] = []
        for name in (n.strip() for n in match["fields"].split(",")):
            if name.lower() not in known:
                raise _Error(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'."
                )
            names.append(known[name.lower()])
        since = from_iso(match["since"]) if match["since"] else None
        selected = sorted(
            (
                r
                for r in self._rows.values()
                if r.sobject == sobject
                and (kind == "queryAll" or not r.deleted)
                and (since is None or r.stamp >= since)
            ),
            key=lambda r: (r.stamp, r.id),
        )
        self._next += 1
        locator = f"01gLk{self._next:010d}"
        self._cursors[locator] = (names, selected)
        return self._batch(kind, locator, self._cursors[locator], 0, size)

    def _batch_size(self, options: str) -> int:
        match = _BATCH.search(options)
        asked = int(match[1]) if match else 2000
        return max(self.min_batch_size, min(asked, 2000))

    @staticmethod
    def _batch(
        kind: str, locator: str, cursor: tuple[list[str], list[_Row]], offset: int, size: int
    ) -> dict[str, Any]:
        """One batch of a query's rows (selected when it ran; their values as they are now)."""
        names, rows = cursor
        end = offset + size
        body: dict[str, Any] = {
            "totalSize": len(rows),
            "done": end >= len(rows),
            "records": [row.to_json(names) for row in rows[offset:end]],
        }
        if end < len(rows):
            body["nextRecordsUrl"] = f"{DATA}/{kind}/{locator}-{end}"
        return body

    def _sobject(
        self,
        environ: dict[str, Any],
        method: str,
        sobject: str,
        rest: list[str],
        query: dict[str, list[str]],
    ) -> tuple[int, Any]:
        if not rest and method == "POST":
            values = self._values(sobject, _json(environ))
            self._require(sobject, values)
            self._unique(sobject, values, None)
            return 201, {"id": self.create(sobject, values), "errors": [], "success": True}
        if rest == ["deleted"] and method == "GET":
            return 200, self._deleted(sobject, query)
        if len(rest) == 1:
            return self._row(environ, method, sobject, rest[0])
        if len(rest) == 2 and method == "PATCH":
            return self._upsert(environ, sobject, rest[0], rest[1])
        raise _Error(404, "NOT_FOUND", "The requested resource does not exist")

    def _row(
        self, environ: dict[str, Any], method: str, sobject: str, row_id: str
    ) -> tuple[int, Any]:
        row = self._live(sobject, row_id)
        if method == "GET":
            return 200, row.to_json(dict.fromkeys(self._known(sobject).values()))
        if method == "PATCH":
            values = self._values(sobject, _json(environ))
            self._unmodified_since(row, environ.get("HTTP_IF_UNMODIFIED_SINCE"))
            self._require(sobject, {**row.fields, **values})
            self._unique(sobject, values, row.id)
            self.update(sobject, row.id, values)
            return 204, None
        if method == "DELETE":
            self.delete(sobject, row.id)
            return 204, None
        raise _Error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")

    def _upsert(
        self, environ: dict[str, Any], sobject: str, id_field: str, key: str
    ) -> tuple[int, Any]:
        if id_field not in self.external_id_fields:
            raise _Error(404, "NOT_FOUND", "The requested resource does not exist")
        values = self._values(sobject, _json(environ))
        matches = [
            r
            for r in self._rows.values()
            if r.sobject == sobject and not r.deleted and r.fields.get(id_field) == key
        ]
        if len(matches) > 1:
            return 300, [f"{DATA}/sobjects/{sobject}/{r.id}" for r in matches]
        if not matches:
            self._require(sobject, values)
            new_id = self.create(sobject, {**values, id_field: key})
            return 201, {"id": new_id, "errors": [], "success": True, "created": True}
        self._require(sobject, {**matches[0].fields, **values})
        self.update(sobject, matches[0].id, values)
        return 200, {"id": matches[0].id, "errors": [], "success": True, "created": False}

    def _deleted(self, sobject: str, query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            # "The API ignores the seconds portion of the specified dateTime value."
            start, end = (
                from_iso(query[name][0]).replace(second=0, microsecond=0)
                for name in ("start", "end")
            )
        except (KeyError, ValueError) as err:
            raise _Error(400, "MISSING_ARGUMENT", "start and end dateTimes are required") from err
        if end <= start:
            raise _Error(400, "INVALID_REPLICATION_DATE", "end must be after start")
        kept = self._deletes_kept_from or _ms(self.clock()) - timedelta(days=15)
        gone = [
            {"id": r.id, "deletedDate": sf_time(r.stamp)}
            for r in sorted(self._rows.values(), key=lambda r: r.stamp)
            if r.sobject == sobject and r.deleted and start <= r.stamp < end and r.stamp >= kept
        ]
        return {
            "deletedRecords": gone,
            "earliestDateAvailable": sf_time(kept.replace(second=0, microsecond=0)),
            "latestDateCovered": sf_time(end),
        }

    def _values(self, sobject: str, body: dict[str, Any]) -> dict[str, Any]:
        known = {*_FIELDS[sobject].split(), *self.external_id_fields}
        for name, value in body.items():
            if name in _SYSTEM or name == "attributes":
                raise _Error(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {name}.",
                    [name],
                )
            if name not in known:
                raise _Error(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
                )
            if not isinstance(value, str | int | float | bool | None):
                raise _Error(400, "JSON_PARSER_ERROR", f"Cannot deserialize {name}")
        return dict(body)

    @staticmethod
    def _require(sobject: str, values: dict[str, Any]) -> None:
        required = _REQUIRED.get(sobject)
        if required is not None and not values.get(required):
            raise _Error(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{required}]",
                [required],
            )

    def _unique(self, sobject: str, values: dict[str, Any], own: str | None) -> None:
        for name in self.external_id_fields & set(values):
            for r in self._rows.values():
                if r.sobject == sobject and r.id != own and r.fields.get(name) == values[name]:
                    raise _Error(
                        400,
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {name} duplicates value on record with id: {r.id}",
                        [name],
                    )

    @staticmethod
    def _unmodified_since(row: _Row, header: str | None) -> None:
        if header is None:
            return
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError) as err:
            raise _Error(400, "INVALID_HEADER_TYPE", "If-Unmodified-Since is not a date") from err
        if row.stamp.replace(microsecond=0) > when:
            raise _Error(
                412, "PRECONDITION_FAILED", "The record was modified since If-Unmodified-Since."
            )


def _json(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except json.JSONDecodeError as err:
        raise _Error(400, "JSON_PARSER_ERROR", f"Unexpected character: {err.msg}") from err
    if not isinstance(body, dict):
        raise _Error(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of an sObject")
    return body
