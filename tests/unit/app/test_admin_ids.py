"""Route parameters the stores refuse as ids are answered 400, never 5xx (issue 11, §4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness.function_host import FunctionHost, sample_settings

pytestmark = pytest.mark.unit

HOSTILE = ["..", ".", "a\\b", "a#b", "x" * 300, "a\x01b"]
ROUTES = [
    ("POST", "/api/admin/conflicts/{bad}/decision",
     b'{"winner": "hub", "decided_by": "me"}'),
    ("POST", "/api/admin/duplicates/{bad}/decision",
     b'{"same": true, "decided_by": "me"}'),
]  # fmt: skip


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> FunctionHost:
    where: Path = tmp_path_factory.mktemp("admin-ids")
    return FunctionHost(
        sample_settings()
        | {
            "STORE_BACKEND": "sqlite",
            "SQLITE_PATH": str(where / "store.sqlite3"),
            "LOCAL_SECRETS_PATH": str(where / "secrets.enc"),
            "REDIS_URL": "",
        },
        tenant="t1",
    )


@pytest.mark.parametrize(("method", "route", "body"), ROUTES, ids=[r[1] for r in ROUTES])
def test_a_hostile_id_in_the_route_is_a_400(
    host: FunctionHost, method: str, route: str, body: bytes
) -> None:
    for bad in HOSTILE:
        response = host.http(method, route.format(bad=bad), body=body)
        assert response.status_code == 400, (bad, response.get_body())
        if len(bad) > 2:  # the message names '.' and '..' as what is refused
            assert bad not in json.loads(response.get_body())["detail"]
