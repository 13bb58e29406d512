"""API keys: every admin route needs one, it is shown once, stored hashed and revocable,
and it scopes the call to its tenant (every route with an id: test_admin_resources.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_core.admin import ApiKey
from integration_core.models import Conflict
from tests.harness.decisions import TENANT, seed_conflict, seed_duplicate
from tests.harness.function_host import FunctionHost, embedded_app_settings

pytestmark = pytest.mark.unit

OTHER = "t2"
BODIES = {
    "AdminDecideConflict": b'{"winner": "incoming", "decided_by": "mallory"}',
    "AdminDecideDuplicate": b'{"same": true, "decided_by": "mallory"}',
    "AdminIssueKey": b'{"name": "k"}',
}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[FunctionHost]:
    host = FunctionHost(embedded_app_settings(tmp_path), inline_queue=True)
    rt = host.runtime()
    seed_conflict(rt)
    seed_duplicate(rt)
    yield host
    rt.close()


def admin_routes(host: FunctionHost) -> list[tuple[str, str, str]]:
    """(function name, method, route) of every admin HTTP function."""
    return [
        (name, str(getattr(m, "value", m)).upper(), r.binding["route"])
        for name, r in sorted(host.functions.items())
        if r.trigger_type == "httpTrigger" and r.binding["route"].startswith("admin/")
        for m in r.binding["methods"]
    ]


def body_of(response: Any) -> Any:
    return json.loads(response.get_body())


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "lsk_x"]
)
def test_every_admin_route_refuses_a_request_without_a_valid_key(
    host: FunctionHost, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for name, method, route in admin_routes(host):
        path = "/api/" + re.sub(r"\{\w+\}", "c1", route)
        response = host.http(method, path, body=BODIES.get(name, b""), headers=headers)
        assert response.status_code == 401, (name, response.get_body())
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (
        Conflict.from_document(host.runtime().store.get(Conflict.container, TENANT, "c1")).status
        == "pending"
    )


def test_a_key_is_shown_once_stored_hashed_and_stops_working_when_revoked(
    host: FunctionHost,
) -> None:
    issued = host.http("POST", "/api/admin/keys", body=b'{"name": "ci"}', tenant=TENANT)
    assert issued.status_code == 201
    secret = body_of(issued)["key"]
    key_id = body_of(issued)["id"]
    stored = host.runtime().store.get(ApiKey.container, TENANT, key_id)
    assert secret not in json.dumps(stored)
    listed = body_of(host.http("GET", "/api/admin/keys", tenant=TENANT))
    assert key_id in [k["id"] for k in listed["items"]]
    assert secret not in json.dumps(listed)
    assert all(not {"key", "keyHash"} & set(k) for k in listed["items"])
    own = {"Authorization": f"Bearer {secret}"}
    assert host.http("GET", "/api/admin/conflicts", headers=own).status_code == 200
    revoked = host.http("DELETE", f"/api/admin/keys/{key_id}", tenant=TENANT)
    assert body_of(revoked)["revokedAt"] is not None
    assert host.http("GET", "/api/admin/conflicts", headers=own).status_code == 401


def test_admin_writes_are_in_the_audit_log_of_their_tenant_only(host: FunctionHost) -> None:
    decided = host.http(
        "POST",
        "/api/admin/conflicts/c1/decision",
        body=BODIES["AdminDecideConflict"],
        tenant=TENANT,
    )
    assert decided.status_code == 200
    entries = body_of(host.http("GET", "/api/admin/audit", tenant=TENANT))["items"]
    # The test host issuing its key is the tenant's first admin write.
    assert [(e["actor"], e["action"], e["resource"]) for e in entries[:1]] == [
        ("test-host", "issue", "api-key")
    ]
    assert [(e["action"], e["resource"], e["resourceId"]) for e in entries[1:]] == [
        ("decide", "conflict", "c1")
    ]
    assert entries[1]["actor"].startswith("key:")
    others = body_of(host.http("GET", "/api/admin/audit", tenant=OTHER))["items"]
    assert [(e["actor"], e["action"]) for e in others] == [("test-host", "issue")]


def test_list_pages_follow_their_continuation_token(host: FunctionHost) -> None:
    for n in range(5):
        host.http(
            "POST", "/api/admin/keys", body=json.dumps({"name": f"k{n}"}).encode(), tenant=TENANT
        )
    seen: list[str] = []
    after = ""
    while True:
        page = body_of(host.http("GET", f"/api/admin/keys?limit=2{after}", tenant=TENANT))
        assert len(page["items"]) <= 2
        seen += [k["id"] for k in page["items"]]
        if page["next"] is None:
            break
        after = f"&after={page['next']}"
    assert len(seen) == len(set(seen)) == 6  # the test host's own key and five more
    bad = host.http("GET", "/api/admin/keys?limit=0", tenant=TENANT)
    assert bad.status_code == 400
