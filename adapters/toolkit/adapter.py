"""`DeclarativeAdapter`: runs a `ProviderSpec` as an `IntegrationAdapter`.

The adapter owns what every provider shares: sending requests and mapping their errors,
the listing loop (cursor strategy, paginator, loop detection), parsing records with errors
that name the provider, object, record and path, and writes with idempotency and
optimistic concurrency. A provider that differs in one place overrides one hook:
`list_request`, `read_params`, `parse_record`, `written` or `parse_webhook`. A provider
whose API registers webhook endpoints says how in its spec's `subscription`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Self
from urllib.parse import quote

import httpx
import orjson
from pydantic import ValidationError

from adapters.toolkit.cursors import CursorState
from adapters.toolkit.errors import CursorExpiredError, RefreshingAuth, TokenRefusedError
from adapters.toolkit.paginators import Answer, PageRequest, Token
from adapters.toolkit.selectors import PathError, select
from adapters.toolkit.spec import (
    Concurrency,
    HttpConnectionConfig,
    ObjectSpec,
    ProviderSpec,
    RecordProblem,
    SubscriptionSpec,
)
from integration_core.clock import utcnow
from integration_core.errors import (
    AuthError,
    ConnectionConfigurationError,
    LockstepError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
)
from integration_core.mapping import ObjectMapping, default_mapping
from integration_core.models import Change, Connection
from integration_core.ports.adapter import (
    ChangeNotice,
    ChangePage,
    RejectedRecord,
    WriteRequest,
    WriteResult,
)
from integration_core.ports.oauth import OAuthSpec
from integration_core.ratelimit import Limit, connection_key

__all__ = ["DeclarativeAdapter", "MalformedAnswerError", "PaginationLoopError", "RecordError"]

log = logging.getLogger(__name__)


class MalformedAnswerError(PermanentError):
    """The provider answered something that is not what its API describes."""


class PaginationLoopError(PermanentError):
    """The provider sent a page token it had already sent in this listing."""


class RecordError(PermanentError):
    """One listed record cannot be read; it is rejected and the page goes on."""

    def __init__(self, message: str, *, external_id: str | None) -> None:
        super().__init__(message)
        self.external_id = external_id


class DeclarativeAdapter:
    """One connection to a provider described by `spec`."""

    spec: ClassVar[ProviderSpec]
    config_model: ClassVar[type[HttpConnectionConfig]] = HttpConnectionConfig
    # The spec's OAuth endpoints, where the connect flow looks for them (ports/oauth.py).
    oauth: ClassVar[OAuthSpec | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in vars(cls):
            cls.oauth = cls.spec.oauth

    def __init__(self, connection: Connection, *, client: httpx.Client) -> None:
        self._connection = connection
        self.config = self.validate_config(connection.config)
        self.client = client
        credential_type = getattr(client.auth, "credential_type", None)
        if credential_type is not None and credential_type not in self.spec.credential_types:
            raise ConnectionConfigurationError(
                f"{self.spec.name} does not accept {credential_type} credentials; it takes "
                f"{sorted(self.spec.credential_types)}"
            )
        self._seen_pages: dict[str, set[str]] = {}
        self._readers = {kind: obj.record.read for kind, obj in self.spec.objects.items()}

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> HttpConnectionConfig:
        try:
            return cls.config_model.model_validate(dict(config))
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
                for e in err.errors(include_input=False, include_url=False)
            )
            raise ConnectionConfigurationError(
                f"{cls.spec.name} connection config: {problems}"
            ) from err

    @classmethod
    def base_url(cls, config: Mapping[str, Any], *, instance_url: str | None = None) -> str:
        """The config's `base_url` or the spec's; a provider whose token answers name its
        API host (`instance_url`) overrides this."""
        validated = cls.validate_config(config)
        url = str(validated.base_url) if validated.base_url is not None else cls.spec.base_url
        if not url:
            raise ConnectionConfigurationError(
                f"{cls.spec.name} connection config: base_url is required"
            )
        return url

    @property
    def connection(self) -> Connection:
        return self._connection

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @classmethod
    def field_map(cls, entity_type: str) -> ObjectMapping:
        """The default mapping the provider's module registered for `entity_type`."""
        cls._object(entity_type)
        return default_mapping(cls.spec.name, entity_type)

    def rate_limits(self) -> list[Limit]:
        """This connection's budgets of every call: its config's `rate_limits`, else the
        provider's (those not scoped to some requests)."""
        prefix = connection_key(self.connection.tenant_id, self.connection.id)
        scoped = {b.bucket for b in self.spec.budgets if b.path_suffix is not None}
        if self.config.rate_limits is not None:
            return [
                Limit(
                    f"{prefix}:{b.bucket}", b.max_requests, b.window_seconds, algorithm=b.algorithm
                )
                for b in self.config.rate_limits
                if b.bucket not in scoped
            ]
        return [
            Limit(f"{prefix}:{b.bucket}", b.max_requests, b.window_seconds)
            for b in self.spec.budgets
            if b.path_suffix is None
        ]

    def request_limits(self, method: str, path: str) -> list[Limit]:
        """The budgets one request spends as it is sent: the provider's budgets scoped to
        its path (a config `rate_limits` entry of the same bucket overrides one)."""
        overrides = {b.bucket: b for b in self.config.rate_limits or []}
        prefix = connection_key(self.connection.tenant_id, self.connection.id)
        limits = []
        for budget in self.spec.budgets:
            if budget.path_suffix is None or not path.endswith(budget.path_suffix):
                continue
            chosen = overrides.get(budget.bucket)
            limits.append(
                Limit(
                    f"{prefix}:{budget.bucket}",
                    chosen.max_requests if chosen else budget.max_requests,
                    chosen.window_seconds if chosen else budget.window_seconds,
                    algorithm=chosen.algorithm if chosen else "exact",
                )
            )
        return limits

    # -- reads ---------------------------------------------------------------------------

    def read_changes(self, entity_type: str, cursor: str | None, *, page_size: int) -> ChangePage:
        obj = self._object(entity_type)
        state = CursorState.decode(cursor)
        seen = self._seen_pages.setdefault(entity_type, set())
        if not state.listing:
            seen.clear()
            state = obj.cursor.start(state, now=utcnow())
        size = max(1, min(page_size, obj.max_page_size))
        what = f"{self.spec.name} {entity_type} list"
        try:
            response, body = self._send_request(
                self.list_request(entity_type, obj, state, size), what=what
            )
        except CursorExpiredError:
            # A watermark, sync token or page token the provider no longer honours: rescan
            # from the start (delete-safe). Only a rescan's own first page has no way back.
            if state.full and not state.listing:
                raise
            seen.clear()
            state = obj.cursor.expired(state, now=utcnow())
            response, body = self._send_request(
                self.list_request(entity_type, obj, state, size), what=what
            )
        rows = self._select(body, obj.records_path, what=what)
        if not isinstance(rows, list):
            raise MalformedAnswerError(
                f"{what}: malformed answer: {obj.records_path!r} is a {type(rows).__name__}, "
                "not a list"
            )
        changes, rejected = self._parse_rows(entity_type, rows)
        try:
            next_page = obj.paginator.next_token(
                Answer(response, body, state.page, len(rows), size)
            )
        except (PathError, TypeError) as err:
            raise MalformedAnswerError(f"{what}: malformed answer: {err}") from err
        self._check_loop(seen, state.page, next_page, what=what)
        state = obj.cursor.after_page(state, changes, next_page, body)
        return ChangePage(
            changes=changes,
            cursor=state.encode(),
            has_more=next_page is not None,
            rejected=rejected,
        )

    def list_request(
        self, entity_type: str, obj: ObjectSpec, state: CursorState, page_size: int
    ) -> PageRequest:
        """The request for the page `state` is at (hook: e.g. a search body)."""
        params = dict(obj.list_params)
        if obj.page_size_param:
            params[obj.page_size_param] = page_size
        request = obj.cursor.request(
            state, PageRequest(url=obj.path, method=obj.list_method, params=params)
        )
        if state.page is not None:
            request = obj.paginator.apply(request, state.page)
        return request

    def read_record(self, entity_type: str, external_id: str) -> Change | None:
        obj = self._object(entity_type)
        url = obj.read_path.format(path=obj.path, id=quote(external_id, safe=""))
        what = f"{self.spec.name} {entity_type} read"
        try:
            _, body = self._send("GET", url, what=what, params=self.read_params(entity_type))
        except NotFoundError:
            return None
        try:
            return self.parse_record(entity_type, body)
        except RecordError as err:
            raise MalformedAnswerError(str(err)) from err

    def first_record(self, entity_type: str, body: Any, path: str, *, what: str) -> Change | None:
        """The first record listed at `path` in a lookup's answer (None: nothing matched)."""
        rows = self._select(body, path, what=what)
        if not isinstance(rows, list) or not rows:
            return None
        try:
            return self.parse_record(entity_type, rows[0])
        except RecordError as err:
            raise MalformedAnswerError(str(err)) from err

    def read_params(self, entity_type: str) -> dict[str, Any]:
        """Query parameters of a read by id (hook: e.g. the properties to return)."""
        return {}

    def parse_record(self, entity_type: str, raw: Any) -> Change:
        """One listed record as a Change (hook). Raises RecordError naming the path."""
        try:
            return self._reader(entity_type)(raw)
        except RecordProblem as err:
            raise self._record_error(entity_type, err) from err

    def _parse_rows(
        self, entity_type: str, rows: list[Any]
    ) -> tuple[list[Change], list[RejectedRecord]]:
        """A page's records as Changes, each one that cannot be read rejected with its
        reason. Without a `parse_record` hook the spec's reader is called straight away:
        one call less for every record listed."""
        changes: list[Change] = []
        rejected: list[RejectedRecord] = []
        read: Callable[[Any], Change] = (
            self._reader(entity_type)  # raises RecordProblem
            if type(self).parse_record is DeclarativeAdapter.parse_record
            else partial(self.parse_record, entity_type)  # raises RecordError
        )
        append = changes.append
        for raw in rows:
            try:
                append(read(raw))
            except (RecordProblem, RecordError) as problem:
                err = (
                    self._record_error(entity_type, problem)
                    if isinstance(problem, RecordProblem)
                    else problem
                )
                rejected.append(RejectedRecord(err.external_id, str(err), raw))
        return changes, rejected

    def _reader(self, entity_type: str) -> Callable[[Any], Change]:
        return self._readers.get(entity_type) or self._object(entity_type).record.read

    def _record_error(self, entity_type: str, problem: RecordProblem) -> RecordError:
        where = f"{self.spec.name} {entity_type}"
        if problem.external_id is not None:
            where = f"{where} {problem.external_id}"
        return RecordError(f"{where}: {problem}", external_id=problem.external_id)

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
        obj = self._object(entity_type)
        if external_id is None:
            return self._create(obj, entity_type, values, idempotency_key)
        headers = self._precondition(entity_type, external_id, expected_version)
        method, template = obj.write.update
        url = template.format(path=obj.path, id=quote(external_id, safe=""))
        return self._write(obj, entity_type, "update", method, url, values, headers)

    # Records one `write_batch` takes: written one by one, each its own call (a provider
    # with batch endpoints overrides all three).
    batch_limit = 10

    def batch_calls(self, entity_type: str, requests: Sequence[WriteRequest]) -> int:
        return len(requests)

    def write_batch(
        self, entity_type: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult | LockstepError]:
        """One `write` per request (a provider with batch endpoints overrides this)."""
        return self.one_by_one(entity_type, requests)

    def one_by_one(
        self, entity_type: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult | LockstepError]:
        """Each request alone; after an error that stops the connection (retryable,
        auth), the rest are not sent and carry that error."""
        outcomes: list[WriteResult | LockstepError] = []
        stopped: LockstepError | None = None
        for request in requests:
            if stopped is not None:
                outcomes.append(stopped)
                continue
            try:
                outcomes.append(
                    self.write(
                        entity_type,
                        request.external_id,
                        request.values,
                        expected_version=request.expected_version,
                        idempotency_key=request.idempotency_key,
                    )
                )
            except (RetryableError, AuthError) as err:
                stopped = err
                outcomes.append(err)
            except LockstepError as err:
                outcomes.append(err)
        return outcomes

    def _create(
        self,
        obj: ObjectSpec,
        entity_type: str,
        values: Mapping[str, Any],
        idempotency_key: str | None,
    ) -> WriteResult:
        spec = obj.write
        headers: dict[str, str] = {}
        if idempotency_key and spec.upsert_field:
            values = {**values, spec.upsert_field: idempotency_key}
            method, template = spec.upsert
            url = template.format(
                path=obj.path, field=spec.upsert_field, key=quote(idempotency_key, safe="")
            )
        else:
            method, url = spec.create[0], spec.create[1].format(path=obj.path)
            if idempotency_key and spec.idempotency_header:
                headers[spec.idempotency_header] = idempotency_key
        return self._write(obj, entity_type, "create", method, url, values, headers)

    def _write(
        self,
        obj: ObjectSpec,
        entity_type: str,
        operation: str,
        method: str,
        url: str,
        values: Mapping[str, Any],
        headers: Mapping[str, str],
    ) -> WriteResult:
        key = obj.write.body_key
        payload = {key: dict(values)} if key else dict(values)
        if operation == "create":
            payload = {**obj.write.create_body, **payload}
        response, body = self._send(
            method,
            url,
            what=f"{self.spec.name} {entity_type} {operation}",
            json=payload,
            headers=headers,
        )
        new_id, version = self.written(entity_type, response, body)
        status = obj.write.created_status
        created = operation == "create" and (status is None or response.status_code == status)
        return WriteResult(
            external_id=new_id,
            version=version,
            created=created,
            modified_at=self.written_at(entity_type, body),
        )

    def delete(
        self, entity_type: str, external_id: str, *, expected_version: str | None = None
    ) -> None:
        obj = self._object(entity_type)
        headers = self._precondition(entity_type, external_id, expected_version)
        method, template = obj.write.delete
        url = template.format(path=obj.path, id=quote(external_id, safe=""))
        self._send(method, url, what=f"{self.spec.name} {entity_type} delete", headers=headers)

    def written(self, entity_type: str, response: httpx.Response, body: Any) -> tuple[str, str]:
        """(external id, version) from a write's answer (hook)."""
        try:
            change = self.parse_record(entity_type, body)
        except RecordError as err:
            raise MalformedAnswerError(f"malformed answer to a write: {err}") from err
        return change.external_id, change.version

    def written_at(self, entity_type: str, body: Any) -> datetime | None:
        """The record's modification time from a write's answer, None if it has none (hook)."""
        spec = self._object(entity_type).record
        try:
            return spec.time(select(body, spec.modified_at))
        except (PathError, ValueError, TypeError):
            return None

    def _precondition(
        self, entity_type: str, external_id: str, expected_version: str | None
    ) -> dict[str, str]:
        """If-Match headers, or a read that refuses a stale write before it is sent."""
        if expected_version is None:
            return {}
        concurrency = self._object(entity_type).write.concurrency
        if concurrency is Concurrency.IF_MATCH:
            return {"If-Match": expected_version}
        if concurrency is Concurrency.VERSION_COMPARE:
            current = self.read_record(entity_type, external_id)
            if current is None:
                raise NotFoundError(f"{self.spec.name} {entity_type} {external_id} not found")
            if current.version != expected_version:
                raise PreconditionFailedError(
                    f"{self.spec.name} {entity_type} {external_id}: version is "
                    f"{current.version}, not {expected_version}"
                )
        return {}

    # -- health and webhooks -------------------------------------------------------------

    def health(self) -> None:
        # An authenticated call, so that a bad credential shows up as unhealthy.
        self._send("GET", self.spec.health_path, what=f"{self.spec.name} health")

    @classmethod
    def parse_webhook(cls, *, headers: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        """Change notices in a verified delivery (hook; the default takes none)."""
        raise PermanentError(f"{cls.spec.name} does not accept webhooks")

    # -- webhook subscriptions -------------------------------------------------------------

    @property
    def webhook_provider(self) -> str | None:
        subscription = self.spec.subscription
        return subscription.provider if subscription is not None else None

    def subscribe_webhook(self, *, url: str, secret: str, entity_types: Sequence[str]) -> str:
        """Register `url` at the provider, signed with `secret`, for `entity_types` (empty:
        every type the provider announces); the subscription's id."""
        spec = self._subscription()
        unknown = sorted(set(entity_types) - set(spec.objects))
        if unknown:
            raise PermanentError(f"{self.spec.name} webhooks do not announce {unknown}")
        objects = [spec.objects[t] for t in entity_types or spec.objects]
        body = {spec.url_field: url, spec.secret_field: secret, spec.objects_field: objects}
        what = f"{self.spec.name} webhook subscription"
        _, answer = self._send("POST", spec.path, what=what, json=body)
        try:
            found = select(answer, spec.id_path)
        except PathError as err:
            raise MalformedAnswerError(f"{what}: no id at {spec.id_path!r}") from err
        if isinstance(found, bool) or not isinstance(found, str | int) or found == "":
            raise MalformedAnswerError(f"{what}: no id at {spec.id_path!r}")
        return str(found)

    def rotate_webhook_secret(self, subscription_id: str, secret: str) -> None:
        spec = self._subscription()
        url = f"{spec.path}/{quote(subscription_id, safe='')}"
        what = f"{self.spec.name} webhook secret rotation"
        self._send("PATCH", url, what=what, json={spec.secret_field: secret})

    def unsubscribe_webhook(self, subscription_id: str) -> None:
        spec = self._subscription()
        url = f"{spec.path}/{quote(subscription_id, safe='')}"
        self._send("DELETE", url, what=f"{self.spec.name} webhook unsubscribe")

    @classmethod
    def _subscription(cls) -> SubscriptionSpec:
        if cls.spec.subscription is None:
            raise PermanentError(f"{cls.spec.name} has no API to register webhooks")
        return cls.spec.subscription

    # -- plumbing ------------------------------------------------------------------------

    @classmethod
    def _object(cls, entity_type: str) -> ObjectSpec:
        try:
            return cls.spec.objects[entity_type]
        except KeyError as err:
            raise PermanentError(f"{cls.spec.name} has no {entity_type!r} objects") from err

    def _send_request(self, request: PageRequest, *, what: str) -> tuple[httpx.Response, Any]:
        return self._send(
            request.method,
            request.url,
            what=what,
            params=request.params,
            json=request.json,
            headers=request.headers or None,
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        refreshed: bool = False,
    ) -> tuple[httpx.Response, Any]:
        """Send, map the answer's status and body through the error map, return the body.
        A token refused (other than by a 401, which the auth handles) is refreshed once and
        the call sent again."""
        try:
            # No params at all (not an empty dict): httpx would drop a next URL's own query.
            response = self.client.request(
                method, url, params=dict(params) if params else None, json=json, headers=headers
            )
        except httpx.TimeoutException as err:
            raise RetryableError(f"{what}: timed out") from err
        except httpx.TransportError as err:
            raise RetryableError(f"{what}: {type(err).__name__}") from err
        body, problem = _json_body(response)
        error = self.spec.errors.error_for(response, body, what=what)
        if error is not None:
            auth = self.client.auth
            if (
                isinstance(error, TokenRefusedError)
                and not refreshed
                and isinstance(auth, RefreshingAuth)
                and auth.refused()
            ):
                return self._send(
                    method,
                    url,
                    what=what,
                    params=params,
                    json=json,
                    headers=headers,
                    refreshed=True,
                )
            raise error
        if problem is not None:
            raise MalformedAnswerError(f"{what}: malformed answer: {problem}")
        return response, body

    @staticmethod
    def _select(body: Any, path: str, *, what: str) -> Any:
        try:
            return select(body, path)
        except PathError as err:
            raise MalformedAnswerError(f"{what}: malformed answer: {err}") from err

    @staticmethod
    def _check_loop(
        seen: set[str], current: Token | None, next_page: Token | None, *, what: str
    ) -> None:
        if current is not None:
            seen.add(json.dumps(current, sort_keys=True))
        if next_page is None:
            return
        key = json.dumps(next_page, sort_keys=True)
        if key in seen:
            raise PaginationLoopError(
                f"{what}: pagination loop: the provider sent page token {key[:80]} again"
            )


def _json_body(response: httpx.Response) -> tuple[Any, str | None]:
    """The parsed body (None if empty) and, when it is not JSON, what it is instead.

    orjson first: parsing is most of a listing's CPU, and orjson reads UTF-8 JSON several
    times faster than `json`, into the same values, except integers past 64 bits, which it
    reads as floats (as JavaScript does; our providers send ids past 2**53 as strings).
    What only `json` reads (UTF-16 or 32, a byte order mark, NaN, numbers past a double)
    goes to `response.json()` as before.
    """
    if not response.content:
        return None, None
    try:
        return orjson.loads(response.content), None
    except orjson.JSONDecodeError:
        pass
    try:
        return response.json(), None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        return None, f"not JSON ({kind}, {len(response.content)} bytes: {err})"
