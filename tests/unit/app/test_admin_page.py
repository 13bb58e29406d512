"""The admin page's files as the function app serves them: anonymous, locked down by a
Content-Security-Policy, and nothing of the page that could run markup from the API.
(The page's behaviour is checked in a browser: tests/browser/.)
"""

from __future__ import annotations

import re

import pytest

from blueprints.ui import CONTENT_SECURITY_POLICY, FILES, STATIC
from tests.harness.function_host import FunctionHost

pytestmark = pytest.mark.unit

SCRIPTS = sorted(name for name in FILES if name.endswith(".js"))


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/api/ui", "text/html"),
        ("/api/ui/app.js", "text/javascript"),
        ("/api/ui/webhooks.js", "text/javascript"),
        ("/api/ui/connections.js", "text/javascript"),
        ("/api/ui/app.css", "text/css"),
    ],
)
def test_the_page_and_its_files_are_served_with_a_content_security_policy(
    host: FunctionHost, path: str, media_type: str
) -> None:
    response = host.http("GET", path)
    assert response.status_code == 200
    assert response.mimetype == media_type
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_needs_no_key_and_the_api_still_does(host: FunctionHost) -> None:
    for name in ("AdminPage", "AdminPageFile"):
        level = host.functions[name].binding["authLevel"]
        assert str(getattr(level, "value", level)) == "anonymous"
    refused = host.http("GET", "/api/admin/connections", headers={"Authorization": ""})
    assert refused.status_code == 401
    page = host.http("GET", "/api/ui").get_body().decode()
    assert "<title>Lockstep admin</title>" in page


@pytest.mark.parametrize("name", ["index.htm", "app.py", "..", "ui.py", "app.js.map"])
def test_only_the_pages_own_files_are_served(host: FunctionHost, name: str) -> None:
    response = host.http("GET", f"/api/ui/{name}")
    assert response.status_code in (400, 404)
    assert "Content-Security-Policy" not in response.headers


def test_the_policy_allows_this_origin_only_and_no_inline_script() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    assert all("'unsafe-" not in v and "http" not in v for v in directives.values())
    page = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>", page)
    # app.js first: the views' scripts use its helpers.
    assert scripts[0] == '<script src="ui/app.js" defer>'
    assert {f'<script src="ui/{name}" defer>' for name in SCRIPTS} == set(scripts)
    assert not re.search(r"<[^>]+\son[a-z]+=", page)


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_scripts_never_parse_api_data_as_markup(name: str) -> None:
    script = (STATIC / name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    # The key travels in a header only; never in a URL or localStorage.
    assert "localStorage" not in script
    assert "?key" not in script
    assert "&key" not in script


def test_every_file_the_page_names_is_served() -> None:
    assert set(FILES) == {p.name for p in STATIC.iterdir()}
