"""Hostile ids and partition keys are refused by every store on every path (issue 11, §4).

On Cosmos an id becomes part of the request URL: before the check, `get` with the id
`c-of-A/..` in tenant B's partition returned tenant A's documents (the collection's feed),
and `..` returned the container's metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from integration_core.errors import InvalidIdError, NotFoundError, PermanentError
from integration_core.storage import ETAG, DocumentStore, Filter
from integration_core.storage.ids import MAX_ID_LENGTH

C = "entities"

HOSTILE = [
    "c-of-A/..",
    "..",
    ".",
    "a/b",
    "a\\b",
    "a?b",
    "a#b",
    "",
    "x" * (MAX_ID_LENGTH + 1),
    "a\x00b",
    "a\nb",
    "a\x7fb",
]
# Unusual but allowed: they must round-trip, so the check does not refuse real ids.
ALLOWED = ["a b", "Zoë-東京", "x%2F..", "...", "a.b", "x" * MAX_ID_LENGTH, "+1 555 (0)"]


def _hostile_ids() -> list[Any]:
    return [pytest.param(value, id=repr(value)[:20]) for value in HOSTILE]


def _accepted(attempts: dict[str, Callable[[], object]]) -> list[str]:
    """The paths that did not refuse with InvalidIdError (any other error propagates)."""
    accepted = []
    for path, attempt in attempts.items():
        try:
            attempt()
        except InvalidIdError:
            continue
        accepted.append(path)
    return accepted


@pytest.fixture(scope="module")
def store(module_document_store: DocumentStore) -> DocumentStore:
    """A document in tenants A and B (the hostile ids here never write)."""
    module_document_store.upsert(C, {"id": "doc-a", "tenantId": "A", "secret": "tenant A's"})
    module_document_store.upsert(C, {"id": "doc-b", "tenantId": "B", "secret": "tenant B's"})
    return module_document_store


def test_invalid_id_is_a_permanent_value_error() -> None:
    assert issubclass(InvalidIdError, PermanentError)
    assert issubclass(InvalidIdError, ValueError)


@pytest.mark.parametrize("bad", _hostile_ids())
def test_hostile_id_is_refused_on_every_path(store: DocumentStore, bad: str) -> None:
    etag = store.get(C, "B", "doc-b")[ETAG]
    attempts: dict[str, Callable[[], object]] = {
        "get": lambda: store.get(C, "B", bad),
        "create": lambda: store.create(C, {"id": bad, "tenantId": "B"}),
        "upsert": lambda: store.upsert(C, {"id": bad, "tenantId": "B"}),
        "replace": lambda: store.upsert(C, {"id": bad, "tenantId": "B"}, if_match=etag),
        "delete": lambda: store.delete(C, "B", bad),
        "conditional delete": lambda: store.delete(C, "B", bad, if_match=etag),
        "query by id": lambda: store.query(C, filters=[Filter("id", "=", bad)]),
        "query by ids": lambda: store.query(C, filters=[Filter("id", "in", ["doc-b", bad])]),
    }
    assert _accepted(attempts) == []
    assert store.get(C, "A", "doc-a")["secret"] == "tenant A's"
    assert store.get(C, "B", "doc-b")["secret"] == "tenant B's"


@pytest.mark.parametrize("bad", _hostile_ids())
def test_hostile_partition_key_is_refused_on_every_path(store: DocumentStore, bad: str) -> None:
    attempts: dict[str, Callable[[], object]] = {
        "get": lambda: store.get(C, bad, "doc-b"),
        "create": lambda: store.create(C, {"id": "new", "tenantId": bad}),
        "upsert": lambda: store.upsert(C, {"id": "new", "tenantId": bad}),
        "delete": lambda: store.delete(C, bad, "doc-b"),
        "query": lambda: store.query(C, partition_key=bad),
        "query by tenant": lambda: store.query(C, filters=[Filter("tenantId", "=", bad)]),
    }
    assert _accepted(attempts) == []
    assert [d["id"] for d in store.query(C, partition_key="B")] == ["doc-b"]


def test_the_error_never_echoes_the_value(store: DocumentStore) -> None:
    with pytest.raises(InvalidIdError) as caught:
        store.get(C, "B", "c-of-A/..")
    assert "c-of-A" not in str(caught.value)


@pytest.mark.parametrize("good", ALLOWED, ids=lambda value: repr(value)[:20])
def test_unusual_but_valid_ids_round_trip(store: DocumentStore, good: str) -> None:
    store.upsert(C, {"id": good, "tenantId": good, "n": 1})
    assert store.get(C, good, good)["n"] == 1
    assert [d["id"] for d in store.query(C, filters=[Filter("id", "=", good)])] == [good]
    store.delete(C, good, good)
    with pytest.raises(NotFoundError):
        store.get(C, good, good)
