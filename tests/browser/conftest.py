"""The admin page in a real browser: Debian's chromium driven by Playwright, against
`lockstep serve` on the embedded stack with the demo's two sandbox systems served over
loopback HTTP.

Playwright never downloads a browser here: it launches the system's chromium by path.
Without chromium the tests fail, saying how to install it, unless LOCKSTEP_SKIP_SERVICES
is set (the fast lane), where they skip.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.demo import TENANT, demo_accounts
from tests.conftest import SKIP_SERVICES
from tests.harness.serve import serving
from tests.unit.cli.conftest import lockstep

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The scheduler's timer never fires during a test (1 January, midnight): every run is the
# test's own, started from the page or the API.
QUIET_SCHEDULE = "0 0 0 1 1 *"
WAIT_SECONDS = 30
PUT_OFF_SECONDS = 3


@dataclass
class Served:
    base: str  # …/api
    key: str
    api: httpx.Client
    crm: SandboxAccount
    marketing: SandboxAccount

    def run(self, task_id: str) -> dict[str, Any]:
        """Run a task now and wait for its result and for the queues to empty."""
        result_id = self.api.post(f"admin/tasks/{task_id}/run").raise_for_status().json()
        found = eventually(lambda: self._found(f"admin/results/{result_id['resultId']}"))
        eventually(self.idle)
        return found

    def _found(self, path: str) -> dict[str, Any] | None:
        response = self.api.get(path)
        return None if response.status_code == 404 else response.raise_for_status().json()

    def idle(self) -> bool:
        """Nothing waits in the queues but messages put off on purpose (a push held while
        a conflict or a duplicate waits for a decision), which the workers leave queued: a
        message that is taken is taken within the drain loop's 0.2 s, not seconds.
        """
        queues = self.api.get("admin/metrics").raise_for_status().json()["queues"]
        return all(q["depth"] == 0 or q["oldestAgeSeconds"] >= PUT_OFF_SECONDS for q in queues)


def eventually(check: Callable[[], Any], seconds: float = WAIT_SECONDS) -> Any:
    """The first truthy answer of `check`, polled until `seconds` pass."""
    deadline = time.monotonic() + seconds
    while not (answer := check()):
        assert time.monotonic() < deadline, f"{check.__name__} did not happen in {seconds} s"
        time.sleep(0.1)
    return answer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped, not session: Playwright's sync API keeps an asyncio event loop on
    this thread while it runs, and later tests that run their own loop on it (redis-entraid's
    token renewal) fail and hang if the browser outlives the browser tests."""
    if not CHROMIUM.exists():
        if os.environ.get(SKIP_SERVICES):
            pytest.skip(f"no {CHROMIUM} (apt-get install -y chromium) and {SKIP_SERVICES} set")
        pytest.fail(f"the browser tests need {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@contextmanager
def serving_demo(
    directory: Path,
    *,
    env: Mapping[str, str] | None = None,
    accounts: tuple[SandboxAccount, SandboxAccount] | None = None,
) -> Iterator[Served]:
    """The demo's sandboxes (or `accounts`), connected through the admin API with the
    manual policy (so a conflict waits for the page), and an API key for the demo tenant;
    `env` adds app settings."""
    crm, marketing = accounts or demo_accounts(contacts=20)
    with (
        SandboxServer(crm) as crm_server,
        SandboxServer(marketing) as marketing_server,
        serving(directory, env={"SYNC_SCHEDULE": QUIET_SCHEDULE, **(env or {})}) as (_, base),
    ):
        issued = lockstep(
            "--tenant", TENANT, "--json", "keys", "issue", "--name", "browser",
            workdir=directory / "data",
        )  # fmt: skip
        assert issued.returncode == 0, issued.stderr
        key = json.loads(issued.stdout)["key"]
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base + "/", headers=headers, timeout=30) as api:
            for name, server in (("crm", crm_server), ("marketing", marketing_server)):
                connection = {
                    "id": name,
                    "system": "sandbox",
                    "displayName": f"{name} (sandbox)",
                    "config": {"base_url": server.base_url},
                    "credential": {"type": "bearer_token", "token": server.account.api_key},
                }
                api.post("admin/connections", json=connection).raise_for_status()
            for name, other in (("crm", "marketing"), ("marketing", "crm")):
                task = {
                    "id": f"{name}-contacts",
                    "connectionId": name,
                    "entityType": "contact",
                    "targetConnectionIds": [other],
                    "policy": {"strategy": "manual"},
                }
                api.post("admin/tasks", json=task).raise_for_status()
            yield Served(base, key, api, crm, marketing)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving_demo(tmp_path_factory.mktemp("serve")) as found:
        yield found


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Page, served: Served, key: str | None = None) -> None:
    """With the keyboard only: type the key, press Enter."""
    page.goto(served.base + "/ui")
    page.get_by_label("Lockstep API key").fill(key or served.key)
    page.keyboard.press("Enter")


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
