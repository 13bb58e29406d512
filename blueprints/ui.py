"""The admin web page: a static page and its scripts over the JSON admin API, at /api/ui.

The Functions host serves HTTP functions under its route prefix only (`api`, as
`lockstep serve` does), so the page lives at /api/ui and its files at /api/ui/<name>.
The page itself is anonymous (it holds nothing of a tenant); the script signs in with a
Lockstep API key that it keeps in sessionStorage and sends as `Authorization: Bearer` to
the admin API, which is what refuses or scopes every call. On Azure the admin routes also
need the Functions key; the sign-in form takes it too and sends it as `x-functions-key`.

The files are fixed (a name is looked up, never joined to a path), and every answer
carries a Content-Security-Policy that allows this origin's script, style and fetches
only: no inline script, no framing, no other origin (the script builds the page with
text nodes only, so nothing the API returns is ever parsed as markup).

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

from pathlib import Path

import azure.functions as func

from blueprints.http import HttpProblem, endpoint

__all__ = ["CONTENT_SECURITY_POLICY", "FILES", "blueprint"]

STATIC = Path(__file__).with_name("ui_static")
FILES = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "webhooks.js": "text/javascript",
    "connections.js": "text/javascript",
    "app.css": "text/css",
}
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _file(name: str) -> func.HttpResponse:
    media_type = FILES.get(name)
    if media_type is None:
        raise HttpProblem(404, "no such file of the admin page")
    body = (STATIC / name).read_bytes()
    return func.HttpResponse(body, status_code=200, headers=HEADERS, mimetype=media_type)


def blueprint() -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    @bp.function_name("AdminPage")
    @bp.route(route="ui", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    @endpoint(media_type="text/html")
    def admin_page() -> func.HttpResponse:
        """The admin web page."""
        return _file("index.html")

    @bp.function_name("AdminPageFile")
    @bp.route(route="ui/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    @endpoint(media_type="text/plain")
    def admin_page_file(name: str) -> func.HttpResponse:
        """The admin page's scripts and style sheet."""
        return _file(name)

    return bp
