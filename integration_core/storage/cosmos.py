"""DocumentStore on Azure Cosmos DB (NoSQL API), also used against the local emulator.

Containers are partitioned by `/tenantId`. Writes that carry `if_match` are conditional on
the document's `_etag`; status codes become Lockstep errors (404 -> NotFoundError,
409 -> ConflictError, 412 -> PreconditionFailedError, 429/5xx/timeouts -> RetryableError).
Queries are parameterized SQL; only field names (validated identifiers) reach the text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import (
    ContainerProxy,
    CosmosClient,
    DatabaseProxy,
    PartitionKey,
    SSLConfiguration,
    exceptions,
)

from integration_core.errors import (
    AuthError,
    ConfigurationError,
    ConflictError,
    LockstepError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.storage.base import CONTAINERS, PARTITION_KEY, Filter
from integration_core.storage.ids import check_document, check_key, check_query

__all__ = ["COMPOSITE_INDEXES", "CompositeIndex", "CosmosDocumentStore"]

logger = logging.getLogger(__name__)

# One composite index: (field, descending) pairs. Cosmos serves an ORDER BY on two or more
# fields only from a composite index with exactly those fields in that order and directions.
CompositeIndex = Sequence[tuple[str, bool]]

# Container -> the composite indexes created with it (the multi-field sorts Lockstep uses).
COMPOSITE_INDEXES: Mapping[str, Sequence[CompositeIndex]] = {
    "sync-tasks": [[("priority", True), ("nextDueAt", False)]],
}

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_SYSTEM_FIELDS = ("_rid", "_self", "_attachments")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_RETRYABLE_STATUS = frozenset({408, 429, 449, 500, 502, 503, 504})


def _field_ref(field: str) -> str:
    """`c["a"]["b"]` for `a.b`: bracket notation, so reserved words work as field names."""
    if not _FIELD.fullmatch(field):
        raise ValueError(f"invalid field name {field!r}: letters, digits, _ and dots only")
    return "c" + "".join(f'["{part}"]' for part in field.split("."))


def _index_path(field: str) -> str:
    return "/" + "/".join(field.split("."))


class _QueryBuilder:
    """Collects parameters (@p0, @p1, ...) while the SQL text is assembled."""

    def __init__(self) -> None:
        self.parameters: list[dict[str, Any]] = []

    def param(self, value: Any) -> str:
        name = f"@p{len(self.parameters)}"
        self.parameters.append({"name": name, "value": value})
        return name

    def condition(self, condition: Filter) -> str:
        ref = _field_ref(condition.field)
        if condition.op in _COMPARISONS:
            if condition.value is None:
                if condition.op == "=":
                    return f"IS_NULL({ref})"
                if condition.op == "!=":
                    return f"NOT IS_NULL({ref})"
                raise ValueError(f"cannot compare {condition.field} {condition.op} None")
            return f"{ref} {condition.op} {self.param(condition.value)}"
        if isinstance(condition.value, str | bytes) or not isinstance(condition.value, Sequence):
            raise ValueError(f"{condition.op!r} on {condition.field} needs a list of values")
        values = list(condition.value)
        if not values:
            return "false"
        if condition.op == "in":
            return f"ARRAY_CONTAINS({self.param(values)}, {ref})"
        if condition.op == "array_contains_any":
            return (
                f"EXISTS(SELECT VALUE v FROM v IN {ref}"  # noqa: S608 (validated field, @params)
                f" WHERE ARRAY_CONTAINS({self.param(values)}, v))"
            )
        raise ValueError(f"unknown filter operator {condition.op!r}")


@contextmanager
def _translated(what: str, *, if_match: str | None = None) -> Iterator[None]:
    """Turn SDK errors into Lockstep errors; `what` names the resource in messages."""
    try:
        yield
    except exceptions.CosmosHttpResponseError as err:
        raise _error_for(err, what, if_match=if_match) from err
    except (ServiceRequestError, ServiceResponseError) as err:
        if "CERTIFICATE_VERIFY_FAILED" in str(err):
            raise ConfigurationError(
                f"{what}: the TLS certificate is not trusted (for the local emulator set"
                " COSMOS_CA_FILE to .local-stack/cosmos-cert.pem)"
            ) from err
        raise RetryableError(f"{what}: Cosmos DB unreachable ({type(err).__name__})") from err


def _error_for(
    err: exceptions.CosmosHttpResponseError, what: str, *, if_match: str | None
) -> LockstepError:
    status = err.status_code or 0
    if status == 404:
        if if_match is not None:
            return PreconditionFailedError(f"{what} is gone; it was expected at {if_match}")
        return NotFoundError(f"{what} not found")
    if status == 409:
        return ConflictError(f"{what} already exists")
    if status == 412:
        return PreconditionFailedError(f"{what} changed since {if_match}")
    if status in (401, 403):
        return AuthError(f"{what}: Cosmos DB refused the credentials (HTTP {status})")
    if status in _RETRYABLE_STATUS:
        headers = err.headers or {}
        retry_ms = headers.get("x-ms-retry-after-ms")
        retry_after = float(retry_ms) / 1000 if retry_ms else None
        return RetryableError(f"{what}: Cosmos DB answered {status}", retry_after=retry_after)
    return PermanentError(f"{what}: Cosmos DB answered {status}: {err.message}")


def _clean(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document as Lockstep sees it: Cosmos bookkeeping other than _etag/_ts removed."""
    return {key: value for key, value in document.items() if key not in _SYSTEM_FIELDS}


def _checked(document: Mapping[str, Any]) -> dict[str, Any]:
    check_document(document)
    return _clean(document)


class CosmosDocumentStore:
    """A DocumentStore on one Cosmos DB database.

    Args:
        endpoint: account URL, e.g. `https://myacct.documents.azure.com:443/`.
        credential: the account key, or an Entra ID token credential (managed identity).
        database: database id.
        containers: container -> default TTL in seconds (None: TTL enabled per document only).
        composite_indexes: container -> composite indexes for multi-field ORDER BY.
        create_resources: create the database and containers when missing. Turn off when
            infrastructure (Bicep) owns them and the identity has data-plane rights only.
        ca_file: a CA bundle to verify the endpoint's TLS certificate with (the local
            emulator's generated certificate).
        verify_tls: False skips certificate verification; allowed only for a loopback
            endpoint. Without `ca_file`, verification uses the system's trusted CAs.
    """

    def __init__(
        self,
        endpoint: str,
        credential: str | TokenCredential,
        *,
        database: str = "lockstep",
        containers: Mapping[str, int | None] = CONTAINERS,
        composite_indexes: Mapping[str, Sequence[CompositeIndex]] = COMPOSITE_INDEXES,
        create_resources: bool = True,
        ca_file: str | None = None,
        verify_tls: bool = True,
    ) -> None:
        host = urlparse(endpoint).hostname
        if not verify_tls and host not in _LOCAL_HOSTS:
            raise ConfigurationError(
                f"COSMOS_VERIFY_TLS=false is only allowed for a local emulator, not {host!r}"
            )
        options: dict[str, Any] = {}
        if verify_tls:
            # An explicit SSLConfiguration also stops the SDK from silently skipping
            # verification for localhost endpoints.
            ssl = SSLConfiguration()
            ssl.SSLCaCerts = ca_file or True
            options["ssl_config"] = ssl
        else:
            options["connection_verify"] = False
        self._composite_indexes = composite_indexes
        with _translated(f"Cosmos DB account {endpoint}"):
            self._client = CosmosClient(endpoint, credential=credential, **options)
            self._database: DatabaseProxy = (
                self._client.create_database_if_not_exists(database)
                if create_resources
                else self._client.get_database_client(database)
            )
            self._containers: dict[str, ContainerProxy] = {}
            for name, ttl in containers.items():
                self._containers[name] = (
                    self._create_container(name, ttl)
                    if create_resources
                    else self._database.get_container_client(name)
                )

    def _create_container(self, name: str, ttl: int | None) -> ContainerProxy:
        policy: dict[str, Any] = {"indexingMode": "consistent", "automatic": True}
        composites = self._composite_indexes.get(name, ())
        if composites:
            policy["compositeIndexes"] = [
                [
                    {"path": _index_path(field), "order": "descending" if desc else "ascending"}
                    for field, desc in index
                ]
                for index in composites
            ]
        try:
            container = self._database.create_container(
                id=name,
                partition_key=PartitionKey(path="/" + PARTITION_KEY),
                # -1: TTL on, no default expiry; a document's own `ttl` field still applies.
                default_ttl=ttl if ttl is not None else -1,
                indexing_policy=policy,
            )
        except exceptions.CosmosResourceExistsError:
            # One request either way (create_container_if_not_exists reads first). An
            # existing container keeps its settings: infra owns them once deployed.
            return self._database.get_container_client(name)
        logger.info("created Cosmos container %s", name)
        return container

    def _container(self, name: str) -> ContainerProxy:
        try:
            return self._containers[name]
        except KeyError:
            raise ValueError(f"unknown container {name!r}") from None

    @property
    def database_id(self) -> str:
        return self._database.id

    def close(self) -> None:
        self._client.close()

    def drop_database(self) -> None:
        """Delete the whole database (test and tool clean-up)."""
        with _translated(f"database {self._database.id}"):
            self._client.delete_database(self._database.id)

    def ping(self) -> None:
        with _translated(f"database {self._database.id}"):
            self._database.read()

    def get(self, container: str, partition_key: str, id: str) -> dict[str, Any]:
        check_key(partition_key, id)
        with _translated(f"{container}/{id}"):
            return _clean(self._container(container).read_item(id, partition_key=partition_key))

    def create(self, container: str, document: Mapping[str, Any]) -> dict[str, Any]:
        body = _checked(document)
        with _translated(f"{container}/{body['id']}"):
            return _clean(self._container(container).create_item(body))

    def upsert(
        self, container: str, document: Mapping[str, Any], *, if_match: str | None = None
    ) -> dict[str, Any]:
        body = _checked(document)
        target = self._container(container)
        with _translated(f"{container}/{body['id']}", if_match=if_match):
            if if_match is None:
                return _clean(target.upsert_item(body))
            return _clean(
                target.replace_item(
                    body["id"],
                    body,
                    etag=if_match,
                    match_condition=MatchConditions.IfNotModified,
                )
            )

    def delete(
        self, container: str, partition_key: str, id: str, *, if_match: str | None = None
    ) -> None:
        check_key(partition_key, id)
        target = self._container(container)
        with _translated(f"{container}/{id}"):
            if if_match is None:
                target.delete_item(id, partition_key=partition_key)
            else:
                target.delete_item(
                    id,
                    partition_key=partition_key,
                    etag=if_match,
                    match_condition=MatchConditions.IfNotModified,
                )

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
        target = self._container(container)
        sql, parameters = self._sql(container, partition_key, filters, order_by, limit)
        options: dict[str, Any] = (
            {"enable_cross_partition_query": True}
            if partition_key is None
            else {"partition_key": partition_key}
        )
        with _translated(f"query on {container}"):
            items = target.query_items(sql, parameters=parameters, **options)
            return [_clean(item) for item in items]

    def _sql(
        self,
        container: str,
        partition_key: str | None,
        filters: Sequence[Filter],
        order_by: Sequence[tuple[str, bool]],
        limit: int | None,
    ) -> tuple[str, list[dict[str, Any]]]:
        builder = _QueryBuilder()
        select = "SELECT * FROM c"
        if limit is not None:
            if limit < 0:
                raise ValueError("limit must be >= 0")
            select = f"SELECT TOP {builder.param(limit)} * FROM c"  # noqa: S608 (a @param)
        conditions = [builder.condition(condition) for condition in filters]
        if partition_key is not None:
            # Redundant on Azure (the request is already scoped to the partition), but the
            # local emulator ignores the partition header on queries.
            conditions.append(f"{_field_ref(PARTITION_KEY)} = {builder.param(partition_key)}")
        sql = select
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        if order_by:
            self._require_index(container, order_by)
            sql += " ORDER BY " + ", ".join(
                _field_ref(field) + (" DESC" if descending else " ASC")
                for field, descending in order_by
            )
        return sql, builder.parameters

    def _require_index(self, container: str, order_by: Sequence[tuple[str, bool]]) -> None:
        if len(order_by) < 2:
            return
        # Azure also serves the exact reverse of an index; the emulator does not, so
        # Lockstep asks for the index exactly as it sorts.
        wanted = [(field, desc) for field, desc in order_by]
        for index in self._composite_indexes.get(container, ()):
            if list(index) == wanted:
                return
        raise ConfigurationError(
            f"ORDER BY {wanted} on {container} needs a composite index: add it to"
            " COMPOSITE_INDEXES (and to the container in infra)"
        )
