"""The OAuth connect flow's two routes (integration_core/connect/).

- `POST /api/admin/connections/{connection_id}/oauth/start`: behind the Functions key and
  a Lockstep API key, scoped to its tenant like every admin route; answers the provider's
  authorize URL.
- `GET /api/connect/callback?code&state` (or `?error&state`): anonymous — the provider
  sends the person's browser here, and the single-use state is the authentication. It
  answers an HTML page for a person, never a stack trace, never a secret, and is not
  cached nor passed on as a referrer (its URL carries the code).

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from blueprints._private import api_key_caller
from blueprints.http import endpoint
from integration_core.admin import ApiKey
from integration_core.connect.flow import ConnectStarted, finish_connect, start_connect
from integration_core.connect.pages import Page, connected_page, error_page
from integration_core.errors import LockstepError
from integration_core.observability import log_context
from integration_core.runtime import Runtime

__all__ = ["CALLBACK_ROUTE", "CallbackQuery", "blueprint", "redirect_uri_for"]

log = logging.getLogger(__name__)

CALLBACK_ROUTE = "connect/callback"
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


class CallbackQuery(BaseModel):
    """The authorization response (RFC 6749 §4.1.2, §4.1.2.1); bounded, extra ignored
    (providers add their own parameters, e.g. HubSpot's none, Google's `scope`)."""

    model_config = ConfigDict(extra="ignore")

    state: str = Field(default="", max_length=512)
    code: str | None = Field(default=None, max_length=4096)
    error: str | None = Field(default=None, max_length=200)


def redirect_uri_for(request_url: str, configured: str) -> str:
    """OAUTH_REDIRECT_URL, else the callback on the host the request came to."""
    if configured:
        return configured
    parts = urlsplit(request_url)
    return f"{parts.scheme}://{parts.netloc}/api/{CALLBACK_ROUTE}"


def _html(page: Page) -> func.HttpResponse:
    headers = dict(_PAGE_HEADERS)
    if page.retry_after is not None:
        headers["Retry-After"] = str(page.retry_after)
    return func.HttpResponse(
        page.html, status_code=page.status, headers=headers, mimetype="text/html", charset="utf-8"
    )


def blueprint(runtime: Callable[[], Runtime]) -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    caller_of = api_key_caller(runtime)

    @bp.function_name("AdminStartOAuthConnect")
    @bp.route(route="admin/connections/{connection_id}/oauth/start", methods=["POST"])
    @endpoint(response=ConnectStarted, auth=caller_of)
    def admin_start_oauth_connect(
        caller: ApiKey, connection_id: str, req: func.HttpRequest
    ) -> dict[str, Any]:
        """Start connecting a connection with OAuth: the provider's authorize URL."""
        rt = runtime()
        started = start_connect(
            rt,
            caller.tenant_id,
            connection_id,
            actor=f"key:{caller.id}",
            redirect_uri=redirect_uri_for(req.url, rt.settings.oauth_redirect_url),
        )
        return started.model_dump(mode="json", by_alias=True)

    @bp.function_name("ConnectCallback")
    @bp.route(route=CALLBACK_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    @endpoint(query=CallbackQuery, response=str, media_type="text/html")
    def connect_callback(query: CallbackQuery) -> func.HttpResponse:
        """Where the provider sends the browser back: finish the OAuth connect flow."""
        with log_context():
            try:
                connection = finish_connect(
                    runtime(), state=query.state, code=query.code, error=query.error
                )
            except LockstepError as err:
                page = error_page(err)
                log.warning(
                    "connect callback refused: %s",
                    type(err).__name__,
                    extra={"status": page.status},
                )
                return _html(page)
        return _html(connected_page(connection))

    return bp
