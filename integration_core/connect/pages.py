"""What the OAuth callback shows the person whose browser came back from the provider.

A small HTML page per outcome, with the status the callback answers: 200 connected;
400 for a link that is not (or no longer) valid and for a consent the provider refused;
404 for a connection deleted meanwhile; 422 when the deployment cannot connect that
system; 502 when the provider refused the code; 503 when it did not answer. Pages name
the connection and the OAuth error code, never a code, state, token or secret, and all
text is escaped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from integration_core.connect.flow import (
    CodeExchangeError,
    ConsentRefusedError,
    NotConnectableError,
)
from integration_core.connect.states import STATE_TTL, StateProblem, StateRefusedError
from integration_core.errors import (
    ConfigurationError,
    LockstepError,
    NotFoundError,
    RetryableError,
)
from integration_core.models import Connection

__all__ = ["Page", "connected_page", "error_page"]

# RFC 6749 §4.1.2.1: error codes are %x20-21 / %x23-5B / %x5D-7E; we show only plain ones.
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_STATE_PAGES = {
    StateProblem.UNKNOWN: (
        "This link is not valid",
        "Lockstep did not start this connection, or the link was changed on the way."
        " Start the connection again from Lockstep.",
    ),
    StateProblem.USED: (
        "This link was already used",
        "Each connection link works once. If the connection is not active, start it again.",
    ),
    StateProblem.EXPIRED: (
        "This link has expired",
        f"A connection link works for {int(STATE_TTL.total_seconds() // 60)} minutes."
        " Start the connection again from Lockstep.",
    ),
}


@dataclass(frozen=True)
class Page:
    status: int
    html: str
    retry_after: int | None = None


def _render(title: str, message: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · Lockstep</title></head>"
        '<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>\n"
    )


def connected_page(connection: Connection) -> Page:
    return Page(
        200,
        _render(
            "Connected",
            f"Connection {connection.id} ({connection.system}) is connected and active."
            " You can close this window.",
        ),
    )


def error_page(err: LockstepError) -> Page:
    """The page for an error `finish_connect` raised."""
    if isinstance(err, StateRefusedError):
        return Page(400, _render(*_STATE_PAGES[err.problem]))
    if isinstance(err, ConsentRefusedError):
        code = err.error if _ERROR_CODE.fullmatch(err.error) else "invalid_response"
        if code == "access_denied":
            title = "Access was not granted"
            detail = f"{err.system} did not grant Lockstep access"
        else:
            title = "The authorization failed"
            detail = f"{err.system} answered with the error {code}"
        return Page(
            400,
            _render(
                title,
                f"{detail}, so connection {err.connection} was not connected."
                " Start the connection again to retry.",
            ),
        )
    if isinstance(err, NotFoundError):
        return Page(404, _render("The connection no longer exists", str(err)))
    if isinstance(err, NotConnectableError):
        return Page(422, _render("This connection cannot use OAuth", str(err)))
    if isinstance(err, CodeExchangeError):
        return Page(
            502,
            _render(
                "The provider refused to complete the connection",
                f"{err} Start the connection again; if it fails again, check the OAuth app.",
            ),
        )
    if isinstance(err, RetryableError):
        return Page(
            503,
            _render(
                "The provider is not answering",
                f"{err}. Start the connection again in a few minutes.",
            ),
            retry_after=max(1, int(err.retry_after or 60)),
        )
    if isinstance(err, ConfigurationError):
        return Page(
            502, _render("Lockstep cannot reach the provider", "Its token endpoint is refused.")
        )
    return Page(500, _render("The connection failed", "See the function's log."))
