"""Cosmos-specific behaviour beyond the shared DocumentStore contract."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from integration_core.errors import ConfigurationError
from integration_core.storage import Filter
from integration_core.storage.cosmos import CosmosDocumentStore
from tests.conftest import LocalStack


@pytest.mark.unit
@pytest.mark.parametrize(
    "endpoint", ["https://acct.documents.azure.com:443/", "https://10.0.0.5:8081/"]
)
def test_skipping_tls_verification_is_refused_for_remote_endpoints(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="COSMOS_VERIFY_TLS"):
        CosmosDocumentStore(endpoint, "a2V5", verify_tls=False)


@pytest.mark.integration
def test_tls_is_verified_against_the_given_ca(local_stack: LocalStack) -> None:
    """The system CAs do not trust the emulator's certificate: verification is really on."""
    with pytest.raises(ConfigurationError, match="COSMOS_CA_FILE"):
        CosmosDocumentStore(
            local_stack.cosmos_endpoint,
            local_stack.cosmos_key,
            database="never-created",
            ca_file="/etc/ssl/certs/ca-certificates.crt",
        )


@pytest.fixture(scope="module")
def shared_store(make_cosmos_store: Callable[[], CosmosDocumentStore]) -> CosmosDocumentStore:
    """One store for the tests that only read or reject."""
    return make_cosmos_store()


@pytest.mark.integration
@pytest.mark.parametrize("field", ['s"] OR 1=1 --', "a b", "1st", "a..b", "", "c.d)"])
def test_field_names_must_be_identifiers(shared_store: CosmosDocumentStore, field: str) -> None:
    with pytest.raises(ValueError, match="invalid field name"):
        shared_store.query("entities", filters=[Filter(field, "=", 1)])
    with pytest.raises(ValueError, match="invalid field name"):
        shared_store.query("entities", order_by=[(field, False)])


@pytest.mark.integration
def test_values_are_parameters_not_sql(cosmos_store: CosmosDocumentStore) -> None:
    cosmos_store.create("entities", {"id": "a", "tenantId": "t1", "s": "x"})
    hostile = 'x" OR true OR c.s = "'
    assert cosmos_store.query("entities", filters=[Filter("s", "=", hostile)]) == []
    assert cosmos_store.query("entities", filters=[Filter("s", "in", [hostile])]) == []


@pytest.mark.integration
def test_reserved_words_work_as_field_names(cosmos_store: CosmosDocumentStore) -> None:
    cosmos_store.create("entities", {"id": "a", "tenantId": "t1", "value": 1, "order": "x"})
    found = cosmos_store.query(
        "entities", filters=[Filter("value", "=", 1)], order_by=[("order", False)]
    )
    assert [d["id"] for d in found] == ["a"]


@pytest.mark.integration
def test_sorting_on_two_fields_without_a_composite_index_is_a_config_error(
    shared_store: CosmosDocumentStore,
) -> None:
    with pytest.raises(ConfigurationError, match="composite index"):
        shared_store.query("entities", order_by=[("a", False), ("b", True)])


@pytest.mark.integration
def test_the_reverse_of_a_composite_index_is_not_assumed(shared_store: CosmosDocumentStore) -> None:
    """Azure would serve it, the emulator would not: refuse it on both, with a clear error."""
    with pytest.raises(ConfigurationError, match="composite index"):
        shared_store.query("sync-tasks", order_by=[("priority", False), ("nextDueAt", True)])


@pytest.mark.integration
def test_an_existing_database_is_used_without_creating_anything(
    cosmos_store: CosmosDocumentStore, local_stack: LocalStack
) -> None:
    cosmos_store.create("entities", {"id": "a", "tenantId": "t1"})
    database = cosmos_store.database_id
    again = CosmosDocumentStore(
        local_stack.cosmos_endpoint,
        local_stack.cosmos_key,
        database=database,
        create_resources=False,
        ca_file=local_stack.cosmos_ca_file,
    )
    try:
        again.ping()
        assert again.get("entities", "t1", "a")["id"] == "a"
    finally:
        again.close()


@pytest.mark.integration
def test_system_properties_other_than_etag_and_ts_are_hidden(
    cosmos_store: CosmosDocumentStore,
) -> None:
    created = cosmos_store.create("entities", {"id": "a", "tenantId": "t1"})
    for document in (created, cosmos_store.get("entities", "t1", "a")):
        assert set(document) == {"id", "tenantId", "_etag", "_ts"}


@pytest.mark.integration
def test_unknown_container_is_refused(shared_store: CosmosDocumentStore) -> None:
    with pytest.raises(ValueError, match="unknown container"):
        shared_store.get("nope", "t1", "a")
