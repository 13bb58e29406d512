"""Paginators: where the next page's token is in an answer, and how a request carries it.

A token is a JSON value (string, number or object) so that it can sit in the opaque read
cursor and a follow-up message can resume mid-listing. Loop detection is the driver's job
(`adapters.toolkit.adapter`): a token seen before in the same listing is an error, as in the
Meltano SDK's paginators, instead of paging forever.

Shapes after dlt's `rest_client/paginators.py`, smaller: JSON cursor (a path in the body,
sent back as a query or body parameter), page token (the same, Google's names), next URL
(a path in the body), Link header (RFC 8288 `rel="next"`), and offset/limit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from adapters.toolkit.selectors import select
from integration_core.errors import ConfigurationError

__all__ = [
    "Answer",
    "JsonCursorPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "PageRequest",
    "PageTokenPaginator",
    "Paginator",
    "Token",
]

Token = str | int | dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """One page's answer: the response, its parsed body, the token that asked for it
    (None: the first page), how many records it held, and the page size asked for."""

    response: httpx.Response
    body: Any
    current: Token | None
    count: int
    page_size: int


@dataclass(frozen=True)
class PageRequest:
    """One list call: a path or absolute URL, query parameters, a JSON body (POST), and
    request headers (a conditional request's If-None-Match; Salesforce's page size in
    `Sforce-Query-Options`)."""

    url: str
    method: str = "GET"
    params: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Paginator(ABC):
    @abstractmethod
    def apply(self, request: PageRequest, token: Token) -> PageRequest:
        """`request` asking for the page `token` names."""

    @abstractmethod
    def next_token(self, answer: Answer) -> Token | None:
        """The next page's token (None: this was the last page)."""


@dataclass(frozen=True)
class JsonCursorPaginator(Paginator):
    """The token is at `path` in the body; sent as `param` (or, if the token is an object
    and `param` is None, as one parameter per key). `in_body`: in the JSON body (POST search).
    """

    path: str
    param: str | None = None
    in_body: bool = False

    def apply(self, request: PageRequest, token: Token) -> PageRequest:
        values: dict[str, Any]
        if isinstance(token, dict) and self.param is None:
            values = dict(token)
        elif self.param is not None:
            values = {self.param: token}
        else:
            raise ConfigurationError(f"page token at {self.path!r} is not an object: name a param")
        if self.in_body:
            return replace(request, json={**(request.json or {}), **values})
        return replace(request, params={**request.params, **values})

    def next_token(self, answer: Answer) -> Token | None:
        token = select(answer.body, self.path, default=None)
        if token in (None, "", {}):
            return None
        if not isinstance(token, str | int | dict) or isinstance(token, bool):
            raise TypeError(f"page token at {self.path!r} is a {type(token).__name__}")
        return token


@dataclass(frozen=True)
class PageTokenPaginator(JsonCursorPaginator):
    """Google-style: `nextPageToken` in the body, `pageToken` in the next query."""

    path: str = "nextPageToken"
    param: str | None = "pageToken"


@dataclass(frozen=True)
class NextUrlPaginator(Paginator):
    """The body carries the next page's URL (it holds its own query) at `path`."""

    path: str

    def apply(self, request: PageRequest, token: Token) -> PageRequest:
        return replace(request, url=str(token), params={})

    def next_token(self, answer: Answer) -> Token | None:
        url = select(answer.body, self.path, default=None)
        if url is not None and not isinstance(url, str):
            raise TypeError(f"next URL at {self.path!r} is a {type(url).__name__}")
        return url or None


@dataclass(frozen=True)
class LinkHeaderPaginator(Paginator):
    """The `Link` header's `rel="next"` URL (RFC 8288), as GitHub pages."""

    rel: str = "next"

    def apply(self, request: PageRequest, token: Token) -> PageRequest:
        return replace(request, url=str(token), params={})

    def next_token(self, answer: Answer) -> Token | None:
        url = answer.response.links.get(self.rel, {}).get("url")
        return url or None


@dataclass(frozen=True)
class OffsetPaginator(Paginator):
    """`offset_param` counts records; a short page (or `total_path` reached) is the last."""

    offset_param: str = "offset"
    total_path: str | None = None

    def apply(self, request: PageRequest, token: Token) -> PageRequest:
        return replace(request, params={**request.params, self.offset_param: token})

    def next_token(self, answer: Answer) -> Token | None:
        offset = (answer.current if isinstance(answer.current, int) else 0) + answer.count
        if answer.count < answer.page_size:
            return None
        if self.total_path is not None:
            total = select(answer.body, self.total_path)
            if not isinstance(total, int) or offset >= total:
                return None
        return offset
