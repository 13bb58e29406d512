"""The admin page, driven in chromium as an operator would use it (see conftest.py).

The tests of this module share one served app and run in order: sign-in, then a sync, then
the duplicate that sync holds for review, then a conflict made on both sides (waiting for
a decision under the manual policy, then resolved at once under last_write_wins).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from adapters.sandbox_server import SandboxAccount
from tests.browser.conftest import Served, eventually, screenshot, sign_in

pytestmark = [pytest.mark.browser]


def _person(account: SandboxAccount, **wanted: str) -> list[dict[str, Any]]:
    return [
        dict(r.properties, id=r.id)
        for r in account.records("contacts")
        if all(r.properties.get(k) == v for k, v in wanted.items())
    ]


def test_the_page_is_locked_down_and_a_wrong_key_is_refused(page: Page, served: Served) -> None:
    response = page.goto(served.base + "/ui")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    sign_in(page, served, key="lsk_not-a-key")
    expect(page.get_by_role("alert")).to_have_text("The API key was refused.")
    expect(page.get_by_role("navigation")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    screenshot(page, "sign-in-refused")


def test_sign_in_shows_the_connections_and_a_sync_now_run_appears(
    page: Page, served: Served
) -> None:
    sign_in(page, served)
    crm = page.locator('[data-connection="crm"]')
    expect(crm.get_by_role("heading")).to_contain_text("crm (sandbox)")
    expect(crm).to_contain_text("active")
    expect(crm).to_contain_text("closed (0 failures)")
    expect(page.locator('[data-connection="marketing"]')).to_be_visible()
    assert served.key not in page.url
    assert served.key not in page.content()
    expect(page.get_by_label("Lockstep API key")).to_have_value("")  # the form forgets it
    assert page.evaluate("localStorage.length") == 0
    crm.get_by_role("button", name="Test").click()
    expect(crm.get_by_role("status")).to_have_text("Test passed.")
    screenshot(page, "connections")

    page.get_by_role("link", name="Runs").click()
    expect(page.get_by_label("Task")).to_have_value("crm-contacts")
    expect(page.get_by_text("No runs yet.")).to_be_visible()
    page.get_by_role("link", name="Connections").click()
    crm.get_by_role("button", name="Sync now").click()
    expect(crm.get_by_role("status")).to_contain_text("Sync started")
    page.get_by_role("link", name="Runs").click()
    run = page.locator(".run").first  # the page polls: the run appears when it is done
    expect(run).to_have_attribute("data-status", "success", timeout=30_000)
    expect(run).to_contain_text("created20")
    eventually(served.idle)
    screenshot(page, "runs")
    # The people crm pushed are in marketing now.
    assert len(_person(served.marketing, firstname="Edsger")) == 1


def test_a_held_duplicate_is_confirmed_and_both_systems_agree(page: Page, served: Served) -> None:
    served.run("marketing-contacts")
    sign_in(page, served)
    page.get_by_role("link", name="Duplicates").click()
    card = page.locator("[data-duplicate]")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Grace")
    screenshot(page, "duplicates")
    # crm's Grace was pushed to marketing, whose own Grace (another email) is held.
    assert len(_person(served.crm, firstname="Grace")) == 1
    assert len(_person(served.marketing, firstname="Grace")) == 2
    card.get_by_role("button", name="Confirm: same").click()
    expect(page.locator("#status")).to_have_text("Confirmed: merged into one record.")
    expect(page.get_by_text("No probable duplicate waits for review.")).to_be_visible()

    def one_grace_each() -> bool:
        crm, marketing = (_person(a, firstname="Grace") for a in (served.crm, served.marketing))
        return len(crm) == len(marketing) == 1 and crm[0]["email"] == marketing[0]["email"]

    eventually(one_grace_each)  # the pushed copy withdrawn, marketing's own one updated


def test_a_conflict_made_on_both_sides_is_decided_and_both_systems_agree(
    page: Page, served: Served
) -> None:
    (crm_edsger,) = _person(served.crm, firstname="Edsger")
    (marketing_edsger,) = _person(served.marketing, firstname="Edsger")
    served.crm.update("contacts", crm_edsger["id"], {"jobtitle": "from crm"})
    served.marketing.update("contacts", marketing_edsger["id"], {"jobtitle": "from marketing"})
    for _ in range(2):
        served.run("crm-contacts")
        served.run("marketing-contacts")

    def title_conflict() -> str | None:
        waiting = served.api.get("admin/conflicts").raise_for_status().json()["items"]
        return next((c["id"] for c in waiting if c["field"] == "title"), None)

    # (The demo's Ada, linked despite a typo in marketing, waits on two fields as well.)
    conflict_id = eventually(title_conflict)
    sign_in(page, served)
    page.get_by_role("link", name="Conflicts").click()
    card = page.locator(f'[data-conflict="{conflict_id}"]')
    expect(card).to_contain_text("title")
    rows = card.get_by_role("row")
    expect(rows.filter(has_text="Base")).to_contain_text('"Engineer"')
    expect(rows.filter(has_text="Hub")).to_contain_text('"from crm"')
    expect(rows.filter(has_text="Incoming (marketing)")).to_contain_text('"from marketing"')
    # Each system keeps its own value while the conflict waits.
    assert _person(served.crm, firstname="Edsger")[0]["jobtitle"] == "from crm"
    assert _person(served.marketing, firstname="Edsger")[0]["jobtitle"] == "from marketing"

    card.get_by_role("link").click()  # the entity, with where each value came from
    expect(page.get_by_role("row", name="title")).to_contain_text("crm")
    screenshot(page, "entity")
    page.go_back()
    card.get_by_role("button", name="Take incoming value").click()
    expect(page.locator("#status")).to_have_text("Decided: the incoming value taken.")
    expect(card).to_have_count(0)

    def titles() -> list[str]:
        return [_person(a, firstname="Edsger")[0]["jobtitle"] for a in (crm, marketing)]

    crm, marketing = served.crm, served.marketing
    eventually(lambda: titles() == ["from marketing", "from marketing"])

    # An admin edit on the entity's page reaches both systems too.
    page.go_forward()
    page.get_by_label("Field").select_option("title")
    page.get_by_label("New value").fill("from the page")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#status")).to_contain_text("Saved title")
    expect(page.get_by_role("row", name="title")).to_contain_text("admin")
    eventually(lambda: titles() == ["from the page", "from the page"])


def test_a_conflict_a_last_write_wins_task_resolved_is_listed_with_its_rule(
    page: Page, served: Served
) -> None:
    policy = {"policy": {"strategy": "last_write_wins"}}
    served.api.patch("admin/tasks/marketing-contacts", json=policy).raise_for_status()
    (crm_edsger,) = _person(served.crm, firstname="Edsger")
    (marketing_edsger,) = _person(served.marketing, firstname="Edsger")
    served.crm.update("contacts", crm_edsger["id"], {"jobtitle": "crm, earlier"})
    served.marketing.update("contacts", marketing_edsger["id"], {"jobtitle": "marketing, later"})
    served.run("crm-contacts")
    served.run("marketing-contacts")

    def resolved_title() -> str | None:
        page_of = served.api.get("admin/conflicts", params={"status": "resolved"})
        found = page_of.raise_for_status().json()["items"]
        return next((c["id"] for c in found if c["field"] == "title"), None)

    resolved_id = eventually(resolved_title)
    sign_in(page, served)
    page.get_by_role("link", name="Conflicts").click()
    section = page.get_by_role("list", name="Resolved by policy")
    item = section.locator(f'[data-resolved="{resolved_id}"]')
    expect(item).to_contain_text("title")
    expect(item).to_contain_text('"crm, earlier"')  # the hub's value, from crm
    expect(item).to_contain_text('"marketing, later"')
    expect(item).to_contain_text("last_write_wins")
    expect(item).to_contain_text("later modification")
    expect(item).to_contain_text("incoming (marketing)")
    # Decided, not waiting: no card to decide, and both systems take the later value.
    expect(page.locator(f'[data-conflict="{resolved_id}"]')).to_have_count(0)
    screenshot(page, "conflicts")
    eventually(
        lambda: (
            [_person(a, firstname="Edsger")[0]["jobtitle"] for a in (served.crm, served.marketing)]
            == ["marketing, later", "marketing, later"]
        )
    )
    item.get_by_role("link").click()
    expect(page.get_by_role("row", name="title")).to_contain_text("marketing")


def test_the_metrics_chart_what_ran_and_the_page_fits_a_phone(page: Page, served: Served) -> None:
    sign_in(page, served)
    page.get_by_role("link", name="Metrics").click()
    chart = page.get_by_role("img", name="Records written per hour")
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() >= 1
    expect(page.get_by_role("img", name="Latency p95 per stage (ms)")).to_contain_text("fetch")
    screenshot(page, "metrics")

    page.set_viewport_size({"width": 390, "height": 844})
    for view in ("runs", "conflicts", "duplicates", "metrics", "connections"):
        page.get_by_role("link", name=view.title()).click()
        expect(page.locator("#view")).not_to_have_attribute("aria-busy", "true")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (view, width)
    screenshot(page, "connections-narrow")
