"""The DocumentStore contract: every backend (SQLite, Cosmos emulator) passes the same tests."""

from __future__ import annotations

import time
from typing import Any

import pytest

from integration_core.errors import ConflictError, NotFoundError, PreconditionFailedError
from integration_core.storage import ETAG, WRITTEN_AT, DocumentStore, Filter

C = "entities"


def doc(id: str, tenant: str = "t1", **fields: Any) -> dict[str, Any]:
    return {"id": id, "tenantId": tenant, **fields}


def ids(documents: list[dict[str, Any]]) -> list[str]:
    return [document["id"] for document in documents]


# --- CRUD -------------------------------------------------------------------------------------


def test_create_then_get_round_trips_the_body(document_store: DocumentStore) -> None:
    body = doc(
        "a",
        name="Zoë Ångström 東京",
        count=3,
        ratio=0.25,
        active=True,
        missing=None,
        tags=["x", "y"],
        nested={"email": "z@example.com", "phones": ["+1 555"]},
    )
    created = document_store.create(C, body)
    assert created[ETAG]
    fetched = document_store.get(C, "t1", "a")
    for key, value in body.items():
        assert fetched[key] == value, key
    assert fetched[ETAG] == created[ETAG]


def test_create_twice_is_a_conflict_not_a_precondition_failure(
    document_store: DocumentStore,
) -> None:
    document_store.create(C, doc("a"))
    with pytest.raises(ConflictError) as caught:
        document_store.create(C, doc("a", name="again"))
    assert not isinstance(caught.value, PreconditionFailedError)
    assert "name" not in document_store.get(C, "t1", "a")


def test_same_id_in_two_partitions_are_two_documents(document_store: DocumentStore) -> None:
    document_store.create(C, doc("a", "t1", owner="one"))
    document_store.create(C, doc("a", "t2", owner="two"))
    assert document_store.get(C, "t1", "a")["owner"] == "one"
    assert document_store.get(C, "t2", "a")["owner"] == "two"


def test_get_missing_or_in_another_partition_is_not_found(document_store: DocumentStore) -> None:
    document_store.create(C, doc("a", "t1"))
    with pytest.raises(NotFoundError):
        document_store.get(C, "t1", "nope")
    with pytest.raises(NotFoundError):
        document_store.get(C, "t2", "a")


def test_a_document_needs_id_and_tenant(document_store: DocumentStore) -> None:
    with pytest.raises(ValueError, match="tenantId"):
        document_store.create(C, {"id": "a"})
    with pytest.raises(ValueError, match="tenantId"):
        document_store.upsert(C, {"tenantId": "t1"})


def test_upsert_inserts_then_replaces_with_a_new_etag(document_store: DocumentStore) -> None:
    first = document_store.upsert(C, doc("a", n=1, old="kept?"))
    second = document_store.upsert(C, doc("a", n=2))
    assert first[ETAG] != second[ETAG]
    fetched = document_store.get(C, "t1", "a")
    assert fetched["n"] == 2
    assert "old" not in fetched  # replace, not merge
    assert fetched[ETAG] == second[ETAG]


def test_upsert_with_the_current_etag_replaces(document_store: DocumentStore) -> None:
    current = document_store.create(C, doc("a", n=1))
    updated = document_store.upsert(C, doc("a", n=2), if_match=current[ETAG])
    assert updated[ETAG] != current[ETAG]
    assert document_store.get(C, "t1", "a")["n"] == 2


def test_upsert_with_a_stale_etag_fails_and_changes_nothing(document_store: DocumentStore) -> None:
    stale = document_store.create(C, doc("a", n=1))
    winner = document_store.upsert(C, doc("a", n=2), if_match=stale[ETAG])
    with pytest.raises(PreconditionFailedError):
        document_store.upsert(C, doc("a", n=3), if_match=stale[ETAG])
    fetched = document_store.get(C, "t1", "a")
    assert fetched["n"] == 2
    assert fetched[ETAG] == winner[ETAG]


def test_upsert_with_an_etag_of_a_deleted_document_fails(document_store: DocumentStore) -> None:
    gone = document_store.create(C, doc("a"))
    document_store.delete(C, "t1", "a")
    with pytest.raises(PreconditionFailedError):
        document_store.upsert(C, doc("a", n=9), if_match=gone[ETAG])
    with pytest.raises(NotFoundError):
        document_store.get(C, "t1", "a")


def test_two_writers_with_the_same_etag_exactly_one_wins(document_store: DocumentStore) -> None:
    base = document_store.create(C, doc("a", n=0))
    outcomes = []
    for writer in ("w1", "w2"):
        try:
            document_store.upsert(C, doc("a", writer=writer), if_match=base[ETAG])
            outcomes.append(writer)
        except PreconditionFailedError:
            outcomes.append("lost")
    assert outcomes == ["w1", "lost"]
    assert document_store.get(C, "t1", "a")["writer"] == "w1"


def test_delete_removes(document_store: DocumentStore) -> None:
    document_store.create(C, doc("a"))
    document_store.delete(C, "t1", "a")
    with pytest.raises(NotFoundError):
        document_store.get(C, "t1", "a")
    with pytest.raises(NotFoundError):
        document_store.delete(C, "t1", "a")


def test_delete_with_etag_is_conditional(document_store: DocumentStore) -> None:
    stale = document_store.create(C, doc("a", n=1))
    current = document_store.upsert(C, doc("a", n=2))
    with pytest.raises(PreconditionFailedError):
        document_store.delete(C, "t1", "a", if_match=stale[ETAG])
    assert document_store.get(C, "t1", "a")["n"] == 2
    document_store.delete(C, "t1", "a", if_match=current[ETAG])
    with pytest.raises(NotFoundError):
        document_store.get(C, "t1", "a")


def test_delete_missing_with_etag_is_not_found(document_store: DocumentStore) -> None:
    with pytest.raises(NotFoundError):
        document_store.delete(C, "t1", "nope", if_match='"whatever"')


def test_every_write_stamps_when_it_was_written(document_store: DocumentStore) -> None:
    started = int(time.time())
    document_store.create(C, doc("a"))
    document_store.upsert(C, doc("a", name="again"))
    found = document_store.get(C, "t1", "a")
    assert started <= found[WRITTEN_AT] <= int(time.time()) + 1
    assert document_store.query(C, partition_key="t1")[0][WRITTEN_AT] == found[WRITTEN_AT]


def test_ttl_field_is_kept(document_store: DocumentStore) -> None:
    document_store.create("sync-results", doc("r1", ttl=3600, created=1))
    document_store.upsert("webhook-audit", doc("w1", ttl=60))
    assert document_store.get("sync-results", "t1", "r1")["ttl"] == 3600
    assert document_store.get("webhook-audit", "t1", "w1")["ttl"] == 60


def test_every_container_is_usable(document_store: DocumentStore) -> None:
    from integration_core.storage import CONTAINERS

    for name in CONTAINERS:
        document_store.upsert(name, doc("probe", container=name))
        assert document_store.get(name, "t1", "probe")["container"] == name


# --- queries ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(module_document_store: DocumentStore) -> DocumentStore:
    """One store per backend, seeded once: the query tests below only read."""
    document_store = module_document_store
    rows = [
        doc("a", "t1", n=1, s="apple", tags=["red", "fruit"], flag=True, opt=None,
            nested={"email": "a@x.io"}),
        doc("b", "t1", n=2, s="banana", tags=["yellow", "fruit"], flag=False, opt="set",
            nested={"email": "b@x.io"}),
        doc("c", "t1", n=3, s="cherry", tags=["red"], flag=True, opt="set",
            nested={"email": "c@x.io"}),
        doc("d", "t2", n=4, s="date", tags=["brown", "fruit"], flag=False, opt=None,
            nested={"email": "d@x.io"}),
        doc("e", "t2", n=5, s="elder", tags=[], flag=True, opt="set",
            nested={"email": "e@x.io"}),
    ]  # fmt: skip
    for row in rows:
        document_store.create(C, row)
    return document_store


def test_query_by_partition_returns_only_that_tenant(seeded: DocumentStore) -> None:
    assert sorted(ids(seeded.query(C, partition_key="t1"))) == ["a", "b", "c"]
    assert sorted(ids(seeded.query(C, partition_key="t2"))) == ["d", "e"]
    assert seeded.query(C, partition_key="t3") == []


def test_query_without_partition_spans_tenants(seeded: DocumentStore) -> None:
    assert sorted(ids(seeded.query(C))) == ["a", "b", "c", "d", "e"]
    assert sorted(ids(seeded.query(C, filters=[Filter("flag", "=", True)]))) == ["a", "c", "e"]


def test_query_results_carry_etags(seeded: DocumentStore) -> None:
    for found in seeded.query(C, partition_key="t1"):
        assert found[ETAG] == seeded.get(C, "t1", found["id"])[ETAG]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (Filter("n", "=", 2), ["b"]),
        (Filter("n", "!=", 2), ["a", "c", "d", "e"]),
        (Filter("n", "<", 3), ["a", "b"]),
        (Filter("n", "<=", 3), ["a", "b", "c"]),
        (Filter("n", ">", 3), ["d", "e"]),
        (Filter("n", ">=", 3), ["c", "d", "e"]),
        (Filter("s", "=", "cherry"), ["c"]),
        (Filter("s", ">", "c"), ["c", "d", "e"]),
        (Filter("flag", "=", False), ["b", "d"]),
        (Filter("opt", "=", None), ["a", "d"]),
        (Filter("opt", "!=", None), ["b", "c", "e"]),
        (Filter("n", "in", [1, 4, 99]), ["a", "d"]),
        (Filter("s", "in", ["banana", "elder"]), ["b", "e"]),
        (Filter("n", "in", []), []),
        (Filter("tags", "array_contains_any", ["red", "brown"]), ["a", "c", "d"]),
        (Filter("tags", "array_contains_any", ["fruit"]), ["a", "b", "d"]),
        (Filter("tags", "array_contains_any", ["none"]), []),
        (Filter("tags", "array_contains_any", []), []),
        (Filter("nested.email", "=", "c@x.io"), ["c"]),
        (Filter("id", "=", "e"), ["e"]),
    ],
    ids=lambda value: repr(value) if isinstance(value, Filter) else None,
)
def test_filter_operator(seeded: DocumentStore, condition: Filter, expected: list[str]) -> None:
    assert sorted(ids(seeded.query(C, filters=[condition]))) == expected


def test_filters_combine_with_and(seeded: DocumentStore) -> None:
    found = seeded.query(
        C,
        filters=[Filter("flag", "=", True), Filter("n", ">", 1), Filter("opt", "!=", None)],
    )
    assert sorted(ids(found)) == ["c", "e"]


def test_filters_within_a_partition(seeded: DocumentStore) -> None:
    found = seeded.query(C, partition_key="t2", filters=[Filter("flag", "=", True)])
    assert ids(found) == ["e"]


def test_order_by_and_limit(seeded: DocumentStore) -> None:
    assert ids(seeded.query(C, order_by=[("n", False)])) == ["a", "b", "c", "d", "e"]
    assert ids(seeded.query(C, order_by=[("n", True)], limit=2)) == ["e", "d"]
    assert ids(seeded.query(C, order_by=[("s", True)], partition_key="t1", limit=1)) == ["c"]
    assert len(seeded.query(C, limit=3)) == 3
    assert seeded.query(C, limit=0) == []


def test_order_by_two_fields(document_store: DocumentStore) -> None:
    """The scheduler's sort: highest priority first, then the earliest due."""
    rows = [("t1", 1, "2024-01-01T00:00:03Z"), ("t2", 5, "2024-01-01T00:00:02Z"),
            ("t3", 5, "2024-01-01T00:00:01Z"), ("t4", 0, "2024-01-01T00:00:00Z")]  # fmt: skip
    for tenant, priority, due in rows:
        document_store.create("sync-tasks", doc(tenant, tenant, priority=priority, nextDueAt=due))
    found = document_store.query("sync-tasks", order_by=[("priority", True), ("nextDueAt", False)])
    assert ids(found) == ["t3", "t2", "t1", "t4"]


def test_blocking_keys_lookup_follows_every_write(document_store: DocumentStore) -> None:
    """The hub's candidate lookup (an indexed array field in the SQLite store)."""
    keys = Filter("blockingKeys", "array_contains_any", ["email:a", "name:x"])
    document_store.create(C, doc("a", blockingKeys=["email:a", "name:y"], kind="contact"))
    document_store.create(C, doc("b", blockingKeys=["name:x"], kind="contact"))
    document_store.create(C, doc("c", "t2", blockingKeys=["email:a"], kind="contact"))
    assert sorted(ids(document_store.query(C, partition_key="t1", filters=[keys]))) == ["a", "b"]
    assert sorted(ids(document_store.query(C, filters=[keys]))) == ["a", "b", "c"]
    current = document_store.get(C, "t1", "a")
    document_store.upsert(C, {**current, "blockingKeys": ["email:z"]}, if_match=current[ETAG])
    document_store.delete(C, "t1", "b")
    narrowed = [keys, Filter("kind", "=", "contact")]
    assert ids(document_store.query(C, partition_key="t1", filters=narrowed)) == []
    stale = {**current, "blockingKeys": ["email:a"]}
    with pytest.raises(PreconditionFailedError):
        document_store.upsert(C, stale, if_match=current[ETAG])
    assert ids(document_store.query(C, partition_key="t1", filters=[keys])) == []
