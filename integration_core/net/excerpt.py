"""The piece of a response body an error text may carry: short, one line, redacted.

Error texts end up in logs, sync results and the host's failure records. A provider's
error body can be large, can be an HTML page, and can echo the request (credentials
included), so only its start goes in, after redaction.
"""

from __future__ import annotations

import httpx

from integration_core.observability import redact

__all__ = ["EXCERPT_CHARS", "body_excerpt"]

EXCERPT_CHARS = 120


def body_excerpt(response: httpx.Response, *, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of the body's text, whitespace collapsed, secrets masked."""
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError, LookupError):
        return "(body not readable)"
    # Redact the whole text first: a secret cut in half by the limit would not be found.
    text = redact(" ".join(text.split()))
    if not text:
        return "(empty body)"
    return text if len(text) <= limit else text[: limit - 1] + "…"
