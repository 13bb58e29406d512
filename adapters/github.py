"""GitHub issues <-> tasks, one repository per connection, as a toolkit spec plus hooks.

Reads list `GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc&since=`
(docs.github.com/rest/issues/issues#list-repository-issues: `since` is "updated at or
after"), 100 per page, following the `Link` header's `rel="next"`; pull requests, which
that endpoint lists too (they carry a `pull_request` key), are left out. The watermark is
the greatest `updated_at` read, minus a two-minute overlap. A listing that ended in one page
keeps that page's ETag in the cursor, and the next listing's first request is conditional
(If-None-Match): an idle poll answers 304, which does not count against GitHub's rate limit
(docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-
conditional-requests-if-appropriate), and the cursor stays as it was.

Records: the external id is the issue's `number`: the REST API reads and writes an issue by
its number within the repository and has no route by the global `id`, and a number is never
reused. GitHub has no issue delete in REST: a task deleted in the hub closes its issue as
"not planned", and an issue closed as not planned is a tombstone. An issue deleted (by an
admin) or transferred to another repository answers 410 / 301 by number: not found, so a
webhook notice about it becomes a tombstone. Versions are a hash of the synced fields and
`updated_at`, whose one-second resolution alone would hide a second edit within a second;
updates read the issue first and refuse a stale version (GitHub takes no If-Match).

Creates: GitHub has no idempotency key, so a create carries `<!-- lockstep:KEY -->` at the
end of its body (invisible when rendered) and first looks for that mark among the 100
issues created last: a create retried after a lost answer finds its issue instead of
making a second. The mark is not part of the synced description.

Limits (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api): 5,000
requests an hour per token or installation; secondary limits (content creation: 80 a
minute, counted here against every call, reads being far cheaper in calls); a 403 or 429
with Retry-After, or with `x-ratelimit-remaining: 0`, is a rate limit, not an auth error,
waiting at least a minute when no header says how long.

Webhooks (docs.github.com/webhooks/webhook-events-and-payloads#issues): `issues` events
become thin task notices (`deleted` and `transferred` delete, every other action upserts),
`ping` and other events none. Auth: a bearer token (a PAT) or a GitHub App installation
(the credential service buys installation tokens with the app's JWT).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

import httpx
from pydantic import Field

from adapters.toolkit import (
    Budget,
    Concurrency,
    CursorState,
    DeclarativeAdapter,
    ErrorMap,
    ErrorRule,
    HttpConnectionConfig,
    LinkHeaderPaginator,
    MalformedAnswerError,
    ModifiedSince,
    ObjectSpec,
    Outcome,
    PageRequest,
    ProviderSpec,
    RecordError,
    RecordSpec,
    WriteSpec,
    webhook_json,
    webhook_notice,
)
from adapters.toolkit.spec import parse_time
from integration_core.credentials.types import CredentialType
from integration_core.errors import PermanentError
from integration_core.mapping import ObjectMapping, register_default_mappings
from integration_core.models import Change, Connection
from integration_core.ports import ChangeNotice, ChangePage, WriteResult

__all__ = ["GITHUB", "GITHUB_MAPPINGS", "GitHubAdapter", "GitHubConfig"]

API_URL = "https://api.github.com"
_MARK = re.compile(r"\s*<!-- lockstep:([^>\s]+) -->\s*$")
_NAME = r"^[A-Za-z0-9_.-]{1,100}$"

GITHUB_MAPPINGS: Mapping[str, ObjectMapping] = register_default_mappings(
    "github",
    [
        {
            "entity_type": "task",
            "provider_object": "issues",
            "fields": [
                {"source": "title", "canonical": "title"},
                {"source": "body", "canonical": "description"},
                {
                    "source": "state",
                    "canonical": "status",
                    "convert": {
                        "name": "enum",
                        "options": {
                            "values": {"open": "not_started", "closed": "completed"},
                            "write": {
                                "not_started": "open",
                                "in_progress": "open",
                                "waiting": "open",
                                "deferred": "open",
                                "completed": "closed",
                            },
                        },
                    },
                },
                # Logins; a task's `mapping.lookups` can turn them into emails (`lookup`).
                {"source": "assignees", "canonical": "assignee", "convert": "first"},
                {"source": "labels", "canonical": "labels"},
                # The milestone's due date: read only (a write would pick a milestone).
                {
                    "source": "due_on",
                    "canonical": "due_date",
                    "convert": "date_from_datetime",
                    "direction": "read",
                },
            ],
        }
    ],
)


def _rate_limited(headers: httpx.Headers) -> bool:
    return "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"


GITHUB = ProviderSpec(
    name="github",
    objects={
        "task": ObjectSpec(
            path="/issues",
            records_path="",
            paginator=LinkHeaderPaginator(),
            cursor=ModifiedSince("since", overlap=timedelta(minutes=2)),
            record=RecordSpec(id="number", modified_at="updated_at", version=None, values=""),
            write=WriteSpec(
                update=("PATCH", "{path}/{id}"),
                body_key=None,
                created_status=201,
                concurrency=Concurrency.VERSION_COMPARE,
            ),
            list_params={"state": "all", "sort": "updated", "direction": "asc"},
            page_size_param="per_page",
            max_page_size=100,
        )
    },
    credential_types=frozenset({CredentialType.BEARER_TOKEN, CredentialType.GITHUB_APP}),
    health_path="/issues?per_page=1",  # a bad token or a missing repository shows
    budgets=(Budget("hour", 5000, 3600.0), Budget("content", 80, 60.0)),
    errors=ErrorMap(
        (
            ErrorRule(Outcome.RETRYABLE, status=403, when_headers=_rate_limited, retry_after=60),
            ErrorRule(Outcome.RETRYABLE, status=429, retry_after=60),
            # Moved: the issue was transferred to another repository.
            ErrorRule(Outcome.NOT_FOUND, status=301),
        )
    ),
    base_url=API_URL,
)


class GitHubConfig(HttpConnectionConfig):
    """`owner`/`repo`: the repository whose issues sync; `base_url`: the API root
    (GitHub Enterprise Server: `https://HOST/api/v3`)."""

    owner: str = Field(pattern=_NAME)
    repo: str = Field(pattern=_NAME)


class _NotModified(Exception):
    """A conditional listing answered 304: nothing changed since its ETag."""


class GitHubAdapter(DeclarativeAdapter):
    spec = GITHUB
    config_model = GitHubConfig

    def __init__(self, connection: Connection, *, client: httpx.Client) -> None:
        super().__init__(connection, client=client)
        # docs.github.com/rest/about-the-rest-api/api-versions
        client.headers["Accept"] = "application/vnd.github+json"
        client.headers["X-GitHub-Api-Version"] = "2022-11-28"
        self._if_none_match: str | None = None
        self._etag: str | None = None

    @classmethod
    def base_url(cls, config: Mapping[str, Any], *, instance_url: str | None = None) -> str:
        """The repository's API URL: paths (`/issues`) are relative to it."""
        validated = cls.validate_config(config)
        assert isinstance(validated, GitHubConfig)
        root = str(validated.base_url) if validated.base_url is not None else API_URL
        return f"{root.rstrip('/')}/repos/{validated.owner}/{validated.repo}"

    # -- reads ---------------------------------------------------------------------------

    def read_changes(self, entity_type: str, cursor: str | None, *, page_size: int) -> ChangePage:
        state = CursorState.decode(cursor)
        starting = not state.listing
        self._if_none_match = state.etag if starting else None
        self._etag = None
        try:
            page = super().read_changes(entity_type, cursor, page_size=page_size)
        except _NotModified:
            return ChangePage(changes=[], cursor=cursor or "", has_more=False)
        finally:
            self._if_none_match = None
        if starting and not page.has_more and self._etag:
            resting = replace(CursorState.decode(page.cursor), etag=self._etag)
            page = replace(page, cursor=resting.encode())
        return page

    def list_request(
        self, entity_type: str, obj: ObjectSpec, state: CursorState, page_size: int
    ) -> PageRequest:
        request = super().list_request(entity_type, obj, state, page_size)
        if self._if_none_match and not state.listing:
            request = replace(request, headers={"If-None-Match": self._if_none_match})
        return request

    def _send_request(self, request: PageRequest, *, what: str) -> tuple[httpx.Response, Any]:
        response, body = super()._send_request(request, what=what)
        if response.status_code == 304:
            raise _NotModified
        self._etag = response.headers.get("ETag")
        if isinstance(body, list):
            body = [row for row in body if not (isinstance(row, dict) and "pull_request" in row)]
        return response, body

    def parse_record(self, entity_type: str, raw: Any) -> Change:
        # `entity_type` is one the caller has already looked up (a listing, a read by id).
        if not isinstance(raw, dict):
            raise RecordError(
                f"github {entity_type}: record is a {type(raw).__name__}", external_id=None
            )
        number = raw.get("number")
        if isinstance(number, bool) or not isinstance(number, int):
            raise RecordError(
                f"github {entity_type}: record without an id at 'number'", external_id=None
            )
        external_id = str(number)
        try:
            modified_at = parse_time(raw.get("updated_at"))
            values = _values(raw)
        except (ValueError, TypeError, KeyError) as err:
            raise RecordError(
                f"github {entity_type} {external_id}: {err}", external_id=external_id
            ) from err
        deleted = raw.get("state") == "closed" and raw.get("state_reason") == "not_planned"
        # Every field is checked above: the Change does not check them again.
        return Change(external_id, _version(raw, values), modified_at, values, deleted)

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
        body = _request_body(values)
        if external_id is not None:
            return super().write(entity_type, external_id, body, expected_version=expected_version)
        if idempotency_key is not None:
            found = self._created_with(entity_type, idempotency_key)
            if found is not None:
                return WriteResult.of(found, created=False)
            mark = f"<!-- lockstep:{idempotency_key} -->"
            body["body"] = f"{body.get('body') or ''}\n\n{mark}".lstrip()
        state = body.pop("state", None)
        body.pop("state_reason", None)
        made = super().write(entity_type, None, body)
        if state == "closed":  # a create cannot close: close it next
            closed = super().write(entity_type, made.external_id, {"state": "closed"})
            return replace(closed, created=made.created)
        return made

    def delete(
        self, entity_type: str, external_id: str, *, expected_version: str | None = None
    ) -> None:
        """Close the issue as not planned (the REST API deletes no issue)."""
        super().write(
            entity_type,
            external_id,
            {"state": "closed", "state_reason": "not_planned"},
            expected_version=expected_version,
        )

    def _created_with(self, entity_type: str, key: str) -> Change | None:
        """The issue a create with idempotency key `key` made, among the latest 100."""
        obj = self._object(entity_type)
        what = f"github {entity_type} lookup"
        _, body = self._send(
            "GET",
            obj.path,
            what=what,
            params={"state": "all", "sort": "created", "direction": "desc", "per_page": 100},
        )
        if not isinstance(body, list):
            raise MalformedAnswerError(f"{what}: malformed answer: not a list")
        for raw in body:
            text = raw.get("body") if isinstance(raw, dict) else None
            found = _MARK.search(text) if isinstance(text, str) else None
            if found is not None and found.group(1) == key and "pull_request" not in raw:
                try:
                    return self.parse_record(entity_type, raw)
                except RecordError as err:
                    raise MalformedAnswerError(str(err)) from err
        return None

    # -- webhooks ------------------------------------------------------------------------

    @classmethod
    def parse_webhook(cls, *, headers: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        event = next((v for k, v in headers.items() if k.lower() == "x-github-event"), None)
        payload = webhook_json("github", body)
        if not isinstance(payload, dict):
            raise PermanentError("github webhook: the body is not a JSON object")
        if event != "issues":
            return []  # ping, issue_comment, ...: nothing a task sync reads
        issue = payload.get("issue")
        if not isinstance(issue, dict):
            raise PermanentError("github webhook event 0: an issues event without an issue")
        action = payload.get("action")
        gone = action in {"deleted", "transferred"}
        operation: Literal["upsert", "delete"] = "delete" if gone else "upsert"
        return [
            webhook_notice(
                "github",
                0,
                object_type="task",
                external_id=issue.get("number"),
                operation=operation,
                # A delete happened now, after the issue's last update: read it regardless.
                occurred_at=None if gone else issue.get("updated_at"),
            )
        ]


def _values(raw: dict[str, Any]) -> dict[str, Any]:
    """The issue's synced fields, flat: logins and label names, the milestone's due date."""
    text = raw.get("body")
    milestone = raw.get("milestone")
    return {
        "title": raw["title"],
        "body": _MARK.sub("", text) if isinstance(text, str) and "lockstep:" in text else text,
        "state": raw["state"],
        "assignees": [a["login"] for a in raw.get("assignees") or ()],
        "labels": [label["name"] if isinstance(label, dict) else label for label in raw["labels"]],
        "due_on": milestone.get("due_on") if isinstance(milestone, dict) else None,
    }


def _version(raw: dict[str, Any], values: dict[str, Any]) -> str:
    """A hash of what syncs and `updated_at` (one-second resolution alone is too coarse).
    `values`: the issue's `_values`, whose logins and label names it reuses. One f-string:
    each field formats as its `str()`, the text versions were always digested from."""
    milestone = raw.get("milestone")
    number = milestone.get("number") if isinstance(milestone, dict) else None
    text = (
        f"{raw.get('updated_at')}\x1f{values['title']}\x1f{raw.get('body')}"
        f"\x1f{values['state']}\x1f{raw.get('state_reason')}"
        f"\x1f{_sorted_names(values['assignees'])}\x1f{_sorted_names(values['labels'])}"
        f"\x1f{number}"
    )
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _sorted_names(names: list[Any]) -> str:
    """Logins or label names, sorted, as one text: strings as they are, anything else (a
    malformed name) by its `str()` as ever."""
    try:
        return "\x1e".join(sorted(names))
    except TypeError:
        return "\x1e".join(sorted(map(str, names)))


def _request_body(values: Mapping[str, Any]) -> dict[str, Any]:
    """Provider values as GitHub's create and update bodies take them: lists never null
    (an empty list clears assignees or labels), a closed issue closed as completed."""
    body = {k: v for k, v in values.items() if k != "due_on"}
    for name in ("assignees", "labels"):
        if name in body and body[name] is None:
            body[name] = []
    if body.get("state") == "closed":
        body.setdefault("state_reason", "completed")
    return body
