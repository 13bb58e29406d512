"""A GitHub-shaped fake of one repository's issues REST API and the App token route (WSGI).

Shapes and behaviour from GitHub's REST reference (docs.github.com/rest):
- issues (rest/issues/issues): list with `state`, `sort` (created/updated), `direction`,
  `since` (updated at or after), `per_page` (≤ 100) and `page`, paged by a `Link` header
  (rest/using-the-rest-api/using-pagination-in-the-rest-api); pull requests listed among
  issues with a `pull_request` key; get by number (410 for a deleted issue, 301 for a
  transferred one); create (201; `title` required, else 422 "Validation Failed"); update
  with `state` and `state_reason`. Timestamps have one-second resolution, as GitHub's.
- conditional requests (rest/using-the-rest-api/best-practices-for-using-the-rest-api):
  every answer has an ETag; a matching If-None-Match is 304 with no body and no rate-limit
  cost (`x-ratelimit-remaining` is not spent).
- rate limits (rest/using-the-rest-api/rate-limits-for-the-rest-api): `x-ratelimit-*`
  headers, 403 "API rate limit exceeded" once `hourly_limit` is spent; more than
  `content_per_minute` creates and updates in a minute is the secondary
  limit: 403 with Retry-After and "You have exceeded a secondary rate limit".
- auth: `Authorization: Bearer|token <token>`, 401 "Bad credentials" otherwise;
  `POST /app/installations/{id}/access_tokens` takes an RS256 app JWT (iss = the app id,
  verified with the app's public key) and answers 201 `{"token", "expires_at"}`
  (rest/apps/apps#create-an-installation-access-token-for-an-app).
Issue bodies follow the example answers on those pages (trimmed to what clients read).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt

from adapters.sandbox_server import status_line
from integration_core.clock import from_iso, to_iso, utcnow

__all__ = ["GitHubFake", "to_iso_seconds"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_DOCS = "https://docs.github.com/rest"


@dataclass
class _Issue:
    number: int
    id: int
    title: str
    body: str | None
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    milestone: dict[str, Any] | None = None
    pull_request: bool = False
    deleted: bool = False
    transferred_to: str | None = None

    def to_json(self, repo_url: str) -> dict[str, Any]:
        url = f"{repo_url}/issues/{self.number}"
        body: dict[str, Any] = {
            "url": url,
            "id": self.id,
            "node_id": f"I_{self.id}",
            "number": self.number,
            "title": self.title,
            "body": self.body,
            "state": self.state,
            "state_reason": self.state_reason,
            "labels": [{"id": abs(hash(n)) % 10**9, "name": n} for n in self.labels],
            "assignee": {"login": self.assignees[0]} if self.assignees else None,
            "assignees": [{"login": login, "type": "User"} for login in self.assignees],
            "milestone": self.milestone,
            "locked": False,
            "comments": 0,
            "created_at": to_iso_seconds(self.created_at),
            "updated_at": to_iso_seconds(self.updated_at),
            "closed_at": to_iso_seconds(self.updated_at) if self.state == "closed" else None,
        }
        if self.pull_request:
            body["pull_request"] = {"url": f"{repo_url}/pulls/{self.number}"}
        return body


def to_iso_seconds(value: datetime) -> str:
    return to_iso(value.replace(microsecond=0)).replace("+00:00", "Z")


class _Error(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class GitHubFake:
    """One repository `owner/repo`, the tokens that may read it, and optionally an App."""

    owner: str = "octo-org"
    repo: str = "hello-world"
    tokens: set[str] = field(default_factory=lambda: {"ghp_contract"})
    clock: Callable[[], datetime] = utcnow
    app_id: str | None = None
    app_public_key: str | None = None
    installation_id: str | None = None
    content_per_minute: int = 80
    hourly_limit: int = 5000
    _issues: dict[int, _Issue] = field(default_factory=dict)
    _next: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _content: list[datetime] = field(default_factory=list)
    used: int = 0  # requests that counted against the primary limit
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status

    @property
    def token(self) -> str:
        return next(iter(sorted(self.tokens)))

    def _now(self) -> datetime:
        return self.clock().replace(microsecond=0)

    # -- direct access (a user on github.com) --

    def create_issue(self, title: str, *, pull_request: bool = False, **fields: Any) -> str:
        with self._lock:
            self._next += 1
            now = self._now()
            issue = _Issue(
                number=self._next,
                id=1_000_000 + self._next,
                title=title,
                body=fields.pop("body", None),
                created_at=now,
                updated_at=now,
                pull_request=pull_request,
            )
            self._issues[issue.number] = issue
            self._apply(issue, fields)
            issue.updated_at = now
            return str(issue.number)

    def edit(self, number: str, **fields: Any) -> None:
        with self._lock:
            issue = self._issues[int(number)]
            self._apply(issue, fields)
            issue.updated_at = self._now()

    def delete_issue(self, number: str) -> None:
        with self._lock:
            self._issues[int(number)].deleted = True

    def transfer(self, number: str, to: str) -> None:
        with self._lock:
            self._issues[int(number)].transferred_to = to

    def issue(self, number: str) -> _Issue:
        with self._lock:
            return self._issues[int(number)]

    def issues(self) -> list[_Issue]:
        """Issues (not pull requests) still in the repository."""
        with self._lock:
            return [i for i in self._issues.values() if _listed(i) and not i.pull_request]

    @staticmethod
    def _apply(issue: _Issue, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name in {"labels", "assignees"}:
                value = list(value or [])
            setattr(issue, name, value)
        if fields.get("state") == "open":
            issue.state_reason = "reopened" if "state_reason" not in fields else issue.state_reason

    # -- the HTTP API --

    @property
    def _path(self) -> str:
        return f"/repos/{self.owner}/{self.repo}"

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        extra: dict[str, str] = {}
        costs = True
        try:
            with self._lock:
                if self.used >= self.hourly_limit and not path.startswith("/app/"):
                    raise _Error(403, "API rate limit exceeded for installation.")
                status, body, extra = self._route(environ, method, path)
        except _Error as err:
            status, extra = err.status, err.headers
            body = {"message": err.message, "documentation_url": _DOCS}
        if status == 304:
            costs = False
            body = None
        if costs and self.used < self.hourly_limit:
            self.used += 1
        self.requests.append((method, path, status))
        content = b"" if body is None else json.dumps(body).encode()
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("x-ratelimit-limit", str(self.hourly_limit)),
            ("x-ratelimit-remaining", str(max(0, self.hourly_limit - self.used))),
            ("x-ratelimit-used", str(self.used)),
            ("x-ratelimit-reset", str(int((self.clock() + timedelta(hours=1)).timestamp()))),
            ("x-ratelimit-resource", "core"),
            *extra.items(),
        ]
        if body is not None and "ETag" not in extra:
            headers.append(("ETag", _etag(content)))
        start_response(status_line(status), headers)
        return [content]

    def _route(
        self, environ: dict[str, Any], method: str, path: str
    ) -> tuple[int, Any, dict[str, str]]:
        if path.startswith("/app/installations/") and method == "POST":
            return self._installation_token(environ, path)
        self._authenticate(environ)
        if path != self._path and not path.startswith(f"{self._path}/"):
            raise _Error(404, "Not Found")
        rest = [p for p in path[len(self._path) :].split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        repo_url = f"{_origin(environ)}{self._path}"
        if rest == ["issues"] and method == "GET":
            return self._list(environ, query, repo_url)
        if rest == ["issues"] and method == "POST":
            self._spend_content()
            issue = self._create(_json(environ))
            return 201, issue.to_json(repo_url), {"Location": f"{repo_url}/issues/{issue.number}"}
        if len(rest) == 2 and rest[0] == "issues" and rest[1].isdigit():
            issue = self._one(int(rest[1]), repo_url)
            if method == "GET":
                return self._conditional(environ, issue.to_json(repo_url))
            if method == "PATCH":
                self._spend_content()
                self._update(issue, _json(environ))
                return 200, issue.to_json(repo_url), {}
            raise _Error(404, "Not Found")
        raise _Error(404, "Not Found")

    def _authenticate(self, environ: dict[str, Any]) -> None:
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        ok = scheme.lower() in {"bearer", "token"} and any(
            hmac.compare_digest(token.encode(), known.encode()) for known in self.tokens
        )
        if not ok:
            raise _Error(401, "Bad credentials")

    def _installation_token(
        self, environ: dict[str, Any], path: str
    ) -> tuple[int, Any, dict[str, str]]:
        parts = path.strip("/").split("/")
        if self.app_public_key is None or parts[2:] != [str(self.installation_id), "access_tokens"]:
            raise _Error(404, "Not Found")
        scheme, _, assertion = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        try:
            claims = jwt.decode(
                assertion, self.app_public_key, algorithms=["RS256"], options={"require": ["exp"]}
            )
        except jwt.PyJWTError as err:
            raise _Error(401, f"A JSON web token could not be decoded ({err})") from err
        if scheme.lower() != "bearer" or str(claims.get("iss")) != self.app_id:
            raise _Error(401, "'Issuer' claim ('iss') must be an Integer")
        token = f"ghs_{secrets.token_hex(16)}"
        self.tokens.add(token)
        expires = to_iso_seconds(self.clock() + timedelta(hours=1))
        return 201, {"token": token, "expires_at": expires, "permissions": {"issues": "write"}}, {}

    def _spend_content(self) -> None:
        now = self.clock()
        self._content = [t for t in self._content if t > now - timedelta(minutes=1)]
        if len(self._content) >= self.content_per_minute:
            raise _Error(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes before "
                "you try again.",
                {"Retry-After": "60"},
            )
        self._content.append(now)

    def _list(
        self, environ: dict[str, Any], query: dict[str, str], repo_url: str
    ) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", "open")
        sort = query.get("sort", "created")
        descending = query.get("direction", "desc") == "desc"
        per_page = min(_int(query.get("per_page", "30"), "per_page"), 100)
        page = max(_int(query.get("page", "1"), "page"), 1)
        since = _since(query.get("since"))
        rows = [
            i
            for i in self._issues.values()
            if _listed(i)
            and (state == "all" or i.state == state)
            and (since is None or i.updated_at >= since)
        ]
        key = "updated_at" if sort == "updated" else "created_at"
        rows.sort(key=lambda i: (getattr(i, key), i.number), reverse=descending)
        chunk = rows[(page - 1) * per_page : page * per_page]
        status, body, headers = self._conditional(environ, [i.to_json(repo_url) for i in chunk])
        last = max(1, -(-len(rows) // per_page))
        links = []
        if page < last:
            links.append(f'<{_page_url(environ, query, page + 1)}>; rel="next"')
            links.append(f'<{_page_url(environ, query, last)}>; rel="last"')
        if links:
            headers["Link"] = ", ".join(links)
        return status, body, headers

    def _conditional(self, environ: dict[str, Any], body: Any) -> tuple[int, Any, dict[str, str]]:
        tag = _etag(json.dumps(body).encode())
        if environ.get("HTTP_IF_NONE_MATCH") == tag:
            return 304, None, {"ETag": tag}
        return 200, body, {"ETag": tag}

    def _one(self, number: int, repo_url: str) -> _Issue:
        issue = self._issues.get(number)
        if issue is None:
            raise _Error(404, "Not Found")
        if issue.deleted:
            raise _Error(410, "This issue was deleted")
        if issue.transferred_to is not None:
            location = f"{repo_url.rsplit('/repos/', 1)[0]}/repos/{issue.transferred_to}/issues/1"
            raise _Error(301, "Moved Permanently", {"Location": location})
        return issue

    def _create(self, body: dict[str, Any]) -> _Issue:
        title = body.get("title")
        if not isinstance(title, str | int) or title == "":
            raise _Error(422, "Validation Failed")
        fields = {k: body[k] for k in ("labels", "assignees", "milestone") if k in body}
        _check_lists(fields)
        number = self.create_issue(str(title), body=body.get("body"), **fields)
        return self._issues[int(number)]

    def _update(self, issue: _Issue, body: dict[str, Any]) -> None:
        allowed = ("title", "body", "state", "state_reason", "labels", "assignees", "milestone")
        fields = {k: body[k] for k in allowed if k in body}
        if fields.get("state") not in (None, "open", "closed"):
            raise _Error(422, "Validation Failed")
        if fields.get("state_reason") not in (None, "completed", "not_planned", "reopened"):
            raise _Error(422, "Validation Failed")
        _check_lists(fields)
        if fields.get("state") == "closed" and "state_reason" not in fields:
            fields["state_reason"] = "completed"
        self.edit(str(issue.number), **fields)


def _listed(issue: _Issue) -> bool:
    return not issue.deleted and issue.transferred_to is None


def _check_lists(fields: dict[str, Any]) -> None:
    for name in ("labels", "assignees"):
        value = fields.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _Error(422, "Validation Failed")


def _etag(content: bytes) -> str:
    return f'W/"{hashlib.sha256(content).hexdigest()[:32]}"'


def _origin(environ: dict[str, Any]) -> str:
    return f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', 'localhost')}"


def _page_url(environ: dict[str, Any], query: dict[str, str], page: int) -> str:
    return f"{_origin(environ)}{environ.get('PATH_INFO', '')}?{urlencode({**query, 'page': page})}"


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return from_iso(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise _Error(422, "Validation Failed") from err


def _json(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except json.JSONDecodeError as err:
        raise _Error(400, "Problems parsing JSON") from err
    if not isinstance(body, dict):
        raise _Error(400, "Problems parsing JSON")
    return body


def _int(value: str, name: str) -> int:
    if not value.isdigit():
        raise _Error(422, f"Validation Failed ({name})")
    return int(value)
