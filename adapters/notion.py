"""Notion: the pages of a database <-> tasks or contacts, as a toolkit spec plus hooks.

A connection names a database per entity type (`databases: {"task": "<database id>"}`);
the columns map through the sync task's mapping, with the property converters of
`integration_core.mapping.converters.notion` (the default mapping below fits Notion's
task list template). Notion-Version 2022-06-28 throughout.

Reads: `POST /v1/databases/{id}/query`, filtered on `last_edited_time` on or after the
watermark less one minute (Notion keeps that time to the minute), sorted ascending,
`start_cursor` paging, 100 a page at most. A query never returns trashed pages
(makenotion/notion-sdk-js#524), so deletes arrive by webhook (`page.deleted`, read by id:
the page answers `archived: true`) and never by a listing. Versions: a page's
`last_edited_time` is to the minute, so its version is that time plus a digest of its
properties; an update or delete reads the page first and refuses a stale one.

Writes: `POST /v1/pages` with the database as parent, `PATCH /v1/pages/{id}`; a delete
archives (`{"archived": true}`). With `id_property` (a rich text column), a create first
queries for a page holding its idempotency key and writes the key with the page, so a
create retried after a lost answer makes nothing twice.

Limits: three requests a second on average per integration (bursts allowed); 429 names a
Retry-After; 409 (conflict_error, "try again"), 500, 502, 503, 504 and 529
(service_overload) are retryable. https://developers.notion.com/reference/request-limits,
https://developers.notion.com/reference/status-codes
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx
import orjson
from pydantic import Field

from adapters.toolkit import (
    Budget,
    Concurrency,
    CursorState,
    DeclarativeAdapter,
    ErrorMap,
    ErrorRule,
    HttpConnectionConfig,
    JsonCursorPaginator,
    ModifiedSince,
    ObjectSpec,
    Outcome,
    PageRequest,
    ProviderSpec,
    RecordSpec,
    WriteSpec,
    webhook_json,
    webhook_notice,
)
from adapters.toolkit.selectors import select
from adapters.toolkit.spec import parse_time
from integration_core.clock import to_iso
from integration_core.credentials.types import CredentialType
from integration_core.errors import PermanentError
from integration_core.mapping import ObjectMapping, register_default_mappings
from integration_core.models import Change, Connection
from integration_core.ports import ChangeNotice, WriteResult

__all__ = ["NOTION", "NOTION_MAPPINGS", "NOTION_VERSION", "NotionAdapter", "NotionConfig"]

NOTION_VERSION = "2022-06-28"
EntityType = Literal["task", "contact"]

# Notion's "Task list" template (Task name, Status, Assignee, Due, Tags) and a people
# database of the same spirit; a task's mapping replaces whatever differs.
NOTION_MAPPINGS: Mapping[str, ObjectMapping] = register_default_mappings(
    "notion",
    [
        {
            "entity_type": "task",
            "provider_object": "pages",
            "fields": [
                {"source": "Task name", "canonical": "title", "convert": "notion_title"},
                {
                    "source": "Status",
                    "canonical": "status",
                    "convert": [
                        {"name": "notion_select", "options": {"property_type": "status"}},
                        {
                            "name": "enum",
                            "options": {
                                "values": {
                                    "Not started": "not_started",
                                    "In progress": "in_progress",
                                    "Waiting": "waiting",
                                    "Done": "completed",
                                    "Deferred": "deferred",
                                }
                            },
                        },
                    ],
                },
                {"source": "Due", "canonical": "due_date", "convert": "notion_date"},
                {"source": "Tags", "canonical": "labels", "convert": "notion_multi_select"},
                {
                    "source": "Description",
                    "canonical": "description",
                    "convert": "notion_rich_text",
                },
            ],
        },
        {
            "entity_type": "contact",
            "provider_object": "pages",
            "fields": [
                {
                    "source": "Name",
                    "canonical": ["first_name", "last_name"],
                    "convert": ["notion_title", "name_split"],
                },
                {"source": "Email", "canonical": "email", "convert": "notion_email"},
                {"source": "Phone", "canonical": "phone", "convert": "notion_phone"},
                {"source": "Company", "canonical": "company", "convert": "notion_rich_text"},
                {"source": "City", "canonical": "city", "convert": "notion_rich_text"},
            ],
        },
    ],
)


class NotionConfig(HttpConnectionConfig):
    """`databases`: the database each entity type lives in (shared with the integration).
    `id_property`: a rich text column, in each of them, that holds Lockstep's idempotency
    key; without it a create retried after a lost answer may create twice."""

    databases: dict[EntityType, str] = Field(min_length=1)
    id_property: str | None = Field(default=None, min_length=1)


def _version(page: dict[str, Any]) -> str:
    """A page's edit time (to the minute) plus a digest of its properties and trash state,
    so that two edits within a minute are two versions. A trashed page (`archived` or
    `in_trash`) is a tombstone."""
    deleted = page.get("archived") is True or page.get("in_trash") is True
    state = {"properties": page.get("properties"), "deleted": deleted}
    digest = hashlib.sha256(_canonical_json(state)).hexdigest()[:16]
    return f"{to_iso(parse_time(page['last_edited_time']))}#{digest}"


def _canonical_json(value: Any) -> bytes:
    """`json.dumps(value, sort_keys=True, separators=(",", ":"))`, the bytes versions were
    always digested from: orjson writes the same bytes for ASCII text several times faster
    (this runs for every page listed); other text and DEL (`json` escapes them, orjson does
    not) and integers beyond 64 bits (orjson refuses them) go through `json`. Floats in
    exponent form differ (orjson writes 1e-05 as 0.00001, 1.5e-09 as 1.5e-9): such a page
    digests differently than through `json`, but always the same way, which is all a
    version needs."""
    try:
        data: bytes | None = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        data = None
    if data is not None and data.isascii() and b"\x7f" not in data:
        return data
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _object() -> ObjectSpec:
    return ObjectSpec(
        path="/v1/pages",  # the database's query path comes from the connection's config
        records_path="results",
        list_method="POST",
        paginator=JsonCursorPaginator(path="next_cursor", param="start_cursor", in_body=True),
        cursor=ModifiedSince("on_or_after", overlap=timedelta(minutes=1), ordered=True),
        record=RecordSpec(
            modified_at="last_edited_time",
            version=_version,
            values="properties",
            deleted=("archived", "in_trash"),
        ),
        write=WriteSpec(
            create=("POST", "/v1/pages"),
            update=("PATCH", "/v1/pages/{id}"),
            created_status=None,
            concurrency=Concurrency.VERSION_COMPARE,
        ),
        page_size_param="page_size",
        max_page_size=100,
        read_path="/v1/pages/{id}",
    )


NOTION = ProviderSpec(
    name="notion",
    objects={"task": _object(), "contact": _object()},
    credential_types=frozenset(
        {CredentialType.BEARER_TOKEN, CredentialType.OAUTH2_AUTHORIZATION_CODE}
    ),
    health_path="/v1/users/me",
    # Three requests a second on average; a 10-second window allows Notion's short bursts.
    budgets=(Budget("integration", 30, 10.0),),
    errors=ErrorMap((ErrorRule(Outcome.RETRYABLE, status=409, retry_after=1.0),)),
    base_url="https://api.notion.com",
)

# Page events (https://developers.notion.com/reference/webhooks-events-delivery): thin,
# they name the page (`entity.id`) and its parent database (`data.parent.id`).
_UPSERTS = frozenset(
    {"page.created", "page.properties_updated", "page.content_updated", "page.undeleted"}
)
_DELETES = frozenset({"page.deleted"})


class NotionAdapter(DeclarativeAdapter):
    spec = NOTION
    config_model = NotionConfig

    def __init__(self, connection: Connection, *, client: httpx.Client) -> None:
        super().__init__(connection, client=client)
        self.client.headers["Notion-Version"] = NOTION_VERSION

    @property
    def _config(self) -> NotionConfig:
        assert isinstance(self.config, NotionConfig)
        return self.config

    def _database(self, entity_type: str) -> str:
        for kind, database in self._config.databases.items():
            if kind == entity_type:
                return database
        raise PermanentError(f"notion connection config names no {entity_type} database")

    def _query_path(self, entity_type: str) -> str:
        return f"/v1/databases/{quote(self._database(entity_type), safe='')}/query"

    # -- reads ---------------------------------------------------------------------------

    def list_request(
        self, entity_type: str, obj: ObjectSpec, state: CursorState, page_size: int
    ) -> PageRequest:
        body: dict[str, Any] = {
            "sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}],
            "page_size": page_size,
        }
        if state.since is not None:
            body["filter"] = {
                "timestamp": "last_edited_time",
                "last_edited_time": {"on_or_after": to_iso(state.since.modified_at)},
            }
        request = PageRequest(url=self._query_path(entity_type), method="POST", json=body)
        return obj.paginator.apply(request, state.page) if state.page is not None else request

    # -- writes --------------------------------------------------------------------------

    def write(
        self,
        entity_type: str,
        external_id: str | None,
        values: Mapping[str, Any],
        *,
        expected_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        if external_id is not None:
            return super().write(
                entity_type, external_id, values, expected_version=expected_version
            )
        id_property = self._config.id_property
        properties = dict(values)
        if idempotency_key is not None and id_property is not None:
            found = self._find(entity_type, id_property, idempotency_key)
            if found is not None:
                return WriteResult.of(found, created=False)
            properties[id_property] = {
                "rich_text": [{"type": "text", "text": {"content": idempotency_key}}]
            }
        what = f"notion {entity_type} create"
        response, body = self._send(
            "POST",
            "/v1/pages",
            what=what,
            json={
                "parent": {"database_id": self._database(entity_type)},
                "properties": properties,
            },
        )
        new_id, version = self.written(entity_type, response, body)
        return WriteResult(external_id=new_id, version=version, created=True)

    def delete(
        self, entity_type: str, external_id: str, *, expected_version: str | None = None
    ) -> None:
        """Archive the page (Notion's delete: it goes to the trash)."""
        self._precondition(entity_type, external_id, expected_version)
        self._send(
            "PATCH",
            f"/v1/pages/{quote(external_id, safe='')}",
            what=f"notion {entity_type} delete",
            json={"archived": True},
        )

    def _find(self, entity_type: str, prop: str, key: str) -> Change | None:
        """The live page whose `prop` (rich text) equals `key`."""
        what = f"notion {entity_type} lookup"
        _, body = self._send(
            "POST",
            self._query_path(entity_type),
            what=what,
            json={"filter": {"property": prop, "rich_text": {"equals": key}}, "page_size": 1},
        )
        return self.first_record(entity_type, body, "results", what=what)

    # -- webhooks ------------------------------------------------------------------------

    @classmethod
    def parse_webhook(cls, *, headers: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        """One event per delivery; page events become thin notices carrying the parent
        database (`container`), which `route_notices` turns into an entity type."""
        event = webhook_json("notion", body)
        if not isinstance(event, dict):
            raise PermanentError("notion webhook: the body is not a JSON object")
        kind = event.get("type")
        entity = event.get("entity")
        if kind not in _UPSERTS | _DELETES:
            return []  # database, data source and comment events: nothing to sync
        if not isinstance(entity, dict) or entity.get("type") != "page":
            raise PermanentError(f"notion webhook: a {kind} event without a page entity")
        notice = webhook_notice(
            "notion",
            0,
            object_type="task",  # provisional: the connection's config decides
            external_id=entity.get("id"),
            operation="delete" if kind in _DELETES else "upsert",
            occurred_at=event.get("timestamp"),
        )
        parent = select(event, "data.parent.id", default=None)
        return [
            notice.model_copy(update={"container": parent if isinstance(parent, str) else None})
        ]

    def route_notices(self, notices: Sequence[ChangeNotice]) -> list[ChangeNotice]:
        """Each notice typed by the database its page is in; pages of databases this
        connection does not sync are left out. Without a parent in the event, a
        connection with one database takes it as that database's."""
        by_database = {
            _plain_id(database): entity_type
            for entity_type, database in self._config.databases.items()
        }
        only = next(iter(by_database.values())) if len(by_database) == 1 else None
        routed = []
        for notice in notices:
            entity_type = by_database.get(_plain_id(notice.container)) if notice.container else only
            if entity_type is not None:
                routed.append(notice.model_copy(update={"object_type": entity_type}))
        return routed


def _plain_id(value: str) -> str:
    """Notion ids with or without their dashes name the same object."""
    return value.replace("-", "").lower()
