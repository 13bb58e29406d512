"""Embedded DocumentStore on SQLite (the demo and fast tests): one table of JSON bodies.

Fields the pipelines filter on are indexed: scalar fields by expression indexes on
`json_extract`, and array fields (an entity's blocking keys) through a side table of
(digest of the element, document row) kept in step with every write; a lookup goes from
the digests to the rows and then checks the elements themselves. Without these indexes,
matching and link lookups would scan every document of a container for every record.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from integration_core.errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
)
from integration_core.storage.base import ETAG, PARTITION_KEY, Filter
from integration_core.storage.ids import check_document, check_key, check_query

__all__ = ["SqliteDocumentStore", "INDEXED_FIELDS", "INDEXED_ARRAY_FIELDS"]

# Only selective fields: with an index on a low-cardinality field too (connection, type,
# status), SQLite may pick it and scan every link of a connection for each record.
INDEXED_FIELDS = ("entityId", "candidateEntityId", "nextDueAt")
_COLUMNS = {"id": "id", PARTITION_KEY: "pk"}
INDEXED_ARRAY_FIELDS = ("blockingKeys",)

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS documents (
        container TEXT NOT NULL,
        pk TEXT NOT NULL,
        id TEXT NOT NULL,
        etag TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (container, pk, id)
    )
    """,
    # One row per (array element, document): the element as a 63-bit digest of (container,
    # field, value), the document by rowid. Two small integer B-trees instead of text ones:
    # at 100,000 entities with 14 keys each, a write costs a quarter of what text rows did.
    """
    CREATE TABLE IF NOT EXISTS array_keys (
        digest INTEGER NOT NULL,
        doc INTEGER NOT NULL,
        PRIMARY KEY (digest, doc)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS array_keys_doc ON array_keys (doc)",
    "CREATE TABLE IF NOT EXISTS array_containers (container TEXT PRIMARY KEY) WITHOUT ROWID",
    # Partial: only documents that have the field (an entity has none of them), so most
    # writes skip these indexes. A comparison on the field implies it is there, so SQLite
    # still uses them for `=`, `IN`, `<`, ... (earlier versions indexed every document).
    *(f"DROP INDEX IF EXISTS documents_{field}" for field in INDEXED_FIELDS),
    *(
        f"CREATE INDEX IF NOT EXISTS documents_{field}_present"
        f" ON documents (container, json_extract(body, '$.{field}'))"
        f" WHERE json_extract(body, '$.{field}') IS NOT NULL"
        for field in INDEXED_FIELDS
    ),
]
_MIN_SQLITE = (3, 35, 0)
_SQL_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _digest(container: str, field: str, value: Any) -> int:
    """A stable signed 64-bit digest of an array element (SQLite's INTEGER range)."""
    text = f"{container}\x1f{field}\x1f{value}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


def _lookup(values: Any) -> set[Any] | list[Any]:
    try:
        return set(values)
    except TypeError:  # unhashable elements (objects): compare one by one
        return list(values)


def _contains_any(document: Mapping[str, Any], field: str, wanted: set[Any] | list[Any]) -> bool:
    held = document.get(field)
    if not isinstance(held, list):
        return False
    try:
        return any(value in wanted for value in held)
    except TypeError:  # an unhashable element looked up in a set
        return any(value in list(wanted) for value in held)


def _new_etag() -> str:
    return f'"{uuid.uuid4().hex}"'


def _extract(field: str) -> str:
    """The SQL for a field's value. The path is written literally (after validation) so
    that SQLite can match it to an expression index, which a bound parameter cannot.
    """
    if field in _COLUMNS:
        return _COLUMNS[field]
    if not _FIELD.match(field):
        raise ValueError(f"not a valid field name: {field!r}")
    return f"json_extract(body, '$.{field}')"


class SqliteDocumentStore:
    """A DocumentStore in one SQLite file, or in memory with `path=":memory:"`."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise ConfigurationError(
                f"the embedded store needs SQLite {'.'.join(map(str, _MIN_SQLITE))} or newer"
                f" (UPSERT ... RETURNING); this Python has {sqlite3.sqlite_version}"
            )
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            legacy = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='array_values'"
            ).fetchone()
            for statement in _SCHEMA:
                self._conn.execute(statement)
            self._array_containers = {
                row[0] for row in self._conn.execute("SELECT container FROM array_containers")
            }
            if legacy:
                self._migrate_array_values()

    def _migrate_array_values(self) -> None:
        """Index arrays of a store written by an earlier version (text side table)."""
        with self._transaction():
            rows = self._conn.execute(
                "SELECT DISTINCT d.rowid, d.container, d.body FROM documents d"
                " JOIN array_values a ON a.container=d.container AND a.pk=d.pk AND a.id=d.id"
            ).fetchall()
            for rowid, container, body in rows:
                self._index_arrays(container, rowid, json.loads(body))
            self._conn.execute("DROP TABLE array_values")

    def close(self) -> None:
        self._conn.close()

    def ping(self) -> None:
        with self._lock:
            self._conn.execute("SELECT 1").fetchone()

    def get(self, container: str, partition_key: str, id: str) -> dict[str, Any]:
        check_key(partition_key, id)
        with self._lock:
            row = self._conn.execute(
                "SELECT body FROM documents WHERE container=? AND pk=? AND id=?",
                (container, partition_key, id),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"{container}/{id} not found")
        result: dict[str, Any] = json.loads(row[0])
        return result

    def create(self, container: str, document: Mapping[str, Any]) -> dict[str, Any]:
        body = self._stamp(document)
        with self._lock, self._transaction():
            try:
                rowid = self._conn.execute(
                    "INSERT INTO documents (container, pk, id, etag, body) VALUES (?,?,?,?,?)",
                    (container, body[PARTITION_KEY], body["id"], body[ETAG], json.dumps(body)),
                ).lastrowid
            except sqlite3.IntegrityError as err:
                raise ConflictError(f"{container}/{body['id']} already exists") from err
            self._index_arrays(container, rowid, body, fresh=True)
        return body

    def upsert(
        self, container: str, document: Mapping[str, Any], *, if_match: str | None = None
    ) -> dict[str, Any]:
        body = self._stamp(document)
        key = (container, body[PARTITION_KEY], body["id"])
        with self._lock, self._transaction():
            if if_match is None:
                # An upsert, not INSERT OR REPLACE: the row keeps its rowid (array keys
                # refer to it).
                row = self._conn.execute(
                    "INSERT INTO documents (container, pk, id, etag, body) VALUES (?,?,?,?,?)"
                    " ON CONFLICT (container, pk, id)"
                    " DO UPDATE SET etag=excluded.etag, body=excluded.body RETURNING rowid",
                    (*key, body[ETAG], json.dumps(body)),
                ).fetchone()
            else:
                row = self._conn.execute(
                    "UPDATE documents SET etag=?, body=? WHERE container=? AND pk=? AND id=?"
                    " AND etag=? RETURNING rowid",
                    (body[ETAG], json.dumps(body), *key, if_match),
                ).fetchone()
                if row is None:
                    raise PreconditionFailedError(
                        f"{container}/{body['id']} changed since {if_match}"
                    )
            self._index_arrays(container, row[0], body)
        return body

    def delete(
        self, container: str, partition_key: str, id: str, *, if_match: str | None = None
    ) -> None:
        check_key(partition_key, id)
        sql = "DELETE FROM documents WHERE container=? AND pk=? AND id=?"
        params: tuple[str, ...] = (container, partition_key, id)
        if if_match is not None:
            sql += " AND etag=?"
            params += (if_match,)
        with self._lock, self._transaction():
            row = self._conn.execute(sql + " RETURNING rowid", params).fetchone()
            if row is not None and container in self._array_containers:
                self._conn.execute("DELETE FROM array_keys WHERE doc=?", row)
        if row is None:
            self.get(container, partition_key, id)  # raises NotFoundError when absent
            raise PreconditionFailedError(f"{container}/{id} changed since {if_match}")

    def query(
        self,
        container: str,
        *,
        partition_key: str | None = None,
        filters: Sequence[Filter] = (),
        order_by: Sequence[tuple[str, bool]] = (),
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        check_query(partition_key, filters)
        # An indexed array filter is the most selective: keep the planner on it (a unary
        # "+" stops SQLite from choosing the primary key or a scalar field's expression
        # index instead, which would scan the whole partition).
        by_array = any(
            f.op == "array_contains_any" and f.field in INDEXED_ARRAY_FIELDS for f in filters
        )
        plus = "+" if by_array else ""
        sql = [f"SELECT body FROM documents WHERE {plus}container=?"]  # noqa: S608 (constant)
        params: list[Any] = [container]
        if partition_key is not None:
            sql.append(f"AND {plus}pk=?")
            params.append(partition_key)
        for condition in filters:
            clause, values = self._clause(container, condition, scalar_index=not by_array)
            sql.append("AND " + clause)
            params.extend(values)
        if order_by:
            terms = [
                _extract(field) + (" DESC" if descending else "") for field, descending in order_by
            ]
            sql.append("ORDER BY " + ", ".join(terms))
        if limit is not None:
            sql.append("LIMIT ?")
            params.append(limit)
        with self._lock:
            rows = self._conn.execute(" ".join(sql), params).fetchall()
        found = [json.loads(row[0]) for row in rows]
        if not by_array:
            return found
        # Array keys are digests: drop the (astronomically rare) document that only shares
        # a digest, and should one fill a LIMIT slot, ask again without the limit.
        checks = [
            (f.field, _lookup(f.value))
            for f in filters
            if f.op == "array_contains_any" and f.field in INDEXED_ARRAY_FIELDS
        ]
        exact = [d for d in found if all(_contains_any(d, f, wanted) for f, wanted in checks)]
        if len(exact) < len(found) and limit is not None and len(found) == limit:
            unlimited = self.query(
                container, partition_key=partition_key, filters=filters, order_by=order_by
            )
            return unlimited[:limit]
        return exact

    @staticmethod
    def _clause(container: str, condition: Filter, *, scalar_index: bool) -> tuple[str, list[Any]]:
        field = _extract(condition.field) if scalar_index else "+" + _extract(condition.field)
        if condition.op in _SQL_OPS:
            value = condition.value
            if isinstance(value, bool):
                value = int(value)
            if value is None:
                negate = "NOT " if condition.op == "!=" else ""
                path = "$." + condition.field
                return f"json_type(body, ?) IS {negate}'null'", [path]
            return f"{field} {_SQL_OPS[condition.op]} ?", [value]
        values = list(condition.value)
        if not values:
            return "0", []
        marks = ",".join("?" * len(values))
        if condition.op == "in":
            return f"{field} IN ({marks})", values
        if condition.op == "array_contains_any":
            if condition.field in INDEXED_ARRAY_FIELDS:
                digests = [_digest(container, condition.field, value) for value in values]
                return (
                    f"rowid IN (SELECT doc FROM array_keys WHERE digest IN ({marks}))",  # noqa: S608 (placeholders only)
                    digests,
                )
            return (
                f"EXISTS (SELECT 1 FROM json_each(body, '$.{condition.field}')"  # noqa: S608 (validated field)
                f" WHERE value IN ({marks}))",
                values,
            )
        raise ValueError(f"unknown filter operator {condition.op!r}")

    def _index_arrays(
        self, container: str, rowid: int | None, body: Mapping[str, Any], *, fresh: bool = False
    ) -> None:
        """Keep a document's array keys in step with its body (`fresh`: it has none yet)."""
        arrays = {f: body[f] for f in INDEXED_ARRAY_FIELDS if isinstance(body.get(f), list)}
        if not arrays and container not in self._array_containers:
            return  # nothing indexed in this container: nothing stale to remove either
        if container not in self._array_containers:
            self._conn.execute(
                "INSERT OR IGNORE INTO array_containers (container) VALUES (?)", (container,)
            )
            self._array_containers.add(container)
        if not fresh:
            self._conn.execute("DELETE FROM array_keys WHERE doc=?", (rowid,))
        rows = {
            (_digest(container, field, value), rowid)
            for field, values in arrays.items()
            for value in values
        }
        if rows:
            self._conn.executemany("INSERT INTO array_keys (digest, doc) VALUES (?,?)", rows)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    @staticmethod
    def _stamp(document: Mapping[str, Any]) -> dict[str, Any]:
        check_document(document)
        body = dict(document)
        body[ETAG] = _new_etag()
        body["_ts"] = int(time.time())
        return body


class _Transaction:
    """BEGIN/COMMIT around a write and its side-table rows (autocommit connection)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._conn.execute("ROLLBACK" if kind is not None else "COMMIT")
