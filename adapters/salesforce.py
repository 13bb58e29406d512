"""Salesforce REST API: Contact, Account and Task, as a toolkit spec plus a few hooks.

Every call goes to the org's own host, the `instance_url` its OAuth token answer names
(kept with the credential's metadata; the connection's config names it until a token
answer does), under one pinned API version.

Reads: one SOQL listing per cycle through `queryAll`, ordered `SystemModstamp, Id` and,
after the first sync, filtered `SystemModstamp >= ` the watermark minus an overlap window;
pages follow `nextRecordsUrl` (the page size asked for is a hint in `Sforce-Query-Options:
batchSize=`: Salesforce serves 200 to 2000 records a batch, as it sees fit).
`queryAll`, unlike `query`, also returns the deleted rows still in the Recycle Bin, with
`IsDeleted = true`: they are the tombstones, in the same ordered listing, so one watermark
covers edits and deletes. Deleted rows are kept for 15 days at most and the delete log is
purged earlier when it grows, so before an incremental listing the sObject Get Deleted
resource is asked what it still covers: a watermark older than its `earliestDateAvailable`
(or than 15 days) starts the toolkit's delete-safe full scan instead — a record absent
from it is never taken as deleted.
(developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getdeleted.htm,
dome_query.htm, headers_queryoptions.htm)

Writes: create is `POST sobjects/{type}`; update `PATCH sobjects/{type}/{id}`; delete
`DELETE`. Neither answers the new `SystemModstamp`, so the record is read after a write
for its version. See `SalesforceAdapter.write` for idempotency and concurrency.
`write_batch` sends the same requests as subrequests of the Composite resource, 25 to a
call (see `SalesforceAdapter.write_batch`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import Field, HttpUrl, model_validator

from adapters.toolkit import (
    Budget,
    Concurrency,
    CursorExpiredError,
    CursorState,
    DeclarativeAdapter,
    ErrorMap,
    ErrorRule,
    HttpConnectionConfig,
    MalformedAnswerError,
    ModifiedSince,
    NextUrlPaginator,
    ObjectSpec,
    Outcome,
    PageRequest,
    ProviderSpec,
    RecordError,
    RecordSpec,
    WriteSpec,
)
from adapters.toolkit.mappings import source_fields
from adapters.toolkit.spec import parse_time
from integration_core.credentials.types import CredentialType
from integration_core.errors import (
    AuthError,
    ConnectionConfigurationError,
    LockstepError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.mapping import ObjectMapping, register_default_mappings
from integration_core.models import Change
from integration_core.ports import WriteRequest, WriteResult

__all__ = [
    "API_VERSION",
    "COMPOSITE_LIMIT",
    "SALESFORCE",
    "SALESFORCE_MAPPINGS",
    "SalesforceAdapter",
    "SalesforceConfig",
    "SalesforceErrorMap",
    "soql_listing",
]

API_VERSION = "v61.0"
DATA_PATH = f"/services/data/{API_VERSION}"
# Deleted rows stay in the Recycle Bin (and the delete log) for 15 days at most.
RETENTION = timedelta(days=15)
_SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted")
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Subrequests in one Composite call (resources_composite_composite_post.htm: "up to 25").
COMPOSITE_LIMIT = 25

# Task.Status picklist values of a default org (Setup > Task Fields > Status).
_TASK_STATUS = {
    "Not Started": "not_started",
    "In Progress": "in_progress",
    "Completed": "completed",
    "Waiting on someone else": "waiting",
    "Deferred": "deferred",
}


def _copies(fields: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"source": source, "canonical": name} for name, source in fields.items()]


_ADDRESS = ("street", "city", "postal_code", "region", "country")


def _address(prefix: str) -> dict[str, str]:
    parts = ("Street", "City", "PostalCode", "State", "Country")
    return {name: f"{prefix}{part}" for name, part in zip(_ADDRESS, parts, strict=True)}


SALESFORCE_MAPPINGS: Mapping[str, ObjectMapping] = register_default_mappings(
    "salesforce",
    [
        {
            "entity_type": "contact",
            "provider_object": "Contact",
            "fields": _copies(
                {
                    "first_name": "FirstName",
                    "last_name": "LastName",
                    "email": "Email",
                    "phone": "Phone",
                    "title": "Title",
                    **_address("Mailing"),
                }
            ),
        },
        {
            "entity_type": "company",
            "provider_object": "Account",
            "fields": [
                *_copies(
                    {
                        "name": "Name",
                        "website": "Website",
                        "phone": "Phone",
                        "industry": "Industry",
                        "description": "Description",
                        **_address("Billing"),
                    }
                ),
                {"source": "NumberOfEmployees", "canonical": "employees", "convert": "integer"},
                # Accounts have no domain field: the website's domain, read only.
                {
                    "source": "Website",
                    "canonical": "domain",
                    "convert": "domain",
                    "direction": "read",
                },
            ],
        },
        {
            "entity_type": "task",
            "provider_object": "Task",
            "fields": [
                *_copies({"title": "Subject", "description": "Description"}),
                {
                    "source": "Status",
                    "canonical": "status",
                    "convert": {"name": "enum", "options": {"values": _TASK_STATUS}},
                },
                {"source": "ActivityDate", "canonical": "due_date", "convert": "date"},
                # WhoId: the contact (or lead) the task is about. Read only: another
                # system's id means nothing here.
                {"source": "WhoId", "canonical": "related_id", "direction": "read"},
            ],
        },
    ],
)


def _soql_time(value: datetime) -> str:
    """A SOQL dateTime literal, whole seconds (floored: a window only grows)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_listing(sobject: str, fields: list[str], since: datetime | None) -> str:
    """The one query shape the adapter sends (the fake parses exactly this).

    Raises:
        PermanentError: a name that is not a Salesforce API name (a task's mapping
            override names the fields; nothing else may reach the query).
    """
    names = [sobject, *fields]
    bad = [name for name in names if not _API_NAME.fullmatch(name)]
    if bad:
        raise PermanentError(f"salesforce {sobject!r}: not API names: {bad}")
    selected = ", ".join(dict.fromkeys([*_SYSTEM_FIELDS, *fields]))
    where = f" WHERE SystemModstamp >= {_soql_time(since)}" if since is not None else ""
    # Every part is an API name checked above or a formatted time: no injection.
    return f"SELECT {selected} FROM {sobject}{where} ORDER BY SystemModstamp, Id"  # noqa: S608


def _error_codes(body: Any) -> list[str]:
    """The `errorCode`s of Salesforce's error answer: `[{"message", "errorCode", "fields"}]`."""
    if not isinstance(body, list):
        return []
    return [str(e["errorCode"]) for e in body if isinstance(e, dict) and "errorCode" in e]


def _code(*codes: str) -> Any:
    return lambda body: any(code in codes for code in _error_codes(body))


class SalesforceErrorMap(ErrorMap):
    """The toolkit's map; the error text starts with the answer's `errorCode`s, which a
    cut-off body excerpt could lose."""

    def error_for(self, response: httpx.Response, body: Any, *, what: str) -> LockstepError | None:
        codes = _error_codes(body) if response.status_code >= 300 else []
        if codes:
            what = f"{what} [{', '.join(codes)}]"
        return super().error_for(response, body, what=what)


# Status codes: developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
# Error codes: the SOAP API's ExceptionCode and StatusCode lists.
_ERRORS = SalesforceErrorMap(
    (
        # The org's rolling 24-hour API quota (or its concurrent-request limit) is spent:
        # wait for it, do not mark the connection's credential bad.
        ErrorRule(
            Outcome.RETRYABLE, status=403, when=_code("REQUEST_LIMIT_EXCEEDED"), retry_after=300.0
        ),
        # A query locator lives about 15 minutes; a replication date outside what is kept.
        ErrorRule(
            Outcome.CURSOR_EXPIRED,
            status=(400, 499),
            when=_code("INVALID_QUERY_LOCATOR", "INVALID_REPLICATION_DATE"),
        ),
        # Another transaction holds the row: a transient lock, retried shortly.
        ErrorRule(
            Outcome.RETRYABLE, status=(400, 499), when=_code("UNABLE_TO_LOCK_ROW"), retry_after=2.0
        ),
        ErrorRule(Outcome.NOT_FOUND, status=(400, 499), when=_code("ENTITY_IS_DELETED")),
        # 300: an upsert's external id matches several records.
        ErrorRule(Outcome.CONFLICT, status=300),
    )
)


class SalesforceConfig(HttpConnectionConfig):
    """`instance_url`: the org's API host, `instance_url` in its OAuth token answer
    (`base_url` is accepted as its other name). `external_id_field`: an External ID field
    (e.g. a custom `Lockstep_Id__c`, unique, on each synced object) that idempotent creates
    upsert on; without it a create retried after a lost answer may create twice.
    """

    instance_url: HttpUrl | None = None
    external_id_field: str | None = Field(default=None, pattern=rf"^{_API_NAME.pattern}$")

    @model_validator(mode="after")
    def _has_host(self) -> SalesforceConfig:
        if self.instance_url is None and self.base_url is None:
            raise ValueError("instance_url is required (the OAuth token answer's instance_url)")
        return self


def _object(sobject: str) -> ObjectSpec:
    return ObjectSpec(
        path=f"{DATA_PATH}/sobjects/{sobject}",
        records_path="records",
        paginator=NextUrlPaginator("nextRecordsUrl"),
        cursor=ModifiedSince(
            "SystemModstamp", overlap=timedelta(minutes=2), retention=RETENTION, ordered=True
        ),
        record=RecordSpec(
            id="Id",
            modified_at="SystemModstamp",
            version="SystemModstamp",
            values="",
            deleted="IsDeleted",
        ),
        write=WriteSpec(body_key=None, concurrency=Concurrency.VERSION_COMPARE),
        page_size_param=None,
        max_page_size=2000,
    )


SALESFORCE = ProviderSpec(
    name="salesforce",
    objects={
        entity_type: _object(mapping.provider_object)
        for entity_type, mapping in SALESFORCE_MAPPINGS.items()
    },
    credential_types=frozenset(
        {
            CredentialType.OAUTH2_AUTHORIZATION_CODE,
            CredentialType.OAUTH2_JWT_BEARER,
            CredentialType.OAUTH2_CLIENT_CREDENTIALS,
        }
    ),
    # Resources by Version: a small authenticated answer.
    health_path=f"{DATA_PATH}/",
    # Enterprise Edition's floor: 100,000 requests per rolling 24 hours per org (more per
    # licence; a connection names its own through `rate_limits`). `Sforce-Limit-Info:
    # api-usage=n/m` on every answer feeds the limiter's headroom.
    budgets=(Budget("api", 100_000, 86_400.0),),
    errors=_ERRORS,
)


def _if_unmodified_since(version: str) -> str:
    """An HTTP date no earlier than `version` (rounded up to the second, so the version we
    saw itself never fails the check)."""
    seen = parse_time(version)
    whole = datetime.fromtimestamp(math.ceil(seen.timestamp()), tz=UTC)
    return format_datetime(whole, usegmt=True)


class SalesforceAdapter(DeclarativeAdapter):
    spec = SALESFORCE
    config_model = SalesforceConfig

    @classmethod
    def base_url(cls, config: Mapping[str, Any], *, instance_url: str | None = None) -> str:
        """The org's host its last token answer named, else the connection's config's."""
        validated = cls.validate_config(config)
        assert isinstance(validated, SalesforceConfig)  # noqa: S101 - config_model's type
        url = instance_url or validated.instance_url or validated.base_url
        if url is None:  # the model refuses this; kept for mypy
            raise ConnectionConfigurationError("salesforce connection config: no instance_url")
        return str(url)

    @property
    def _config(self) -> SalesforceConfig:
        assert isinstance(self.config, SalesforceConfig)  # noqa: S101 - config_model's type
        return self.config

    # -- reads ---------------------------------------------------------------------------

    def list_request(
        self, entity_type: str, obj: ObjectSpec, state: CursorState, page_size: int
    ) -> PageRequest:
        """The listing's SOQL (or its next page); an incremental listing first checks
        that the delete log still covers its window."""
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        if state.page is not None:
            return PageRequest(url=str(state.page), headers=headers)
        since = None if state.full or state.since is None else state.since.modified_at
        if since is not None:
            self._check_deletes_kept(entity_type, obj, since, state.started)
        mapping = self.field_map(entity_type)
        soql = soql_listing(mapping.provider_object, source_fields(mapping), since)
        return PageRequest(url=f"{DATA_PATH}/queryAll", params={"q": soql}, headers=headers)

    def _check_deletes_kept(
        self, entity_type: str, obj: ObjectSpec, since: datetime, until: datetime | None
    ) -> None:
        """CursorExpiredError when deletes since `since` may already be purged: the
        resource ignores seconds, and names the oldest delete it still knows."""
        start = since.astimezone(UTC).replace(second=0, microsecond=0)
        end = max(until or start, start + timedelta(minutes=1))
        what = f"salesforce {entity_type} deleted"
        _, body = self._send(
            "GET",
            f"{obj.path}/deleted/",
            what=what,
            params={"start": start.isoformat(), "end": end.replace(microsecond=0).isoformat()},
        )
        earliest = self._select(body, "earliestDateAvailable", what=what)
        try:
            kept_from = parse_time(earliest) if earliest is not None else None
        except ValueError as err:
            raise CursorExpiredError(f"{what}: unreadable earliestDateAvailable") from err
        if kept_from is not None and kept_from > start:
            raise CursorExpiredError(
                f"{what}: deletes kept from {kept_from.isoformat()}, after the cursor's "
                f"{start.isoformat()}"
            )

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
        """Create, or update only the version the caller saw.

        Idempotent creates upsert on the connection's `external_id_field` (`PATCH
        sobjects/{type}/{field}/{key}`: 201 made it, 200 found the record the first call
        made). Salesforce has no idempotency header, and a search before the create would
        race the first call's commit, so without that field a create is a plain POST.

        Concurrency: Salesforce checks If-Match only on Account rows, and no conditional
        header on DELETE; If-Unmodified-Since works on every sObject row but compares
        whole seconds of LastModifiedDate (developer.salesforce.com/docs/atlas.en-us.
        api_rest.meta/api_rest/intro_rest_conditional_requests.htm). So an update first
        reads `SystemModstamp` and refuses a version other than the expected one
        (exact to the millisecond), then sends If-Unmodified-Since, which makes Salesforce
        itself refuse (412) an edit made in a later second between that read and the
        write. Deletes compare the version only.
        """
        obj = self._object(entity_type)
        what = f"salesforce {entity_type}"
        if external_id is None:
            field = self._config.external_id_field
            if idempotency_key is not None and field is not None:
                url = f"{obj.path}/{field}/{quote(idempotency_key, safe='')}"
                response, body = self._send("PATCH", url, what=f"{what} create", json=dict(values))
            else:
                response, body = self._send(
                    "POST", obj.path, what=f"{what} create", json=dict(values)
                )
            new_id = self._select(body, "id", what=f"{what} create")
            return self._written(entity_type, str(new_id), created=response.status_code == 201)
        headers = self._precondition(entity_type, external_id, expected_version)
        if expected_version is not None:
            headers["If-Unmodified-Since"] = _if_unmodified_since(expected_version)
        self._send(
            "PATCH",
            f"{obj.path}/{quote(external_id, safe='')}",
            what=f"{what} update",
            json=dict(values),
            headers=headers,
        )
        return self._written(entity_type, external_id, created=False)

    def _written(self, entity_type: str, external_id: str, *, created: bool) -> WriteResult:
        """The record's version after a write, read back (writes do not answer it)."""
        current = self.read_record(entity_type, external_id)
        if current is None:
            raise NotFoundError(f"salesforce {entity_type} {external_id}: gone after the write")
        return WriteResult.of(current, created=created)

    # -- batched writes (Composite) ------------------------------------------------------

    def write_batch(
        self, entity_type: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult | LockstepError]:
        """`write` for each request, as subrequests of `POST composite` with `allOrNone:
        false` (each succeeds or fails alone), 25 to a call and one API call each
        (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
        resources_composite_composite_post.htm). Per 25: one call reads the current
        versions the updates expect, one writes (the same method, URL, body and
        If-Unmodified-Since as `write`), one reads the versions written. Each subrequest's
        `httpStatusCode` and body go through the error map as a single write's answer
        would (resources_composite_subrequest_result.htm); a call that fails whole with a
        retryable or auth error is the outcome of its requests and of all not yet sent.
        """
        obj = self._object(entity_type)
        outcomes: list[WriteResult | LockstepError] = []
        stopped: LockstepError | None = None
        for start in range(0, len(requests), COMPOSITE_LIMIT):
            chunk = requests[start : start + COMPOSITE_LIMIT]
            if stopped is None:
                try:
                    outcomes.extend(self._write_chunk(entity_type, obj, chunk))
                    continue
                except (RetryableError, AuthError) as err:
                    stopped = err
                except LockstepError as err:  # a malformed answer: this chunk only
                    outcomes.extend(err for _ in chunk)
                    continue
            outcomes.extend(stopped for _ in chunk)
        return outcomes

    batch_limit = COMPOSITE_LIMIT

    def batch_calls(self, entity_type: str, requests: Sequence[WriteRequest]) -> int:
        """Per 25 requests: a read of the versions updates expect (if any), the write, and a
        read of the versions written."""
        calls = 0
        for start in range(0, len(requests), COMPOSITE_LIMIT):
            chunk = requests[start : start + COMPOSITE_LIMIT]
            calls += 2 + any(r.external_id and r.expected_version for r in chunk)
        return calls

    def _write_chunk(
        self, entity_type: str, obj: ObjectSpec, chunk: Sequence[WriteRequest]
    ) -> list[WriteResult | LockstepError]:
        what = f"salesforce {entity_type}"
        done: dict[int, WriteResult | LockstepError] = {}
        checked = [i for i, r in enumerate(chunk) if r.external_id and r.expected_version]
        read = self._composite(
            [("GET", self._row_url(obj, str(chunk[i].external_id)), None, {}) for i in checked],
            what=f"{what} read",
        )
        for i, answer in zip(checked, read, strict=True):
            try:
                current = self._composite_record(entity_type, answer, what=f"{what} read")
            except LockstepError as err:
                done[i] = err
                continue
            if current is None:
                done[i] = NotFoundError(f"{what} {chunk[i].external_id} not found")
            elif current.version != chunk[i].expected_version:
                done[i] = PreconditionFailedError(
                    f"{what} {chunk[i].external_id}: version is {current.version}, "
                    f"not {chunk[i].expected_version}"
                )
        sent = [i for i in range(len(chunk)) if i not in done]
        written = self._composite(
            [self._subrequest(obj, chunk[i]) for i in sent], what=f"{what} write"
        )
        ids: dict[int, tuple[str, bool]] = {}
        for i, answer in zip(sent, written, strict=True):
            if isinstance(answer, LockstepError):
                done[i] = answer
                continue
            status, body = answer
            external_id = chunk[i].external_id
            if external_id is not None:
                ids[i] = (external_id, False)
            elif not isinstance(body, dict) or not isinstance(body.get("id"), str):
                done[i] = MalformedAnswerError(f"{what} create: malformed answer: no id")
            else:
                ids[i] = (body["id"], status == 201)
        after = self._composite(
            [("GET", self._row_url(obj, ids[i][0]), None, {}) for i in ids], what=f"{what} read"
        )
        for i, answer in zip(ids, after, strict=True):
            try:
                current = self._composite_record(entity_type, answer, what=f"{what} read")
            except LockstepError as err:
                done[i] = err
                continue
            external_id, created = ids[i]
            done[i] = (
                NotFoundError(f"{what} {external_id}: gone after the write")
                if current is None
                else WriteResult.of(current, created=created)
            )
        return [done[i] for i in range(len(chunk))]

    @staticmethod
    def _row_url(obj: ObjectSpec, external_id: str) -> str:
        return obj.read_path.format(path=obj.path, id=quote(external_id, safe=""))

    def _subrequest(
        self, obj: ObjectSpec, request: WriteRequest
    ) -> tuple[str, str, dict[str, Any], dict[str, str]]:
        """The method, URL, body and headers `write` would send for `request`."""
        values = dict(request.values)
        if request.external_id is not None:
            headers = (
                {"If-Unmodified-Since": _if_unmodified_since(request.expected_version)}
                if request.expected_version is not None
                else {}
            )
            return "PATCH", self._row_url(obj, request.external_id), values, headers
        field = self._config.external_id_field
        if request.idempotency_key is not None and field is not None:
            return (
                "PATCH",
                f"{obj.path}/{field}/{quote(request.idempotency_key, safe='')}",
                values,
                {},
            )
        return "POST", obj.path, values, {}

    def _composite(
        self,
        subrequests: Sequence[tuple[str, str, dict[str, Any] | None, dict[str, str]]],
        *,
        what: str,
    ) -> list[tuple[int, Any] | LockstepError]:
        """Each subrequest's (status, body), or the error its answer means alone.

        Raises:
            RetryableError, AuthError: the call failed whole (a spent quota, a bad session).
            MalformedAnswerError: an answer that is not one result per subrequest.
        """
        if not subrequests:
            return []
        composite: list[dict[str, Any]] = []
        for k, (method, url, body, headers) in enumerate(subrequests):
            # referenceId: letters, digits and underscores only.
            sub: dict[str, Any] = {"method": method, "url": url, "referenceId": f"r{k}"}
            if body is not None:
                sub["body"] = body
            if headers:
                sub["httpHeaders"] = headers
            composite.append(sub)
        try:
            _, answer = self._send(
                "POST",
                f"{DATA_PATH}/composite",
                what=f"{what} composite",
                json={"allOrNone": False, "compositeRequest": composite},
            )
        except (RetryableError, AuthError):
            raise
        except LockstepError as err:
            # Refused whole (a malformed call): every subrequest carries it.
            return [err for _ in subrequests]
        results = answer.get("compositeResponse") if isinstance(answer, dict) else None
        by_ref = {r.get("referenceId"): r for r in results or [] if isinstance(r, dict)}
        out: list[tuple[int, Any] | LockstepError] = []
        for k in range(len(subrequests)):
            result = by_ref.get(f"r{k}")
            status = result.get("httpStatusCode") if result is not None else None
            if result is None or not isinstance(status, int):
                raise MalformedAnswerError(f"{what} composite: malformed answer: no result r{k}")
            answered = result.get("httpHeaders")
            response = httpx.Response(
                status, headers=answered if isinstance(answered, dict) else {}
            )
            error = self.spec.errors.error_for(response, result.get("body"), what=what)
            out.append(error if error is not None else (status, result.get("body")))
        return out

    def _composite_record(
        self, entity_type: str, answer: tuple[int, Any] | LockstepError, *, what: str
    ) -> Change | None:
        """A GET subrequest's record (None: not found); its other errors are raised."""
        if isinstance(answer, NotFoundError):
            return None
        if isinstance(answer, LockstepError):
            raise answer
        try:
            return self.parse_record(entity_type, answer[1])
        except RecordError as err:
            raise MalformedAnswerError(f"{what}: {err}") from err
