"""Google People API: the user's contacts (`people/me/connections`) <-> contacts.

Reads (https://developers.google.com/people/api/rest/v1/people.connections/list): a full
listing first (`requestSyncToken=true`, up to 1000 a page), whose last page hands out a
`nextSyncToken`; later cycles send it as `syncToken` and get what changed since, deleted
contacts as a person with `metadata.deleted` (tombstones). Every parameter of a paged or
sync request must match the first call's, so the page size travels in the page token.
Sync tokens expire (7 days): a 400 with ErrorInfo reason EXPIRED_SYNC_TOKEN (or a 410)
starts a full listing again, which infers no deletes. Writes can take minutes to reach
sync listings, so an edit may come back a cycle late, never lost.

Writes: `people:createContact`; `people/{id}:updateContact` with `updatePersonFields`,
which replaces each named field whole, so an update reads the contact, merges the mapped
values into its contact-sourced items and sends them with the etag read (or the
expected one): a contact changed since is a 400 failedPrecondition, a precondition
failure. Deletes (`:deleteContact`) take no etag: the contact is read and compared first.
Creates carry the idempotency key in `clientData`; a create first looks for it among the
contacts modified in the last day (newest first), so a create retried after a lost answer
makes nothing twice.

Push: Google channel pings (`google_channel`) carry no record, only the watched
resource's URI: a ping naming a person is read by id; any other pulls the task now.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from adapters.toolkit import (
    Answer,
    Budget,
    Concurrency,
    DeclarativeAdapter,
    ErrorMap,
    ErrorRule,
    MalformedAnswerError,
    ObjectSpec,
    Outcome,
    PageRequest,
    Paginator,
    ProviderSpec,
    RecordError,
    RecordSpec,
    SyncToken,
    WriteSpec,
    webhook_notice,
)
from adapters.toolkit.paginators import Token
from adapters.toolkit.selectors import select
from adapters.toolkit.spec import parse_time
from integration_core.clock import utcnow
from integration_core.credentials.types import CredentialType
from integration_core.errors import NotFoundError, PermanentError, PreconditionFailedError
from integration_core.mapping import ObjectMapping, register_default_mappings
from integration_core.models import Change
from integration_core.ports import ChangeNotice, WriteResult

__all__ = ["GOOGLE", "GOOGLE_MAPPINGS", "GooglePeopleAdapter", "PERSON_FIELDS"]

PERSON_FIELDS = "names,emailAddresses,phoneNumbers,organizations,addresses,clientData,metadata"
_KEY = "lockstep_id"  # the clientData key that holds a create's idempotency key
_LOOKBACK = timedelta(days=1)  # how far back a create looks for its own earlier attempt
_PERSON_URI = re.compile(r"people/(c\d+)")
# ListConnectionsResponse's fields besides `connections`.
_LIST_FIELDS = frozenset({"nextPageToken", "nextSyncToken", "totalPeople", "totalItems"})

GOOGLE_MAPPINGS: Mapping[str, ObjectMapping] = register_default_mappings(
    "google",
    [
        {
            "entity_type": "contact",
            "provider_object": "connections",
            "fields": [
                {"source": "names[0].givenName", "canonical": "first_name"},
                {"source": "names[0].familyName", "canonical": "last_name"},
                {"source": "emailAddresses[0].value", "canonical": "email", "convert": "email"},
                {"source": "phoneNumbers[0].value", "canonical": "phone"},
                {"source": "organizations[0].name", "canonical": "company"},
                {"source": "organizations[0].title", "canonical": "title"},
                {"source": "addresses[0].city", "canonical": "city"},
            ],
        }
    ],
)


def _reason(body: Any) -> set[str]:
    """The ErrorInfo reasons of a Google error body (google.rpc.Status)."""
    details = select(body, "error.details", default=[]) if isinstance(body, dict) else []
    if not isinstance(details, list):
        return set()
    return {str(d.get("reason")) for d in details if isinstance(d, dict) and "reason" in d}


def _status(body: Any) -> Any:
    return select(body, "error.status", default=None) if isinstance(body, dict) else None


class GooglePaginator(Paginator):
    """`pageToken`, with the page size the listing started with (it must not change)."""

    def apply(self, request: PageRequest, token: Token) -> PageRequest:
        token = token if isinstance(token, dict) else {"pageToken": token}
        params = {**request.params, "pageToken": token["pageToken"]}
        if "pageSize" in token:
            params["pageSize"] = token["pageSize"]
        return replace(request, params=params)

    def next_token(self, answer: Answer) -> Token | None:
        token = select(answer.body, "nextPageToken", default=None)
        if token in (None, ""):
            return None
        if not isinstance(token, str):
            raise TypeError(f"nextPageToken is a {type(token).__name__}")
        size = answer.response.request.url.params.get("pageSize")
        return {"pageToken": token, "pageSize": int(size)} if size else token


GOOGLE = ProviderSpec(
    name="google",
    objects={
        "contact": ObjectSpec(
            path="/v1/people/me/connections",
            records_path="connections",
            paginator=GooglePaginator(),
            cursor=SyncToken(param="syncToken", token_path="nextSyncToken"),  # noqa: S106
            record=RecordSpec(
                id="resourceName", modified_at="", version="etag", values="", deleted=None
            ),
            write=WriteSpec(
                create=("POST", "/v1/people:createContact"),
                delete=("DELETE", "/v1/people/{id}:deleteContact"),
                body_key=None,
                created_status=None,
                concurrency=Concurrency.VERSION_COMPARE,
            ),
            list_params={"personFields": PERSON_FIELDS, "requestSyncToken": "true"},
            page_size_param="pageSize",
            max_page_size=1000,
            read_path="/v1/people/{id}?personFields=" + PERSON_FIELDS,
        )
    },
    credential_types=frozenset(
        {CredentialType.OAUTH2_AUTHORIZATION_CODE, CredentialType.OAUTH2_JWT_BEARER}
    ),
    health_path="/v1/people/me/connections?personFields=metadata&pageSize=1",
    # The People API's per-user per-minute quota for contact reads and writes (Google
    # Cloud console, Quotas); a connection with a raised quota overrides it.
    budgets=(Budget("user", 60, 60.0),),
    errors=ErrorMap(
        (
            ErrorRule(
                Outcome.CURSOR_EXPIRED,
                status=400,
                when=lambda b: "EXPIRED_SYNC_TOKEN" in _reason(b),
            ),
            ErrorRule(Outcome.CURSOR_EXPIRED, status=410),
            ErrorRule(
                Outcome.PRECONDITION_FAILED,
                status=400,
                when=lambda b: _status(b) == "FAILED_PRECONDITION",
            ),
        )
    ),
    base_url="https://people.googleapis.com",
)


class GooglePeopleAdapter(DeclarativeAdapter):
    spec = GOOGLE

    def _send_request(self, request: PageRequest, *, what: str) -> tuple[httpx.Response, Any]:
        """A listing's answer; proto3 JSON leaves an empty `connections` out, so a page
        of nothing but the response's other fields is an empty page (any other shape is
        still a malformed answer)."""
        response, body = super()._send_request(request, what=what)
        if isinstance(body, dict) and "connections" not in body and set(body) <= _LIST_FIELDS:
            body = {**body, "connections": []}
        return response, body

    def parse_record(self, entity_type: str, raw: Any) -> Change:
        """A person: its id without `people/`, its etag as version, the latest update of
        its sources as its time (a deleted one without any: now)."""
        if not isinstance(raw, dict):
            raise RecordError(
                f"google {entity_type}: record is a {type(raw).__name__}", external_id=None
            )
        name = raw.get("resourceName")
        if not isinstance(name, str) or not name.startswith("people/") or name == "people/":
            raise RecordError(
                f"google {entity_type}: record without a resourceName", external_id=None
            )
        external_id = name.removeprefix("people/")
        metadata = raw.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        deleted = metadata.get("deleted") is True
        etag = raw.get("etag")
        try:
            if not isinstance(etag, str) or not etag:
                raise ValueError("missing 'etag'")
            modified_at = _updated(metadata.get("sources"), deleted)
        except (ValueError, TypeError) as err:
            raise RecordError(
                f"google {entity_type} {external_id}: {err}", external_id=external_id
            ) from err
        # Every field is checked above: the Change does not check them again.
        return Change(external_id, etag, modified_at, raw, deleted)

    def write(
        self,
        entity_type: str,
        external_id: str | None,
        values: Mapping[str, Any],
        *,
        expected_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        if external_id is None:
            return self._create_contact(entity_type, values, idempotency_key)
        current = self.read_record(entity_type, external_id)
        if current is None:
            raise NotFoundError(f"google {entity_type} {external_id} not found")
        if expected_version is not None and current.version != expected_version:
            raise PreconditionFailedError(
                f"google {entity_type} {external_id}: version is {current.version}, "
                f"not {expected_version}"
            )
        fields = sorted(values)
        body: dict[str, Any] = {"etag": expected_version or current.version}
        for name in fields:
            body[name] = _merged(current.values.get(name), values[name])
        response, answer = self._send(
            "PATCH",
            f"/v1/people/{quote(external_id, safe='')}:updateContact",
            what=f"google {entity_type} update",
            params={"updatePersonFields": ",".join(fields), "personFields": PERSON_FIELDS},
            json=body,
        )
        new_id, version = self.written(entity_type, response, answer)
        return WriteResult(
            external_id=new_id,
            version=version,
            created=False,
            modified_at=self.written_at(entity_type, answer),
        )

    def _create_contact(
        self, entity_type: str, values: Mapping[str, Any], key: str | None
    ) -> WriteResult:
        person = dict(values)
        if key is not None:
            found = self._find(entity_type, key)
            if found is not None:
                return WriteResult.of(found, created=False)
            person["clientData"] = [{"key": _KEY, "value": key}]
        response, answer = self._send(
            "POST",
            "/v1/people:createContact",
            what=f"google {entity_type} create",
            params={"personFields": PERSON_FIELDS},
            json=person,
        )
        new_id, version = self.written(entity_type, response, answer)
        return WriteResult(
            external_id=new_id,
            version=version,
            created=True,
            modified_at=self.written_at(entity_type, answer),
        )

    def _find(self, entity_type: str, key: str) -> Change | None:
        """The contact an earlier create with `key` made, among those modified lately
        (newest first; a non-sync listing, which has no propagation delay)."""
        what = f"google {entity_type} lookup"
        since = utcnow() - _LOOKBACK
        params: dict[str, Any] = {
            "personFields": "clientData,metadata",
            "sortOrder": "LAST_MODIFIED_DESCENDING",
            "pageSize": 100,
        }
        while True:
            _, body = self._send(
                "GET", self.spec.objects[entity_type].path, what=what, params=params
            )
            if not isinstance(body, dict):
                raise MalformedAnswerError(f"{what}: malformed answer: not a JSON object")
            rows = body.get("connections") or []
            for row in rows:
                change = self.parse_record(entity_type, row)
                data = row.get("clientData") or []
                if any(d.get("key") == _KEY and d.get("value") == key for d in data):
                    return self.read_record(entity_type, change.external_id)
                if change.modified_at < since:
                    return None
            token = body.get("nextPageToken")
            if not token:
                return None
            params = {**params, "pageToken": token}

    @classmethod
    def parse_webhook(cls, *, headers: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        """A channel ping: its headers say which resource changed, its body nothing.
        https://developers.google.com/calendar/api/guides/push#understanding-the-notification-message-format
        """
        lower = {k.lower(): v for k, v in headers.items()}
        state = lower.get("x-goog-resource-state", "").lower()
        if state == "sync":
            return []  # the channel's first message: it is open, nothing changed
        if not state:
            raise PermanentError("google webhook: no X-Goog-Resource-State header")
        uri = lower.get("x-goog-resource-uri", "")
        person = _PERSON_URI.search(uri)
        if person is not None:
            return [
                webhook_notice(
                    "google",
                    0,
                    object_type="contact",
                    external_id=person.group(1),
                    operation="delete" if state == "not_exists" else "upsert",
                    occurred_at=None,
                )
            ]
        watched = lower.get("x-goog-resource-id") or uri or "connections"
        return [
            ChangeNotice(
                provider="google", object_type="contact", external_id=watched, operation="pull"
            )
        ]


def _updated(sources: Any, deleted: bool) -> datetime:
    """The latest `updateTime` of a person's `metadata.sources`; a deleted person's may have
    none: now.

    Raises:
        ValueError: a live person without any, or a time that is not one (`parse_time`:
            epoch milliseconds past the platform's clock too).
    """
    times = [
        parse_time(s["updateTime"])
        for s in (sources if isinstance(sources, list) else ())
        if isinstance(s, dict) and "updateTime" in s
    ]
    if times:
        return max(times)
    if not deleted:
        raise ValueError("missing 'metadata.sources.updateTime'")
    return utcnow()


def _merged(current: Any, written: Any) -> Any:
    """The mapped `written` value laid over the contact's own: item by item for lists
    (only contact-sourced items are the user's to write), key by key for objects."""
    if isinstance(written, list) and isinstance(current, list):
        own = [c for c in current if _contact_sourced(c)]
        merged = [_merged(own[i] if i < len(own) else None, item) for i, item in enumerate(written)]
        return merged + own[len(written) :]
    if isinstance(written, dict) and isinstance(current, dict):
        return {**current, **{k: _merged(current.get(k), v) for k, v in written.items()}}
    return written


def _contact_sourced(item: Any) -> bool:
    source = (
        select(item, "metadata.source.type", default="CONTACT") if isinstance(item, dict) else None
    )
    return source == "CONTACT"
