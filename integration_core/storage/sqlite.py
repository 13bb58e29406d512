"""Embedded DocumentStore on SQLite (the demo and fast tests): one table of JSON bodies."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from integration_core.errors import ConflictError, NotFoundError, PreconditionFailedError
from integration_core.storage.base import ETAG, PARTITION_KEY, Filter

__all__ = ["SqliteDocumentStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    container TEXT NOT NULL,
    pk TEXT NOT NULL,
    id TEXT NOT NULL,
    etag TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (container, pk, id)
)
"""
_SQL_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _new_etag() -> str:
    return f'"{uuid.uuid4().hex}"'


def _path(field: str) -> str:
    return "$." + field


class SqliteDocumentStore:
    """A DocumentStore in one SQLite file, or in memory with `path=":memory:"`."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def ping(self) -> None:
        with self._lock:
            self._conn.execute("SELECT 1").fetchone()

    def get(self, container: str, partition_key: str, id: str) -> dict[str, Any]:
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
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO documents (container, pk, id, etag, body) VALUES (?,?,?,?,?)",
                    (container, body[PARTITION_KEY], body["id"], body[ETAG], json.dumps(body)),
                )
            except sqlite3.IntegrityError as err:
                raise ConflictError(f"{container}/{body['id']} already exists") from err
        return body

    def upsert(
        self, container: str, document: Mapping[str, Any], *, if_match: str | None = None
    ) -> dict[str, Any]:
        body = self._stamp(document)
        key = (container, body[PARTITION_KEY], body["id"])
        with self._lock:
            if if_match is None:
                self._conn.execute(
                    "INSERT OR REPLACE INTO documents (container, pk, id, etag, body)"
                    " VALUES (?,?,?,?,?)",
                    (*key, body[ETAG], json.dumps(body)),
                )
                return body
            updated = self._conn.execute(
                "UPDATE documents SET etag=?, body=? WHERE container=? AND pk=? AND id=?"
                " AND etag=?",
                (body[ETAG], json.dumps(body), *key, if_match),
            ).rowcount
        if updated == 0:
            raise PreconditionFailedError(f"{container}/{body['id']} changed since {if_match}")
        return body

    def delete(
        self, container: str, partition_key: str, id: str, *, if_match: str | None = None
    ) -> None:
        sql = "DELETE FROM documents WHERE container=? AND pk=? AND id=?"
        params: tuple[str, ...] = (container, partition_key, id)
        if if_match is not None:
            sql += " AND etag=?"
            params += (if_match,)
        with self._lock:
            deleted = self._conn.execute(sql, params).rowcount
        if deleted == 0:
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
        sql = ["SELECT body FROM documents WHERE container=?"]
        params: list[Any] = [container]
        if partition_key is not None:
            sql.append("AND pk=?")
            params.append(partition_key)
        for condition in filters:
            clause, values = self._clause(condition)
            sql.append("AND " + clause)
            params.extend(values)
        if order_by:
            terms = []
            for field, descending in order_by:
                terms.append("json_extract(body, ?)" + (" DESC" if descending else ""))
                params.append(_path(field))
            sql.append("ORDER BY " + ", ".join(terms))
        if limit is not None:
            sql.append("LIMIT ?")
            params.append(limit)
        with self._lock:
            rows = self._conn.execute(" ".join(sql), params).fetchall()
        return [json.loads(row[0]) for row in rows]

    @staticmethod
    def _clause(condition: Filter) -> tuple[str, list[Any]]:
        if condition.op in _SQL_OPS:
            value = condition.value
            if isinstance(value, bool):
                value = int(value)
            if value is None:
                negate = "NOT " if condition.op == "!=" else ""
                return f"json_type(body, ?) IS {negate}'null'", [_path(condition.field)]
            return f"json_extract(body, ?) {_SQL_OPS[condition.op]} ?", [
                _path(condition.field),
                value,
            ]
        values = list(condition.value)
        if not values:
            return "0", []
        marks = ",".join("?" * len(values))
        if condition.op == "in":
            return f"json_extract(body, ?) IN ({marks})", [_path(condition.field), *values]
        if condition.op == "array_contains_any":
            return (
                f"EXISTS (SELECT 1 FROM json_each(body, ?) WHERE value IN ({marks}))",  # noqa: S608 (only placeholders are interpolated)
                [_path(condition.field), *values],
            )
        raise ValueError(f"unknown filter operator {condition.op!r}")

    @staticmethod
    def _stamp(document: Mapping[str, Any]) -> dict[str, Any]:
        if not document.get("id") or not document.get(PARTITION_KEY):
            raise ValueError(f"a document needs 'id' and '{PARTITION_KEY}'")
        body = dict(document)
        body[ETAG] = _new_etag()
        body["_ts"] = int(time.time())
        return body
