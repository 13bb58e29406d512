"""The SQLite store's array index: digests find candidates, the documents decide.

The contract suite (tests/contract/test_document_store.py) checks the behaviour every store
shares; these check what only the SQLite store's index design could get wrong.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from integration_core.errors import ConfigurationError
from integration_core.storage import Filter
from integration_core.storage import sqlite as sqlite_store
from integration_core.storage.sqlite import SqliteDocumentStore

pytestmark = pytest.mark.unit

C = "entities"


def _doc(id: str, keys: list[str], tenant: str = "t1") -> dict[str, object]:
    return {"id": id, "tenantId": tenant, "blockingKeys": keys}


def _ids(documents: list[dict[str, object]]) -> list[str]:
    return sorted(str(d["id"]) for d in documents)


def _any_of(*keys: str) -> list[Filter]:
    return [Filter("blockingKeys", "array_contains_any", list(keys))]


def _plan(container: str, filters: list[Filter]) -> str:
    """SQLite's query plan for the query the store runs for `filters`."""
    store = SqliteDocumentStore(":memory:")
    traced: list[str] = []
    store._conn.set_trace_callback(traced.append)
    store.query(container, partition_key="t1", filters=filters)
    (sql,) = [line for line in traced if line.startswith("SELECT body")]
    return " ".join(str(row) for row in store._conn.execute("EXPLAIN QUERY PLAN " + sql))


def test_documents_that_only_share_a_digest_are_not_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every value colliding: the query still answers exactly, limits included."""
    monkeypatch.setattr(sqlite_store, "_digest", lambda container, field, value: 7)
    store = SqliteDocumentStore(":memory:")
    for number in range(5):
        store.create(C, _doc(f"other-{number}", [f"name:{number}"]))
    store.create(C, _doc("wanted", ["email:a"]))
    store.create(C, _doc("also", ["email:a", "name:0"]))

    assert _ids(store.query(C, partition_key="t1", filters=_any_of("email:a"))) == [
        "also",
        "wanted",
    ]
    # The first two rows SQLite finds are colliders: the limit is still met with real matches.
    limited = store.query(C, partition_key="t1", filters=_any_of("email:a"), limit=2)
    assert _ids(limited) == ["also", "wanted"]
    assert store.query(C, partition_key="t1", filters=_any_of("email:zzz")) == []


def test_rewrites_and_deletes_leave_no_stale_keys() -> None:
    store = SqliteDocumentStore(":memory:")
    first = store.create(C, _doc("a", ["email:a", "name:x"]))
    store.upsert(C, {**first, "blockingKeys": ["email:b"]})  # plain upsert: same row
    assert store.query(C, partition_key="t1", filters=_any_of("email:a", "name:x")) == []
    current = store.get(C, "t1", "a")
    store.upsert(C, {**current, "blockingKeys": ["email:c"]}, if_match=current["_etag"])
    assert store.query(C, partition_key="t1", filters=_any_of("email:b")) == []
    assert _ids(store.query(C, partition_key="t1", filters=_any_of("email:c"))) == ["a"]
    store.delete(C, "t1", "a")
    store.create(C, _doc("b", ["name:y"]))  # may reuse the deleted row's rowid
    assert store.query(C, partition_key="t1", filters=_any_of("email:c")) == []
    assert _ids(store.query(C, partition_key="t1", filters=_any_of("name:y"))) == ["b"]


def test_elements_compare_as_stored_values_not_as_text() -> None:
    store = SqliteDocumentStore(":memory:")
    store.create(C, _doc("number", [1]))  # type: ignore[list-item]
    store.create(C, _doc("text", ["1"]))
    assert _ids(store.query(C, filters=_any_of("1"))) == ["text"]


def test_a_store_written_by_an_earlier_version_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE documents (container TEXT NOT NULL, pk TEXT NOT NULL, id TEXT NOT NULL,
            etag TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (container, pk, id));
        CREATE TABLE array_values (container TEXT NOT NULL, pk TEXT NOT NULL,
            id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL);
        INSERT INTO documents VALUES ('entities', 't1', 'a', '"e1"',
            '{"id": "a", "tenantId": "t1", "_etag": "\\"e1\\"", "blockingKeys": ["email:a"]}');
        INSERT INTO array_values VALUES ('entities', 't1', 'a', 'blockingKeys', 'email:a');
        CREATE INDEX documents_entityId ON documents (container, json_extract(body, '$.entityId'));
        """
    )
    old.commit()
    old.close()

    store = SqliteDocumentStore(path)
    assert _ids(store.query(C, partition_key="t1", filters=_any_of("email:a"))) == ["a"]
    tables = {row[0] for row in store._conn.execute("SELECT name FROM sqlite_master")}
    assert "array_values" not in tables
    assert "documents_entityId" not in tables  # replaced by the partial index
    assert "documents_entityId_present" in tables
    store.close()


def test_an_array_lookup_reads_only_the_documents_it_finds() -> None:
    """The plan goes from the digests to the rows, never through the partition."""
    plan = _plan(C, [*_any_of("email:a"), Filter("kind", "=", "x")])
    assert "INTEGER PRIMARY KEY (rowid=?)" in plan
    assert "(container=? AND pk=?)" not in plan


def test_an_sqlite_too_old_for_upsert_returning_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(ConfigurationError, match=r"SQLite 3\.35\.0 or newer.*3\.31\.1"):
        SqliteDocumentStore(":memory:")


@pytest.mark.parametrize(
    ("container", "condition", "index"),
    [
        ("links", Filter("entityId", "=", "e1"), "documents_entityId_present"),
        ("links", Filter("entityId", "in", ["e1", "e2"]), "documents_entityId_present"),
        ("sync-tasks", Filter("nextDueAt", "<=", "2026-01-01"), "documents_nextDueAt_present"),
    ],
)
def test_lookups_by_a_selective_field_use_its_partial_index(
    container: str, condition: Filter, index: str
) -> None:
    """The indexes hold only documents that have the field; comparisons still use them."""
    plan = _plan(container, [Filter("kind", "=", "x"), condition])
    assert index in plan
