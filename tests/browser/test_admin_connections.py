"""The connections view in chromium (see conftest.py): each connection at a glance and a
figure moving after a sync and a webhook delivery; a resync whose dry-run diff is shown
before anything is written; the OAuth connect flow against a real authorization server on
loopback; an entity's links in every system.

The tests share one served app, configured with an OAuth app for the sandbox system
(tests/harness/oauth_server.py, issuing crm's API key as access token), and run in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from adapters.sandbox_server import SandboxAccount
from integration_core.demo import demo_accounts
from tests.browser.conftest import Served, eventually, screenshot, serving_demo, sign_in
from tests.harness.oauth_connect import oauth_clients
from tests.harness.oauth_server import OAuthServer
from tests.harness.webhooks import github_delivery

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def oauth() -> Iterator[tuple[OAuthServer, tuple[SandboxAccount, SandboxAccount]]]:
    accounts = demo_accounts(contacts=20)
    with OAuthServer(fixed_access_token=accounts[0].api_key) as server:
        yield server, accounts


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    oauth: tuple[OAuthServer, tuple[SandboxAccount, SandboxAccount]],
) -> Iterator[Served]:
    server, accounts = oauth
    env = {"OAUTH_CLIENTS": oauth_clients(server)}
    with serving_demo(tmp_path_factory.mktemp("serve"), env=env, accounts=accounts) as found:
        yield found


def _contents(account: SandboxAccount) -> list[tuple[str, dict[str, Any]]]:
    return sorted((r.id, dict(r.properties)) for r in account.records("contacts"))


def _field(card: Any, name: str) -> Any:
    """The value of one figure of a connection's card."""
    return card.locator(f'dt:text-is("{name}") + dd')


def test_each_connection_at_a_glance_and_its_figures_move(page: Page, served: Served) -> None:
    sign_in(page, served)
    crm = page.locator('[data-connection="crm"]')
    expect(crm.get_by_role("heading")).to_contain_text("crm (sandbox)")
    expect(_field(crm, "Auth")).to_have_text("bearer_token · no expiry")
    expect(_field(crm, "Breaker")).to_have_text("closed (0 failures)")
    expect(_field(crm, "Last success")).to_have_text("never")
    expect(_field(crm, "Webhooks (24 h)")).to_have_text(
        "last seen never · 0 received, 0 rejected, 0 duplicate, 0 missed"
    )
    expect(_field(crm, "Budget left")).to_contain_text(" of ")
    expect(_field(crm, "Tasks")).to_have_text("crm-contacts (contact, on, cursor never moved)")
    expect(crm.get_by_role("button", name="Connect…")).to_be_visible()
    assert served.crm.api_key not in page.content()

    served.run("crm-contacts")
    registered = served.api.post(
        "admin/webhooks", json={"connectionId": "crm", "provider": "github"}
    ).raise_for_status()
    headers, body = github_delivery("not-the-secret")
    refused = httpx.post(
        f"{served.base}/webhooks/{registered.json()['id']}", content=body, headers=headers
    )
    assert refused.status_code == 401
    page.get_by_role("button", name="Refresh").click()
    expect(_field(crm, "Last success")).not_to_have_text("never")
    expect(_field(crm, "Tasks")).to_contain_text("cursor ")
    expect(_field(crm, "Tasks")).not_to_contain_text("never moved")
    expect(_field(crm, "Webhooks (24 h)")).to_contain_text("1 received, 1 rejected, 0 duplicate")
    expect(_field(crm, "Webhooks (24 h)")).not_to_contain_text("last seen never")
    assert "not-the-secret" not in page.content()
    screenshot(page, "connections-overview")


def test_a_resync_shows_its_dry_run_diff_and_writes_nothing_until_run(
    page: Page, served: Served
) -> None:
    (alan,) = [r for r in served.crm.records("contacts") if r.properties.get("firstname") == "Alan"]
    served.crm.update("contacts", alan.id, {"jobtitle": "Resynced"})
    served.crm.create("contacts", {"firstname": "Barbara", "lastname": "Liskov",
                                   "email": "barbara@example.com"})  # fmt: skip
    before = (_contents(served.crm), _contents(served.marketing))
    runs_before = served.api.get("admin/tasks/crm-contacts/results").json()["items"]

    sign_in(page, served)
    crm = page.locator('[data-connection="crm"]')
    crm.get_by_role("button", name="Resync crm-contacts…").click()
    diff = page.get_by_role("region", name="Resync crm-contacts: what it would do")
    expect(diff).to_be_visible()
    counts = diff.locator(".counts")
    expect(counts.locator('[data-action="create"]')).to_have_text("1 create")
    expect(counts.locator('[data-action="update"]')).to_have_text("1 update")
    expect(counts.locator('[data-action="delete"]')).to_have_text("0 delete")
    expect(counts.locator('[data-action="unchanged"]')).to_have_text("19 unchanged")
    expect(counts.locator('[data-action="fail"]')).to_have_text("0 fail")
    expect(crm.get_by_role("status")).to_contain_text("nothing was written")
    expect(diff.get_by_role("button", name="Run resync")).to_be_focused()
    updated = diff.locator('details[data-action="update"]')
    updated.get_by_text("1 to update").click()  # details open on demand
    expect(updated.locator(f'[data-record="{alan.id}"]')).to_contain_text("title")
    expect(updated.locator(f'[data-record="{alan.id}"] ins')).to_have_text('"Resynced"')
    created = diff.locator('details[data-action="create"]')
    created.get_by_text("1 to create").click()
    expect(created).to_contain_text('"Barbara"')

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "resync-dry-run")
    page.set_viewport_size({"width": 1100, "height": 800})

    # Nothing was written: not in either system, not in the hub's runs.
    assert (_contents(served.crm), _contents(served.marketing)) == before
    assert served.api.get("admin/tasks/crm-contacts/results").json()["items"] == runs_before
    diff.get_by_role("button", name="Cancel").click()
    expect(diff).to_have_count(0)
    expect(crm.get_by_role("status")).to_have_text("Resync cancelled; nothing was written.")
    expect(crm.get_by_role("button", name="Resync crm-contacts…")).to_be_focused()
    assert (_contents(served.crm), _contents(served.marketing)) == before

    crm.get_by_role("button", name="Resync crm-contacts…").click()
    diff.get_by_role("button", name="Run resync").click()
    expect(crm.get_by_role("status")).to_have_text("Resync of crm-contacts started; see Runs.")
    page.get_by_role("link", name="Runs").click()
    run = page.locator(".run").first
    expect(run).to_have_attribute("data-status", "success", timeout=30_000)
    expect(run).to_contain_text("updated1")
    eventually(served.idle)

    def marketing_has_it() -> bool:
        people = {
            r.properties.get("firstname"): r.properties
            for r in served.marketing.records("contacts")
        }
        return people.get("Alan", {}).get("jobtitle") == "Resynced" and "Barbara" in people

    eventually(marketing_has_it)


def test_connect_with_oauth_from_the_page(
    page: Page,
    served: Served,
    oauth: tuple[OAuthServer, tuple[SandboxAccount, SandboxAccount]],
) -> None:
    server, _ = oauth
    sign_in(page, served)
    crm = page.locator('[data-connection="crm"]')
    crm.get_by_role("button", name="Connect…").click()
    # The authorize endpoint approves and sends the browser to the app's callback page.
    expect(page.get_by_role("heading", name="Connected")).to_be_visible()
    assert page.url.startswith(f"{served.base}/connect/callback?")
    expect(page.locator("body")).to_contain_text("Connection crm (sandbox) is connected")
    assert len(server.authorize_requests) == 1

    page.goto(served.base + "/ui")  # the same tab: still signed in
    expect(_field(crm, "Auth")).to_contain_text("token expires")
    expect(crm.get_by_role("heading")).to_contain_text("active")
    assert served.crm.api_key not in page.content()  # the access token, never shown
    crm.get_by_role("button", name="Test").click()
    expect(crm.get_by_role("status")).to_have_text("Test passed.")
    overview = served.api.get("admin/connections/crm/overview").json()
    assert overview["auth"]["credentialType"] != "bearer_token"
    assert overview["auth"]["expiresAt"] is not None
    assert [c.grant_type for c in server.calls] == ["authorization_code"]


def test_an_entity_shows_its_links_in_every_system(page: Page, served: Served) -> None:
    diff = served.api.post("admin/tasks/crm-contacts/resync/dry-run").raise_for_status().json()
    (edsger,) = [
        r for r in served.crm.records("contacts") if r.properties.get("firstname") == "Edsger"
    ]
    entity_id = next(r["entityId"] for r in diff["records"] if r["externalId"] == edsger.id)
    (copy,) = [
        r for r in served.marketing.records("contacts") if r.properties.get("firstname") == "Edsger"
    ]
    # The first view is slow to come (its listing held back): the person moves on to the
    # entity meanwhile, and the page must not take the focus from them when it comes.
    held: list[Route] = []
    page.route(lambda url: url.endswith("admin/connections?limit=100"), lambda r: held.append(r))
    sign_in(page, served)
    page.get_by_role("link", name="Entity").click()
    page.get_by_label("Entity id").fill(entity_id)
    while not held:
        page.wait_for_timeout(50)
    for route in held:
        route.continue_()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_label("Entity id")).to_be_focused()
    page.keyboard.press("Enter")
    links = page.get_by_role("list", name="Its records in every system")
    expect(links.locator('[data-link="crm"]')).to_contain_text(edsger.id)
    expect(links.locator('[data-link="crm"]')).to_contain_text("sandbox")
    expect(links.locator('[data-link="crm"]')).to_contain_text("linked")
    expect(links.locator('[data-link="marketing"]')).to_contain_text(copy.id)
    expect(links.locator('[data-link="marketing"]')).not_to_contain_text("last synced never")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "entity-links")
