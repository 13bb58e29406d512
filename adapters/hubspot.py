"""HubSpot CRM v3: contacts, companies and tasks, as a toolkit spec plus a few hooks.

Reads: a first sync lists every object by id (`GET /crm/v3/objects/{type}`, `after`
paging); later cycles search (`POST …/search`) for `lastmodifieddate` GT the watermark
minus an overlap window (the search index lags writes), sorted by `hs_object_id`, 100 per
page. Search refuses to page past 10,000 results, so before `after` would cross it the
listing restarts with `hs_object_id` GT the last id read — any number of changes, nothing
lost. Sorting by id makes the listing unordered in time, so the watermark moves to the
listing's start only when it ends. Each listing ends with the archived objects
(`?archived=true`), which become tombstones.

Writes: an idempotent create is a batch upsert on the unique `id_property` the connection
names (the idempotency key is its value); HubSpot has no If-Match, so an update or delete
first reads `updatedAt` and refuses a stale one. `write_batch` does the same for up to 100
records a call (hubspot_batch.py reads the multi-status answers).

Budgets: the burst limit, spent per adapter call, and the search limit, spent per search
request (`Budget.path_suffix`). Every read asks for the mapped properties and the
connection's `extra_properties` (HubSpot returns only what is asked for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from adapters.hubspot_batch import BATCH_LIMIT, chunks, item_errors, results_by
from adapters.toolkit import (
    Answer,
    Budget,
    Concurrency,
    CursorState,
    DeclarativeAdapter,
    ErrorMap,
    ErrorRule,
    HttpConnectionConfig,
    MalformedAnswerError,
    ModifiedSince,
    ObjectSpec,
    Outcome,
    PageRequest,
    Paginator,
    ProviderSpec,
    RecordSpec,
    WriteSpec,
    webhook_json,
    webhook_notice,
)
from adapters.toolkit.cursors import epoch_ms
from adapters.toolkit.mappings import register_copies
from adapters.toolkit.paginators import Token
from adapters.toolkit.selectors import select
from integration_core.credentials.types import CredentialType
from integration_core.errors import (
    AuthError,
    LockstepError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.mapping import (
    TASK_STATUSES,
    ObjectMapping,
    parse_path,
    register_default_mappings,
)
from integration_core.models import Change
from integration_core.ports import ChangeNotice, ChangePage, WriteRequest, WriteResult
from integration_core.ports.oauth import OAuthSpec

__all__ = [
    "HUBSPOT",
    "HUBSPOT_MAPPINGS",
    "HubSpotAdapter",
    "HubSpotConfig",
    "SEARCH_LIMIT",
    "mapped_properties",
]

SEARCH_LIMIT = 10_000
_MODIFIED = {
    "contact": "lastmodifieddate",
    "company": "hs_lastmodifieddate",
    "task": "hs_lastmodifieddate",
}
# HubSpot's property names (all text in its API), and what they mean canonically.
_CONTACT = {
    "first_name": "firstname",
    "last_name": "lastname",
    "email": "email",
    "phone": "phone",
    "company": "company",
    "title": "jobtitle",
    "city": "city",
    "country": "country",
}
_COMPANY = {"name": "name", "domain": "domain", "phone": "phone", "city": "city"}

# Tasks (https://developers.hubspot.com/docs/api/crm/tasks): `hs_task_subject`,
# `hs_task_body` (HTML), `hs_task_status` (NOT_STARTED, IN_PROGRESS, WAITING, COMPLETED,
# DEFERRED), `hs_timestamp` (the due date, a datetime; required on create),
# `hs_task_priority` (LOW, MEDIUM, HIGH; kept as a label). The owner (`hubspot_owner_id`)
# needs an owners lookup table and the related record its associations: a sync task adds
# them by override (and `extra_properties`).
_TASK: list[dict[str, Any]] = [
    {"source": "hs_task_subject", "canonical": "title"},
    {"source": "hs_task_body", "canonical": "description", "convert": "html_to_text"},
    {
        "source": "hs_task_status",
        "canonical": "status",
        "convert": {
            "name": "enum",
            "options": {"values": {s.upper(): s for s in TASK_STATUSES}},
        },
    },
    {"source": "hs_timestamp", "canonical": "due_date", "convert": "date_from_datetime"},
    {
        "source": "hs_task_priority",
        "canonical": "labels",
        "convert": {
            "name": "multi_picklist",
            "options": {"values": {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}},
        },
    },
]

HUBSPOT_MAPPINGS: Mapping[str, ObjectMapping] = {
    **register_copies(
        "hubspot", {("contact", "contacts"): _CONTACT, ("company", "companies"): _COMPANY}
    ),
    **register_default_mappings(
        "hubspot", [{"entity_type": "task", "provider_object": "tasks", "fields": _TASK}]
    ),
}


def mapped_properties(mapping: ObjectMapping) -> list[str]:
    """The properties a listing asks for: those the mapping's source paths start from."""
    return sorted(
        {parse_path(source).steps[0].key or source for f in mapping.fields for source in f.source}
    )


# Webhooks (https://developers.hubspot.com/docs/api/webhooks): the body is a JSON array of
# events, each with `subscriptionType` ("contact.propertyChange"; generic subscriptions say
# "object.propertyChange" with an `objectTypeId`), `objectId` and `occurredAt` (epoch ms).
# Merges name `primaryObjectId` and `mergedObjectIds` (developers.hubspot.com/changelog/
# new-subscription-types-for-webhooks). Events are read as thin: the record is read by id.
# Object type ids: 0-1 contacts, 0-2 companies, 0-27 tasks
# (developers.hubspot.com/docs/api/crm/understanding-the-crm#object-type-ids).
_WEBHOOK_OBJECTS: dict[str, Literal["contact", "company", "task"]] = {
    "contact": "contact",
    "company": "company",
    "0-1": "contact",
    "0-2": "company",
    "0-27": "task",
}
_UPSERTS = frozenset({"creation", "propertyChange", "restore"})
_DELETES = frozenset({"deletion", "privacyDeletion"})


def _webhook_notices(index: int, event: Any) -> list[ChangeNotice]:
    if not isinstance(event, dict):
        raise PermanentError(f"hubspot webhook event {index}: not an object")
    prefix, _, kind = str(event.get("subscriptionType", "")).partition(".")
    entity_type = _WEBHOOK_OBJECTS.get(
        str(event.get("objectTypeId")) if prefix == "object" else prefix
    )
    if entity_type is None:
        return []  # deals, tickets, conversations...: objects we do not sync
    when = event.get("occurredAt")
    changes: list[tuple[Any, Literal["upsert", "delete"]]]
    if kind == "merge":
        merged = event.get("mergedObjectIds") or []
        if not isinstance(merged, list):
            raise PermanentError(f"hubspot webhook event {index}: mergedObjectIds is not a list")
        primary = event.get("primaryObjectId", event.get("objectId"))
        changes = [(primary, "upsert"), *((gone, "delete") for gone in merged)]
    elif kind in _UPSERTS:
        changes = [(event.get("objectId"), "upsert")]
    elif kind in _DELETES:
        changes = [(event.get("objectId"), "delete")]
    else:
        return []
    return [
        webhook_notice(
            "hubspot",
            index,
            object_type=entity_type,
            external_id=object_id,
            operation=operation,
            occurred_at=when,
        )
        for object_id, operation in changes
    ]


class HubSpotConfig(HttpConnectionConfig):
    """How creates stay idempotent (a retry after a lost answer makes nothing twice):
    `id_property`, a unique property they upsert on (e.g. a custom `lockstep_id`); else
    `link_property`, a custom property that holds our link id, searched before creating
    (a weaker guard: the search index lags writes by seconds). With neither, a create
    retried after a lost answer may create twice.
    """

    id_property: str | None = None
    link_property: str | None = None
    # Properties read besides those the default mapping names, per entity type: what a
    # sync task's mapping override reads (HubSpot returns only the properties asked for).
    extra_properties: dict[Literal["contact", "company", "task"], list[str]] = Field(
        default_factory=dict
    )


class HubSpotPaginator(Paginator):
    """`after` paging; a search restarts by id before it crosses 10,000 results; every
    listing ends with a pass over the archived objects (`{"archived": true}`).
    """

    def apply(self, request: PageRequest, token: Token) -> PageRequest:
        token = token if isinstance(token, dict) else {}
        if request.method != "POST":
            after = {"after": token["after"]} if "after" in token else {}
            return replace(request, params={**request.params, **after})
        body = dict(request.json or {})
        body["after"] = str(token.get("after", "0"))
        if "last_id" in token:
            (group,) = body["filterGroups"]
            by_id = {"propertyName": "hs_object_id", "operator": "GT", "value": token["last_id"]}
            body["filterGroups"] = [{"filters": [*group["filters"], by_id]}]
        return replace(request, json=body)

    def next_token(self, answer: Answer) -> Token | None:
        current = answer.current if isinstance(answer.current, dict) else {}
        after = select(answer.body, "paging.next.after", default=None)
        archived = bool(current.get("archived"))
        if after is None:
            return None if archived else {"archived": True}
        if not isinstance(after, str):
            raise TypeError(f"paging.next.after is a {type(after).__name__}, not a string")
        # A list's `after` is opaque (the spec's example: "NTI1Cg%3D%3D"); a search's counts
        # results, and the search refuses to page past SEARCH_LIMIT of them.
        searching = answer.response.request.method == "POST"
        if searching and after.isdigit() and int(after) + answer.page_size > SEARCH_LIMIT:
            return {"last_id": str(select(answer.body, "results.-1.id"))}
        return {**current, "after": after}


def _cleared_as_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    """HubSpot's property values are strings, never null: a cleared field is sent as "",
    which clears the property (and reads back blank, which the hub takes as cleared)."""
    return {name: "" if value is None else value for name, value in values.items()}


def _object(entity_type: str, mapping: ObjectMapping) -> ObjectSpec:
    return ObjectSpec(
        path=f"/crm/v3/objects/{mapping.provider_object}",
        records_path="results",
        paginator=HubSpotPaginator(),
        cursor=ModifiedSince(_MODIFIED[entity_type], overlap=timedelta(minutes=2), ordered=False),
        record=RecordSpec(modified_at="updatedAt", version="updatedAt", deleted="archived"),
        # The spec requires `associations` on a create (SimplePublicObjectInputForCreate).
        write=WriteSpec(
            created_status=201,
            concurrency=Concurrency.VERSION_COMPARE,
            create_body={"associations": []},
        ),
        max_page_size=100,
    )


HUBSPOT = ProviderSpec(
    name="hubspot",
    objects={entity_type: _object(entity_type, m) for entity_type, m in HUBSPOT_MAPPINGS.items()},
    credential_types=frozenset(
        {CredentialType.OAUTH2_AUTHORIZATION_CODE, CredentialType.BEARER_TOKEN}
    ),
    health_path="/crm/v3/objects/contacts?limit=1",
    # 100 requests per 10 s per app (private and public apps alike, the lowest tier;
    # developers.hubspot.com/docs/guides/apps/api-usage/usage-details). Search has a
    # limit of its own, apart from it: five requests per second per account
    # (developers.hubspot.com/docs/api/crm/search, "Limitations"; it was four per token
    # before: developers.hubspot.com/changelog/crm-search-api-rate-limit-increase).
    budgets=(Budget("burst", 100, 10.0), Budget("search", 5, 1.0, path_suffix="/search")),
    errors=ErrorMap((ErrorRule(Outcome.RETRYABLE, status=423, retry_after=2.0),)),
    base_url="https://api.hubapi.com",
    # developers.hubspot.com/docs/api/working-with-oauth: the install URL on app.hubspot.com,
    # tokens from /oauth/v1/token with the client id and secret in the form body; the
    # scopes a two-way contact and company sync needs.
    oauth=OAuthSpec(
        authorize_url="https://app.hubspot.com/oauth/authorize",
        token_url="https://api.hubapi.com/oauth/v1/token",  # noqa: S106 - a URL
        scopes=(
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "crm.objects.companies.read",
            "crm.objects.companies.write",
        ),
    ),
)


class HubSpotAdapter(DeclarativeAdapter):
    spec = HUBSPOT
    config_model = HubSpotConfig

    def read_changes(self, entity_type: str, cursor: str | None, *, page_size: int) -> ChangePage:
        """As listed, except that the archived pass keeps only objects archived since the
        listing's window opened (none on a first sync: nothing to delete yet).
        """
        page = super().read_changes(entity_type, cursor, page_size=page_size)
        state = CursorState.decode(cursor)
        if not (isinstance(state.page, dict) and state.page.get("archived")):
            return page
        since = state.since.modified_at if state.since is not None else None
        kept = [c for c in page.changes if since is not None and c.modified_at > since]
        return replace(page, changes=kept)

    def list_request(
        self, entity_type: str, obj: ObjectSpec, state: CursorState, page_size: int
    ) -> PageRequest:
        token = state.page if isinstance(state.page, dict) else {}
        properties = self.properties(entity_type)
        if token.get("archived") or state.since is None:
            # `properties` is an exploded form array: one parameter per property.
            params: dict[str, Any] = {"limit": page_size, "properties": properties}
            if token.get("archived"):
                params["archived"] = "true"
            request = PageRequest(url=obj.path, params=params)
        else:
            modified = _MODIFIED[entity_type]
            since = str(epoch_ms(state.since.modified_at))
            request = PageRequest(
                url=f"{obj.path}/search",
                method="POST",
                json={
                    "filterGroups": [
                        {"filters": [{"propertyName": modified, "operator": "GT", "value": since}]}
                    ],
                    "sorts": ["hs_object_id"],
                    "properties": [*properties, modified],
                    "limit": page_size,
                    "after": "0",
                },
            )
        return obj.paginator.apply(request, token) if token else request

    def properties(self, entity_type: str) -> list[str]:
        """The properties every read asks for: the default mapping's and the connection's
        `extra_properties`."""
        config = self.config if isinstance(self.config, HubSpotConfig) else HubSpotConfig()
        mapped = mapped_properties(self.field_map(entity_type))
        extra = config.extra_properties.get(entity_type, [])  # type: ignore[call-overload]
        return sorted({*mapped, *extra})

    def read_params(self, entity_type: str) -> dict[str, Any]:
        return {"properties": self.properties(entity_type)}

    @classmethod
    def parse_webhook(cls, *, headers: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        events = webhook_json("hubspot", body)
        if not isinstance(events, list):
            raise PermanentError("hubspot webhook: the body is not a JSON array of events")
        return [notice for i, event in enumerate(events) for notice in _webhook_notices(i, event)]

    def write(
        self,
        entity_type: str,
        external_id: str | None,
        values: Mapping[str, Any],
        *,
        expected_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        config = self.config if isinstance(self.config, HubSpotConfig) else HubSpotConfig()
        values = _cleared_as_empty(values)
        if external_id is None and idempotency_key is not None:
            if config.id_property is not None:
                return self._upsert(entity_type, values, config.id_property, idempotency_key)
            if config.link_property is not None:
                found = self._find(entity_type, config.link_property, idempotency_key)
                if found is not None:
                    return WriteResult.of(found, created=False)
                values = {**values, config.link_property: idempotency_key}
        return super().write(
            entity_type,
            external_id,
            values,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    def write_batch(
        self, entity_type: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult | LockstepError]:
        """Updates through `batch/update` (their versions read first in one `batch/read`),
        creates through `batch/upsert` on `id_property` or `batch/create`, 100 per call.
        Creates guarded by a `link_property` search go one by one.
        """
        outcomes: dict[int, WriteResult | LockstepError] = {}
        groups = self._groups(requests)
        for operation in ("update", "upsert", "create"):
            for chunk in chunks(groups[operation]):
                self._batch(entity_type, operation, chunk, requests, outcomes)
        self._alone(entity_type, groups["alone"], requests, outcomes)
        return [outcomes[i] for i in range(len(requests))]

    batch_limit = BATCH_LIMIT

    def batch_calls(self, entity_type: str, requests: Sequence[WriteRequest]) -> int:
        """Per 100 updates a `batch/read` (when they expect versions) and a `batch/update`;
        per 100 upserts or creates one call; a create guarded by a search, two."""
        groups = self._groups(requests)
        updates = sum(
            1 + any(requests[i].expected_version is not None for i in chunk)
            for chunk in chunks(groups["update"])
        )
        made = sum(len(list(chunks(groups[operation]))) for operation in ("upsert", "create"))
        return updates + made + 2 * len(groups["alone"])

    def _groups(self, requests: Sequence[WriteRequest]) -> dict[str, list[int]]:
        """The requests' indexes by the endpoint that writes them ("alone": one by one)."""
        config = self.config if isinstance(self.config, HubSpotConfig) else HubSpotConfig()
        groups: dict[str, list[int]] = {"update": [], "upsert": [], "create": [], "alone": []}
        for i, request in enumerate(requests):
            if request.external_id is not None:
                groups["update"].append(i)
            elif request.idempotency_key is None:
                groups["create"].append(i)
            elif config.id_property is not None:
                groups["upsert"].append(i)
            else:
                groups["alone" if config.link_property is not None else "create"].append(i)
        return groups

    def _alone(
        self,
        entity_type: str,
        indexes: Sequence[int],
        requests: Sequence[WriteRequest],
        outcomes: dict[int, WriteResult | LockstepError],
    ) -> None:
        written = self.one_by_one(entity_type, [requests[i] for i in indexes])
        outcomes.update(zip(indexes, written, strict=True))

    def _batch(
        self,
        entity_type: str,
        operation: str,
        indexes: Sequence[int],
        requests: Sequence[WriteRequest],
        outcomes: dict[int, WriteResult | LockstepError],
    ) -> None:
        obj = self._object(entity_type)
        what = f"hubspot {entity_type} batch {operation}"
        if operation == "update":
            indexes = self._fresh(entity_type, indexes, requests, outcomes)
        if not indexes:
            return
        try:
            response, body = self._send(
                "POST",
                f"{obj.path}/batch/{operation}",
                what=what,
                json={"inputs": [self._input(operation, i, requests[i]) for i in indexes]},
            )
        except (RetryableError, AuthError) as err:
            outcomes.update((i, err) for i in indexes)
            return
        except LockstepError:
            # HubSpot refuses some batches whole (one invalid input): each alone, so a bad
            # record fails alone and the others are written.
            self._alone(entity_type, indexes, requests, outcomes)
            return
        by_trace = results_by(body, "objectWriteTraceId")
        by_id = results_by(body, "id")
        errors = item_errors(body, what=what)
        for i in indexes:
            request = requests[i]
            own = request.external_id or request.idempotency_key or ""
            row = by_trace.get(str(i)) or by_id.get(own)
            if row is None and operation == "upsert":
                row = self._upserted(body, own)
            if row is None:
                outcomes[i] = (
                    errors.get(str(i))
                    or errors.get(own)
                    or PermanentError(f"{what}: HubSpot answered nothing about input {i}")
                )
                continue
            try:
                new_id, version = self.written(entity_type, response, row)
            except MalformedAnswerError as err:
                outcomes[i] = err
                continue
            created = operation == "create" or row.get("new") is True
            outcomes[i] = WriteResult(
                external_id=new_id,
                version=version,
                created=created,
                modified_at=self.written_at(entity_type, row),
            )

    def _input(self, operation: str, index: int, request: WriteRequest) -> dict[str, Any]:
        item: dict[str, Any] = {
            "objectWriteTraceId": str(index),
            "properties": _cleared_as_empty(request.values),
        }
        if operation == "update":
            item["id"] = request.external_id
        elif operation == "upsert":
            config = self.config if isinstance(self.config, HubSpotConfig) else HubSpotConfig()
            item.update(id=request.idempotency_key, idProperty=config.id_property)
        else:
            item["associations"] = []  # required (SimplePublicObjectBatchInputForCreate)
        return item

    def _upserted(self, body: Any, key: str) -> dict[str, Any] | None:
        """An upsert's result by its unique property's value (no trace id echoed)."""
        config = self.config if isinstance(self.config, HubSpotConfig) else HubSpotConfig()
        for row in results_by(body, "id").values():
            properties = row.get("properties")
            if isinstance(properties, dict) and properties.get(config.id_property) == key:
                return row
        return None

    def _fresh(
        self,
        entity_type: str,
        indexes: Sequence[int],
        requests: Sequence[WriteRequest],
        outcomes: dict[int, WriteResult | LockstepError],
    ) -> list[int]:
        """The updates whose record still has the version they expect, its versions read
        in one `batch/read` (HubSpot has no If-Match); the others get their error."""
        checked = [i for i in indexes if requests[i].expected_version is not None]
        if not checked:
            return list(indexes)
        obj = self._object(entity_type)
        what = f"hubspot {entity_type} batch read"
        ids = sorted({str(requests[i].external_id) for i in checked})
        try:
            _, body = self._send(
                "POST",
                f"{obj.path}/batch/read",
                what=what,
                json={
                    "inputs": [{"id": external_id} for external_id in ids],
                    "properties": [],
                    "propertiesWithHistory": [],
                },
            )
        except (RetryableError, AuthError) as err:
            outcomes.update((i, err) for i in indexes)
            return []
        except LockstepError:
            self._alone(entity_type, indexes, requests, outcomes)
            return []
        current = results_by(body, "id")
        fresh = []
        for i in indexes:
            request = requests[i]
            external_id = str(request.external_id)
            if request.expected_version is None:
                fresh.append(i)
            elif external_id not in current:
                outcomes[i] = NotFoundError(f"hubspot {entity_type} {external_id} not found")
            elif (version := current[external_id].get("updatedAt")) != request.expected_version:
                outcomes[i] = PreconditionFailedError(
                    f"hubspot {entity_type} {external_id}: version is {version}, "
                    f"not {request.expected_version}"
                )
            else:
                fresh.append(i)
        return fresh

    def _upsert(
        self, entity_type: str, values: Mapping[str, Any], id_property: str, key: str
    ) -> WriteResult:
        obj = self._object(entity_type)
        item = {"id": key, "idProperty": id_property, "properties": dict(values)}
        response, body = self._send(
            "POST",
            f"{obj.path}/batch/upsert",
            what=f"hubspot {entity_type} create",
            json={"inputs": [item]},
        )
        result = self._select(body, "results.0", what=f"hubspot {entity_type} create")
        new_id, version = self.written(entity_type, response, result)
        return WriteResult(
            external_id=new_id,
            version=version,
            created=result.get("new") is True,
            modified_at=self.written_at(entity_type, result),
        )

    def _find(self, entity_type: str, prop: str, value: str) -> Change | None:
        """The live object whose `prop` is `value`, by search."""
        obj = self._object(entity_type)
        what = f"hubspot {entity_type} lookup"
        _, body = self._send(
            "POST",
            f"{obj.path}/search",
            what=what,
            json={
                "filterGroups": [
                    {"filters": [{"propertyName": prop, "operator": "EQ", "value": value}]}
                ],
                "sorts": ["hs_object_id"],
                "properties": [prop],
                "limit": 1,
                "after": "0",
            },
        )
        return self.first_record(entity_type, body, "results", what=what)
