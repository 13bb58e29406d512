"""Slack: a workspace's users -> contacts (read only), and posting messages.

Reads (api.slack.com/methods/users.list): Slack has no "modified since" filter, so every
cycle is a full scan, 200 users a page, following `response_metadata.next_cursor` (an
empty one ends it). Scans are delete-safe: a deactivated user (`deleted: true`) is a
tombstone, and a user missing from a scan (one that failed part way, or was resumed) is
never taken as deleted. Bots and Slackbot are not contacts and are left out. A user is
read by id with `users.info` (webhook notices). The version is the user's `updated`
(epoch seconds) with a hash of what syncs, since two edits can share a second.

Errors (api.slack.com/web#responses): Slack answers most errors with HTTP 200 and
`{"ok": false, "error": "..."}`; the error map reads the body: token problems are auth
errors (`invalid_auth` and `token_expired` first get one token refresh, as a 401 would
elsewhere), `ratelimited` and Slack's own failures retry, `invalid_cursor` restarts the scan,
`user_not_found` is not found, any other is permanent. Rate limits (HTTP 429 with
Retry-After) retry after it.

Limits (api.slack.com/apis/rate-limits): per method tiers; `users.list` is Tier 2 (20+ a
minute), `users.info` Tier 4 (100+), `chat.postMessage` about one a second per channel.
Every call is counted against each budget, so the tightest (Tier 2) is what binds.

Webhooks (api.slack.com/events/user_change, /events/team_join): Events API
`event_callback`s of those types become thin contact notices; `url_verification` is
answered by the receiver (integration_core.webhooks) before any parsing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from adapters.toolkit import (
    Budget,
    DeclarativeAdapter,
    ErrorMap,
    ErrorRule,
    FullScan,
    JsonCursorPaginator,
    ObjectSpec,
    Outcome,
    ProviderSpec,
    RecordError,
    RecordSpec,
    webhook_json,
    webhook_notice,
)
from adapters.toolkit.adapter import MalformedAnswerError
from integration_core.credentials.types import CredentialType
from integration_core.errors import NotFoundError, PermanentError
from integration_core.mapping import ObjectMapping, register_default_mappings
from integration_core.models import Change
from integration_core.ports import ChangeNotice, ChangePage, WriteResult

__all__ = ["METHOD_TIERS", "SLACK", "SLACK_MAPPINGS", "SlackAdapter"]

# What syncs of a user; `_version` digests these fields, in this order.
_PROFILE_FIELDS = ("first_name", "last_name", "email", "phone", "title")

SLACK_MAPPINGS: Mapping[str, ObjectMapping] = register_default_mappings(
    "slack",
    [
        {
            "entity_type": "contact",
            "provider_object": "users",
            "fields": [
                {"source": f"profile.{source}", "canonical": canonical, "direction": "read"}
                for canonical, source in zip(_PROFILE_FIELDS, _PROFILE_FIELDS, strict=True)
            ],
        }
    ],
)

METHOD_TIERS: Mapping[str, Budget] = {
    "users.list": Budget("tier2", 20, 60.0),
    "users.info": Budget("tier4", 100, 60.0),
    "chat.postMessage": Budget("post", 60, 60.0),
}

# The token itself refused: a refreshed one may succeed (one refresh, as on a 401).
_TOKEN_REFUSED = frozenset({"invalid_auth", "token_expired"})
_AUTH = frozenset(
    {
        "not_authed",
        "account_inactive",
        "token_revoked",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "ekm_access_denied",
    }
)
_RETRY = frozenset(
    {"ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)


def _error(names: frozenset[str]) -> Any:
    def matches(body: Any) -> bool:
        return isinstance(body, dict) and body.get("ok") is False and body.get("error") in names

    return matches


def _not_ok(body: Any) -> bool:
    return isinstance(body, dict) and body.get("ok") is False


# A tuple, not `int | float`: a union is built anew on every use, once per user.
_SECONDS = (int, float)


def _epoch_seconds(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, _SECONDS):
        raise ValueError(f"not epoch seconds: {value!r}")
    try:
        return datetime.fromtimestamp(value, UTC)  # the zone positional: cheaper, per user
    except (OverflowError, OSError) as err:  # beyond the platform's time_t
        raise ValueError(f"not epoch seconds: {value!r}") from err


def _version(user: dict[str, Any]) -> str:
    """`updated` with what syncs: `updated` counts seconds, and a user edited or deactivated
    within the second of the last read would otherwise look unchanged. The digested text is
    as it always was: each part's `str()`, joined by \\x1f."""
    updated = user.get("updated")
    if type(updated) is not int:  # not a bool either
        raise ValueError(f"field 'updated' is a {type(updated).__name__}")
    profile = user.get("profile")
    field = (profile if isinstance(profile, dict) else {}).get
    synced = "\x1f".join([str(field(name)) for name in _PROFILE_FIELDS])
    text = f"{updated}\x1f{user.get('deleted') is True}\x1f{synced}"
    digest = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
    return f"{updated}-{digest}"


_OK = (200, 299)

SLACK = ProviderSpec(
    name="slack",
    objects={
        "contact": ObjectSpec(
            path="/users.list",
            records_path="members",
            paginator=JsonCursorPaginator("response_metadata.next_cursor", param="cursor"),
            cursor=FullScan(),
            record=RecordSpec(
                id="id",
                modified_at="updated",
                version=_version,
                values="",
                deleted="deleted",
                time=_epoch_seconds,
            ),
            max_page_size=200,
        )
    },
    credential_types=frozenset(
        {CredentialType.BEARER_TOKEN, CredentialType.OAUTH2_AUTHORIZATION_CODE}
    ),
    health_path="/auth.test",
    budgets=tuple(METHOD_TIERS.values()),
    errors=ErrorMap(
        (
            ErrorRule(Outcome.AUTH, status=_OK, when=_error(_TOKEN_REFUSED), refresh=True),
            ErrorRule(Outcome.AUTH, status=_OK, when=_error(_AUTH)),
            ErrorRule(Outcome.RETRYABLE, status=_OK, when=_error(_RETRY), retry_after=1.0),
            ErrorRule(
                Outcome.CURSOR_EXPIRED, status=_OK, when=_error(frozenset({"invalid_cursor"}))
            ),
            ErrorRule(Outcome.NOT_FOUND, status=_OK, when=_error(frozenset({"user_not_found"}))),
            ErrorRule(Outcome.PERMANENT, status=_OK, when=_not_ok),
        )
    ),
    base_url="https://slack.com/api",
)


def _person(change: Change) -> bool:
    return not (change.values.get("is_bot") is True or change.external_id == "USLACKBOT")


class SlackAdapter(DeclarativeAdapter):
    spec = SLACK

    def read_changes(self, entity_type: str, cursor: str | None, *, page_size: int) -> ChangePage:
        page = super().read_changes(entity_type, cursor, page_size=page_size)
        return replace(page, changes=[c for c in page.changes if _person(c)])

    def read_record(self, entity_type: str, external_id: str) -> Change | None:
        self._object(entity_type)
        what = f"slack {entity_type} read"
        try:
            _, body = self._send("GET", "/users.info", what=what, params={"user": external_id})
        except NotFoundError:
            return None
        try:
            change = self.parse_record(entity_type, self._select(body, "user", what=what))
        except RecordError as err:
            raise MalformedAnswerError(str(err)) from err
        return change if _person(change) else None

    def write(
        self,
        entity_type: str,
        external_id: str | None,
        values: Mapping[str, Any],
        *,
        expected_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        raise PermanentError(f"slack {entity_type}s are read-only: Lockstep syncs them one way")

    def delete(
        self, entity_type: str, external_id: str, *, expected_version: str | None = None
    ) -> None:
        raise PermanentError(f"slack {entity_type}s are read-only: Lockstep syncs them one way")

    def post_message(self, channel: str, text: str) -> str:
        """Post `text` to `channel` (an id, or a user id for a DM); the message's `ts`.

        api.slack.com/methods/chat.postMessage; JSON bodies need the bearer token header.
        """
        what = "slack chat.postMessage"
        _, body = self._send(
            "POST", "/chat.postMessage", what=what, json={"channel": channel, "text": text}
        )
        ts = self._select(body, "ts", what=what)
        if not isinstance(ts, str):
            raise MalformedAnswerError(f"{what}: malformed answer: ts is not a string")
        return ts

    @classmethod
    def parse_webhook(cls, *, headers: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        payload = webhook_json("slack", body)
        if not isinstance(payload, dict):
            raise PermanentError("slack webhook: the body is not a JSON object")
        if payload.get("type") != "event_callback":
            return []  # url_verification (answered by the receiver), app_rate_limited, ...
        event = payload.get("event")
        if not isinstance(event, dict):
            raise PermanentError("slack webhook event 0: an event_callback without an event")
        if event.get("type") not in {"user_change", "team_join"}:
            return []
        user = event.get("user")
        if not isinstance(user, dict):
            raise PermanentError("slack webhook event 0: no user object")
        if user.get("is_bot") is True:
            return []
        when = payload.get("event_time")
        return [
            webhook_notice(
                "slack",
                0,
                object_type="contact",
                external_id=user.get("id"),
                operation="upsert",  # a deactivation reads back as a tombstone
                occurred_at=when * 1000 if isinstance(when, int) else when,
            )
        ]
