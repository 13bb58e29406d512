"""What the provider fakes share: reading a request's JSON object body."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["json_object"]


def json_object(environ: dict[str, Any], fail: Callable[[str], Exception]) -> dict[str, Any]:
    """The request's JSON body, an object (`{}` when empty); else `fail(reason)` is raised,
    the provider's own error."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except json.JSONDecodeError as err:
        raise fail(f"invalid JSON: {err.msg}") from err
    if not isinstance(body, dict):
        raise fail("the body must be a JSON object")
    return body
