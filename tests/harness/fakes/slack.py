"""A Slack-shaped fake of the Web API methods Lockstep calls, as a WSGI app under `/api`.

Shapes follow Slack's own OpenAPI file (../shared/provider-specs/slack/
slack_web_openapi_v2.json: `objs_user`, `objs_user_profile`, the users.list, users.info,
auth.test and chat.postMessage success and error schemas); the contract suite runs it
behind Prism on that file, which refuses any answer the spec does not allow. Behaviour
from api.slack.com/methods/users.list and api.slack.com/web: bearer tokens, errors as HTTP
200 `{"ok": false, "error": ...}`, cursor paging (`response_metadata.next_cursor`, "" on
the last page; a cursor Slack did not hand out is `invalid_cursor`), deactivated users
listed with `deleted: true`, and Tier 2 (users.list) as HTTP 429 with Retry-After and
`{"ok": false, "error": "ratelimited"}` (api.slack.com/apis/rate-limits).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from adapters.sandbox_server import status_line
from integration_core.clock import utcnow

__all__ = ["SlackFake"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
TEAM = "T012AB3C4"
_PROFILE_TEXT = ("title", "phone", "skype", "status_text", "status_emoji")


@dataclass
class _User:
    id: str
    name: str
    profile: dict[str, Any]
    updated: int
    deleted: bool = False
    is_bot: bool = False

    def to_json(self) -> dict[str, Any]:
        real = " ".join(
            p for p in (self.profile.get("first_name"), self.profile.get("last_name")) if p
        )
        profile = {
            "avatar_hash": "ge3b51ca72de",
            "display_name": self.name,
            "display_name_normalized": self.name,
            "real_name": real,
            "real_name_normalized": real,
            "fields": None,
            "team": TEAM,
            **{name: "" for name in _PROFILE_TEXT},
            **self.profile,
        }
        return {
            "id": self.id,
            "team_id": TEAM,
            "name": self.name,
            "deleted": self.deleted,
            "color": "9f69e7",
            "real_name": real,
            "tz": "Europe/Paris",
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": self.updated,
            "has_2fa": False,
        }


@dataclass
class SlackFake:
    """One workspace: its users, a bot token, channels that take messages."""

    token: str = "xoxb-contract"
    clock: Callable[[], datetime] = utcnow
    channels: set[str] = field(default_factory=lambda: {"C0123456789"})
    tier2_per_minute: int = 20
    _users: dict[str, _User] = field(default_factory=dict)
    _next: int = 0
    _tier2: list[datetime] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    messages: list[dict[str, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    # -- direct access (a workspace admin) --

    def add_user(self, profile: dict[str, Any], *, is_bot: bool = False) -> str:
        with self._lock:
            self._next += 1
            user_id = f"U{self._next:08d}"
            name = str(profile.get("email") or user_id).split("@")[0]
            self._users[user_id] = _User(user_id, name, dict(profile), self._now(), is_bot=is_bot)
            return user_id

    def edit(self, user_id: str, profile: dict[str, Any]) -> None:
        with self._lock:
            user = self._users[user_id]
            user.profile.update(profile)
            user.updated = self._now()

    def deactivate(self, user_id: str) -> None:
        with self._lock:
            user = self._users[user_id]
            user.deleted = True
            user.updated = self._now()

    def active_ids(self) -> set[str]:
        with self._lock:
            return {u.id for u in self._users.values() if not u.deleted and not u.is_bot}

    def _now(self) -> int:
        return int(self.clock().timestamp())

    # -- the HTTP API --

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]  # /api/users.list
        self.requests.append(method)
        headers = [("Content-Type", "application/json; charset=utf-8")]
        with self._lock:
            status, body = self._route(environ, method)
        if status == 429:
            headers.append(("Retry-After", "30"))
        start_response(status_line(status), headers)
        return [json.dumps(body).encode()]

    def _route(self, environ: dict[str, Any], method: str) -> tuple[int, dict[str, Any]]:
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if not token:
            return 200, {"ok": False, "error": "not_authed"}
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.encode(), self.token.encode()
        ):
            return 200, {"ok": False, "error": "invalid_auth"}
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if method == "users.list":
            return self._list(query)
        if method == "users.info":
            user = self._users.get(query.get("user", ""))
            if user is None:
                return 200, {"ok": False, "error": "user_not_found"}
            return 200, {"ok": True, "user": user.to_json()}
        if method == "auth.test":
            return 200, {
                "ok": True,
                "url": "https://subarachnoiddirect.slack.com/",
                "team": "Subarachnoid Workspace",
                "user": "grace",
                "team_id": TEAM,
                "user_id": "W12345678",
            }
        if method == "chat.postMessage" and environ["REQUEST_METHOD"] == "POST":
            return self._post(_form_or_json(environ))
        return 404, {"ok": False, "error": "unknown_method"}

    def _list(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        now = self.clock()
        self._tier2 = [t for t in self._tier2 if t > now - timedelta(minutes=1)]
        if len(self._tier2) >= self.tier2_per_minute:
            return 429, {"ok": False, "error": "ratelimited"}
        self._tier2.append(now)
        limit = query.get("limit", "0")
        size = int(limit) if limit.isdigit() and int(limit) > 0 else 1000
        ids = sorted(self._users)
        start = 0
        if query.get("cursor"):
            after = _decode(query["cursor"])
            if after is None or after not in self._users:
                return 200, {"ok": False, "error": "invalid_cursor"}
            start = ids.index(after)
        chunk = ids[start : start + size]
        more = start + size < len(ids)
        next_cursor = _encode(ids[start + size]) if more else ""
        return 200, {
            "ok": True,
            "members": [self._users[i].to_json() for i in chunk],
            "cache_ts": int(now.timestamp()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _post(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        channel, text = body.get("channel"), body.get("text")
        if not channel:
            return 200, {"ok": False, "error": "channel_not_found"}
        if channel not in self.channels:
            return 200, {"ok": False, "error": "channel_not_found"}
        if not text:
            return 200, {"ok": False, "error": "no_text"}
        ts = f"{self.clock().timestamp():.6f}"
        self.messages.append({"channel": str(channel), "text": str(text), "ts": ts})
        return 200, {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {"type": "message", "text": text, "ts": ts, "user": "W12345678"},
        }


def _encode(user_id: str) -> str:
    return base64.b64encode(f"user:{user_id}".encode()).decode()


def _decode(cursor: str) -> str | None:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return text.removeprefix("user:") if text.startswith("user:") else None


def _form_or_json(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length)
    if environ.get("CONTENT_TYPE", "").startswith("application/json"):
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return {}
        return body if isinstance(body, dict) else {}
    return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
