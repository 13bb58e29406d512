"""`lockstep serve` as a user runs it: a subprocess serving the function app over loopback
HTTP on the embedded stack, driven end to end, then stopped with SIGINT (Ctrl-C).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from adapters.sandbox_server import SandboxServer
from tests.harness.sandbox import seeded_account
from tests.unit.cli.conftest import lockstep

pytestmark = [pytest.mark.unit, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]


def wait_for(client: httpx.Client, path: str) -> httpx.Response:
    """Poll until the background workers have recorded the result `path` names: no longer
    running (or 60 s pass)."""
    deadline = time.monotonic() + 60
    while True:
        response = client.get(path)
        running = response.status_code == 200 and response.json()["status"] == "running"
        if not running or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_serve_runs_the_app_over_http_and_stops_cleanly_on_sigint(
    served: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    process, base = served
    issued = lockstep(
        "--tenant", "t1", "--json", "keys", "issue", "--name", "t", workdir=tmp_path / "data"
    )
    assert issued.returncode == 0, issued.stderr
    key = json.loads(issued.stdout)["key"]
    headers = {"Authorization": f"Bearer {key}"}
    with (
        SandboxServer(seeded_account("crm", contacts=4)) as crm,
        SandboxServer(seeded_account("mkt")) as mkt,
        httpx.Client(base_url=base + "/", headers=headers, timeout=30) as client,
    ):
        assert client.get("health").json()["status"] == "healthy"
        assert client.get("admin/connections", headers={"Authorization": ""}).status_code == 401
        for name, server in (("crm", crm), ("mkt", mkt)):
            created = client.post(
                "admin/connections",
                json={
                    "id": name,
                    "system": "sandbox",
                    "config": {"base_url": server.base_url},
                    "credential": {"type": "bearer_token", "token": server.account.api_key},
                },
            )
            assert created.status_code == 201, created.text
        task = {
            "id": "crm-contacts",
            "connectionId": "crm",
            "entityType": "contact",
            "targetConnectionIds": ["mkt"],
        }
        assert client.post("admin/tasks", json=task).status_code == 201
        result_id = client.post("admin/tasks/crm-contacts/run").json()["resultId"]
        result = wait_for(client, f"admin/results/{result_id}")
        assert result.status_code == 200, result.text
        assert (result.json()["status"], result.json()["created"]) == ("success", 4)
        assert client.get("admin/tasks/nope").status_code == 404
        assert client.post("admin/tasks", content=b"{").status_code == 400

    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    stderr = (tmp_path / "serve.log").read_text()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    # Stopped with nothing half-written: the store opens and holds what was done.
    listed = lockstep(
        "--tenant", "t1", "--json", "results", "crm-contacts", workdir=tmp_path / "data"
    )
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)["items"]] == [result_id]
