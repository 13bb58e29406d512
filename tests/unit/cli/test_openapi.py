"""The admin API's OpenAPI 3.1 document: valid, complete, and true of the running app
(schemathesis against `lockstep serve` over loopback: no 5xx, every response as documented).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from adapters.sandbox_server import SandboxServer
from tests.harness.function_host import FunctionHost, embedded_app_settings
from tests.harness.sandbox import seeded_account
from tests.unit.cli.conftest import lockstep

SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))


@pytest.mark.unit
def test_the_document_is_valid_openapi_31_and_names_every_admin_and_connect_function(
    tmp_path: Path,
) -> None:
    host = FunctionHost(embedded_app_settings(tmp_path), inline_queue=True, tenant="t1")
    response = host.http("GET", "/api/admin/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.get_body())
    validate(document)
    assert document["openapi"] == "3.1.0"
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    documented = {
        n
        for n, r in host.functions.items()
        if r.binding.get("route", "").startswith(("admin/", "connect/"))
    }
    assert operations == documented - {"AdminOpenApi"}
    callback = document["paths"]["/api/connect/callback"]["get"]
    assert callback["security"] == []
    assert set(callback["responses"]["200"]["content"]) == {"text/html"}
    for status in ("400", "502", "503"):
        assert "text/html" in callback["responses"][status]["content"], status
    start = document["paths"]["/api/admin/connections/{connection_id}/oauth/start"]["post"]
    started = start["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"authorizeUrl", "expiresAt", "redirectUri"} <= set(started["properties"])
    assert (
        host.http(
            "GET", "/api/admin/openapi.json", tenant=None, headers={"Authorization": "Bearer nope"}
        ).status_code
        == 401
    )
    host.runtime().close()


@pytest.mark.unit
@pytest.mark.slow
def test_schemathesis_finds_no_5xx_and_no_response_off_the_schema(
    served: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    _, base = served
    assert SCHEMATHESIS, "schemathesis is a dev dependency"
    issued = lockstep(
        "--tenant", "t1", "--json", "keys", "issue", "--name", "st", workdir=tmp_path / "data"
    )
    key = json.loads(issued.stdout)["key"]
    headers = {"Authorization": f"Bearer {key}"}
    with SandboxServer(seeded_account("crm", contacts=2)) as crm:
        # Something to find, so that generated requests reach the pipelines too.
        with httpx.Client(base_url=base + "/", headers=headers, timeout=30) as client:
            created = client.post(
                "admin/connections",
                json={
                    "id": "crm",
                    "system": "sandbox",
                    "config": {"base_url": crm.base_url},
                    "credential": {"type": "bearer_token", "token": crm.account.api_key},
                },
            )
            assert created.status_code == 201, created.text
        run = subprocess.run(
            [
                SCHEMATHESIS,
                "run",
                f"{base}/admin/openapi.json",
                "-H",
                f"Authorization: Bearer {key}",
                "-c",
                "not_a_server_error,response_schema_conformance",
                "-n",
                "15",
                "--seed",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,  # schemathesis keeps a cache in its working directory
        )
    assert run.returncode == 0, run.stdout[-4000:]
