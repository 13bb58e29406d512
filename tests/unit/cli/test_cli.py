"""The `lockstep` CLI through its real entry point (the installed console script), on the
embedded stack: the admin operations end to end, `--json`, and the exit codes scripts use.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxServer
from tests.harness.sandbox import seeded_account

pytestmark = [pytest.mark.unit, pytest.mark.slow]

SCRIPT = shutil.which("lockstep", path=str(Path(sys.executable).parent))


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    assert SCRIPT, "the lockstep console script is installed with the package"

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SCRIPT, "--workdir", str(tmp_path / "data"), "--tenant", "t1", *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )

    return run


def answer(done: subprocess.CompletedProcess[str], code: int = 0) -> Any:
    assert done.returncode == code, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def connect(cli: Any, name: str, server: SandboxServer) -> subprocess.CompletedProcess[str]:
    """`connections create` for a sandbox, its credential on stdin."""
    credential = json.dumps({"type": "bearer_token", "token": server.account.api_key})
    return cli(  # type: ignore[no-any-return]
        "--json",
        "connections",
        "create",
        name,
        "--system",
        "sandbox",
        "--config",
        json.dumps({"base_url": server.base_url}),
        "--credential",
        "@-",
        stdin=credential,
    )


def test_a_tenant_is_set_up_synced_and_inspected_from_the_terminal(cli: Any) -> None:
    with (
        SandboxServer(seeded_account("crm", contacts=3)) as crm,
        SandboxServer(seeded_account("mkt")) as mkt,
    ):
        for name, server in (("crm", crm), ("mkt", mkt)):
            created = connect(cli, name, server)
            assert answer(created)["id"] == name
            assert server.account.api_key not in created.stdout + created.stderr
        assert answer(cli("--json", "connections", "test", "crm")) == {"ok": True}
        table = cli("connections", "list")
        assert table.returncode == 0
        assert "crm" in table.stdout
        assert "mkt" in table.stdout
        definition = {
            "connectionId": "crm",
            "entityType": "contact",
            "targetConnectionIds": ["mkt"],
        }
        answer(cli("--json", "tasks", "create", "crm-c", "--definition", json.dumps(definition)))
        result = answer(cli("--json", "run", "crm-c"))
        assert (result["status"], result["trigger"], result["created"]) == ("success", "manual", 3)
        assert len(mkt.account.records("contacts")) == 3
        listed = answer(cli("--json", "results", "crm-c"))
        assert [r["id"] for r in listed["items"]] == [result["id"]]
        assert answer(cli("--json", "tasks", "pause", "crm-c"))["enabled"] is False
        limits = answer(cli("--json", "limits", "status", "crm"))
        assert limits
        assert all(limit["key"].startswith("conn:t1/crm:") for limit in limits)
        audit = answer(cli("--json", "audit"))["items"]
        assert ("create", "crm") in [(e["action"], e["resourceId"]) for e in audit]


def test_exit_codes_say_what_went_wrong(cli: Any) -> None:
    assert cli("--json", "connections", "get", "nope").returncode == 3
    assert cli("connections", "create", "x", "--system", "nosuch").returncode == 5
    answer(cli("--json", "connections", "create", "x", "--system", "sandbox"))
    assert cli("connections", "create", "x", "--system", "sandbox").returncode == 4
    assert cli("connections", "create", "y", "--config", "{").returncode == 2  # usage
    unscoped = subprocess.run(
        [SCRIPT or "", "connections", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unscoped.returncode == 2
    assert "--tenant" in unscoped.stderr


def test_every_command_explains_itself_with_an_example(cli: Any) -> None:
    top = cli("--help")
    assert "exit codes" in top.stdout
    for command in (
        ["keys", "issue"],
        ["connections", "create"],
        ["tasks", "create"],
        ["run"],
        ["results"],
        ["conflicts", "decide"],
        ["conflicts", "get"],
        ["conflicts", "list"],
        ["duplicates", "decide"],
        ["tasks", "update"],
        ["tasks", "resync"],
        ["result"],
        ["connections", "update"],
        ["limits", "configure"],
        ["entities", "edit"],
        ["limits", "reset"],
        ["audit"],
        ["serve"],
    ):
        shown = cli(*command, "--help")
        assert shown.returncode == 0, command
        assert "Example: lockstep" in shown.stdout, command


def test_a_resync_is_previewed_then_applied_and_every_write_is_audited(cli: Any) -> None:
    with (
        SandboxServer(seeded_account("crm", contacts=2)) as crm,
        SandboxServer(seeded_account("mkt")) as mkt,
    ):
        for name, server in (("crm", crm), ("mkt", mkt)):
            answer(connect(cli, name, server))
        definition = {"connectionId": "crm", "entityType": "contact"}
        answer(cli("--json", "tasks", "create", "crm-c", "--definition", json.dumps(definition)))
        changed = cli("--json", "tasks", "update", "crm-c", "--changes", '{"mode": "pull"}')
        assert answer(changed)["mode"] == "pull"
        assert cli("tasks", "update", "crm-c", "--changes", '{"mode": "up"}').returncode == 5
        answer(cli("--json", "run", "crm-c"))
        first = crm.account.records("contacts")[0]
        crm.account.update("contacts", first.id, {"jobtitle": "CTO"})

        table = cli("tasks", "resync", "crm-c")
        assert table.returncode == 0, table.stderr
        assert "update" in table.stdout
        assert "CTO" in table.stdout
        diff = answer(cli("--json", "tasks", "resync", "crm-c"))
        assert diff["counts"]["update"] == 1
        applied = answer(cli("--json", "tasks", "resync", "crm-c", "--apply"))
        assert (applied["status"], applied["updated"]) == ("success", 1)
        assert answer(cli("--json", "result", applied["id"]))["id"] == applied["id"]
        assert cli("--json", "result", "nope").returncode == 3
        issued = answer(cli("--json", "keys", "issue", "--name", "ci"))
        answer(cli("--json", "keys", "revoke", issued["id"]))
        assert answer(cli("--json", "conflicts", "list"))["items"] == []
        resolved = cli("--json", "conflicts", "list", "--status", "resolved")
        assert answer(resolved)["items"] == []
        wrong = cli("conflicts", "list", "--status", "bogus")
        assert wrong.returncode == 2
        assert "resolved" in wrong.stderr
        audit = answer(cli("--json", "audit"))["items"]
        written = {(e["action"], e["resource"]) for e in audit}
        assert {("resync", "sync-task"), ("issue", "api-key"), ("revoke", "api-key")} <= written
        assert all(e["actor"].startswith("cli:") for e in audit)
