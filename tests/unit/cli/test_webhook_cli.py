"""`lockstep webhooks ...` through the real entry point, on the embedded stack: register
(the generated secret printed once), list, get, rotate with a secret from stdin, health,
deliveries, enable, unregister, and the exit codes for what is not found or invalid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.cli.test_cli import answer, cli  # noqa: F401 - the fixture

pytestmark = [pytest.mark.unit, pytest.mark.slow]


def test_a_webhook_is_registered_rotated_inspected_and_unregistered(
    cli: Any,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    connection = cli(
        "--json",
        "connections",
        "create",
        "crm",
        "--system",
        "sandbox",
        "--config",
        json.dumps({"base_url": "https://crm.example"}),
    )
    answer(connection)
    registered = answer(
        cli(
            "--json",
            "webhooks",
            "register",
            "--connection",
            "crm",
            "--provider",
            "github",
            "--id",
            "hook1",
            "--entity-type",
            "contact",
        )
    )
    assert registered["path"] == "/api/webhooks/hook1"
    assert registered["entityTypes"] == ["contact"]
    secret = registered["secret"]
    assert len(secret) == 64
    shown = cli("--json", "webhooks", "get", "hook1")
    assert secret not in shown.stdout
    assert answer(shown)["provider"] == "github"
    table = cli("webhooks", "list")
    assert table.returncode == 0
    assert "hook1" in table.stdout
    assert secret not in table.stdout

    rotated = cli(
        "--json",
        "webhooks",
        "rotate",
        "hook1",
        "--overlap-hours",
        "1",
        "--secret-stdin",
        stdin="my-new-secret\n",
    )
    # A secret the caller gave is not answered back.
    assert answer(rotated) == {"id": "hook1", "secret": None, "overlapSeconds": 3600}
    health = answer(cli("--json", "webhooks", "health", "hook1"))
    assert health["status"] == "active"
    assert health["lastDelivery"] is None
    assert answer(cli("--json", "webhooks", "deliveries", "hook1")) == {"items": [], "next": None}
    assert answer(cli("--json", "webhooks", "enable", "hook1"))["status"] == "active"
    answer(cli("--json", "webhooks", "unregister", "hook1"))
    assert cli("--json", "webhooks", "get", "hook1").returncode == 3
    everything = json.dumps([answer(cli("--json", "audit"))])
    assert secret not in everything
    assert "my-new-secret" not in everything


def test_refusals_exit_with_their_codes(cli: Any) -> None:  # noqa: F811 - the fixture
    unknown = cli("webhooks", "register", "--connection", "nosuch", "--provider", "github")
    assert unknown.returncode == 5, unknown.stderr
    assert cli("webhooks", "health", "nosuch").returncode == 3
    empty = cli("webhooks", "rotate", "nosuch", "--secret-stdin", stdin="\n")
    assert empty.returncode == 5, empty.stderr
    backwards = cli(
        "webhooks",
        "replay",
        "nosuch",
        "--since",
        "2030-01-01T00:00:00Z",
        "--until",
        "2020-01-01T00:00:00Z",
    )
    assert backwards.returncode == 5, backwards.stderr
