"""The admin page's webhook inbox and the runs' triggers, driven in chromium (conftest.py).

A webhook is registered for the demo's crm through the API; the sandbox's signed delivery
of an edit is posted over loopback HTTP to the app, as the sandbox would send it. The page
shows the registration and its delivery; a replay from the page, of the delivery and then
of a time range, applies it once more and changes nothing (no duplicate anywhere); and the
runs view says which run "Sync now" started and which the webhook did.

The tests of this module share one served app and run in order.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Served, eventually, screenshot, sign_in
from tests.harness.webhooks import standard_webhooks_delivery

pytestmark = [pytest.mark.browser]

HOOK = "crm-hook"


def _people(served: Served) -> dict[str, list[tuple[Any, Any]]]:
    """Each system's contacts, as (email, city) pairs, sorted."""
    return {
        name: sorted((r.properties.get("email"), r.properties.get("city")) for r in records)
        for name, records in (
            ("crm", served.crm.records("contacts")),
            ("marketing", served.marketing.records("contacts")),
        )
    }


def test_sync_now_starts_a_run_whose_trigger_is_manual(page: Page, served: Served) -> None:
    sign_in(page, served)
    crm = page.locator('[data-connection="crm"]')
    crm.get_by_role("button", name="Sync now").click()
    expect(crm.get_by_role("status")).to_contain_text("Sync started")
    page.get_by_role("link", name="Runs").click()
    run = page.locator(".run").first
    expect(run).to_have_attribute("data-status", "success", timeout=30_000)
    expect(run).to_have_attribute("data-trigger", "manual")
    expect(run.locator(".badge.trigger")).to_have_text("manual")
    eventually(served.idle)


def test_a_signed_delivery_shows_in_the_inbox_and_replays_apply_it_once(
    page: Page, served: Served
) -> None:
    registered = served.api.post(
        "admin/webhooks",
        json={"id": HOOK, "connectionId": "crm", "provider": "standard_webhooks"},
    )
    secret = registered.raise_for_status().json()["secret"]
    [record] = [r for r in served.crm.records("contacts") if r.properties["firstname"] == "Edsger"]
    email = record.properties["email"]
    served.crm.update("contacts", record.id, {"city": "Lyon"})
    event = served.crm.webhook_event("contacts", record.id)
    msg_id = "msg_" + uuid.uuid4().hex
    headers, body = standard_webhooks_delivery(
        secret, json.dumps({"events": [event]}).encode(), msg_id=msg_id
    )
    delivery_id = f"standard_webhooks:{msg_id}"  # the receiver's id: provider and its own
    answered = httpx.post(f"{served.base}/webhooks/{HOOK}", content=body, headers=headers)
    assert answered.status_code == 202, answered.text

    def marketing_city() -> str | None:
        [twin] = [r for r in served.marketing.records("contacts") if r.properties["email"] == email]
        return twin.properties.get("city")

    forged, _ = standard_webhooks_delivery("whsec_" + "A" * 44, body)
    refused = httpx.post(f"{served.base}/webhooks/{HOOK}", content=body, headers=forged)
    assert refused.status_code == 401
    eventually(lambda: marketing_city() == "Lyon")  # the webhook's run pushed the edit
    eventually(served.idle)
    before = _people(served)

    sign_in(page, served)
    page.get_by_role("link", name="Webhooks").click()
    card = page.locator(f'[data-webhook="{HOOK}"]')
    expect(card).to_contain_text("standard_webhooks")
    expect(card).to_contain_text("active")
    expect(card).to_contain_text("1 (last: bad_signature)")
    card.get_by_role("link", name=f"Deliveries of {HOOK}").click()
    row = page.locator(f'[data-delivery="{delivery_id}"]')
    expect(row).to_contain_text("accepted")
    expect(row).to_contain_text("202")
    forgery = page.get_by_role("row").filter(has_text="refused")
    expect(forgery).to_contain_text("bad_signature")
    expect(forgery.get_by_role("button")).to_have_count(0)  # nothing was admitted to replay
    content = page.content()
    assert secret.removeprefix("whsec_") not in content
    assert headers["webhook-signature"] not in content

    output = page.locator("#replay-output")
    row.get_by_role("button", name=f"Replay delivery {delivery_id}").click()
    expect(output).to_contain_text("1 of 1 done (success)", timeout=30_000)
    expect(output).to_contain_text("read 1, created 0, updated 0, unchanged 1")
    eventually(served.idle)
    assert _people(served) == before  # applied once: nothing changed, nobody duplicated

    # A range, from the keyboard: the fields are labelled and Enter submits.
    page.get_by_label("To").focus()
    page.keyboard.press("Enter")
    expect(output).to_contain_text("Range replay: 1 of 1 done (success)", timeout=30_000)
    expect(output).to_contain_text("unchanged 1")
    eventually(served.idle)
    assert _people(served) == before
    screenshot(page, "webhooks")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls
    page.set_viewport_size({"width": 1100, "height": 800})

    page.get_by_label("From").fill("2001-01-01T00:00")
    page.get_by_label("To").fill("2001-01-02T00:00")
    page.get_by_role("button", name="Replay range").click()
    expect(output).to_have_text("Range replay: no delivery was received in that range.")


def test_the_runs_say_which_the_webhook_and_its_replays_started(page: Page, served: Served) -> None:
    sign_in(page, served)
    page.get_by_role("link", name="Runs").click()
    expect(page.get_by_label("Task")).to_have_value("crm-contacts")
    runs = page.locator(".run")
    expect(runs.and_(page.locator('[data-trigger="manual"]'))).to_have_count(1)
    expect(runs.and_(page.locator('[data-trigger="webhook"]'))).to_have_count(1)
    expect(runs.and_(page.locator('[data-trigger="replay"]'))).to_have_count(2)
    webhook_run = runs.and_(page.locator('[data-trigger="webhook"]'))
    expect(webhook_run).to_contain_text("updated1")


def test_deliveries_come_fifty_at_a_time_and_load_more_shows_the_rest(
    page: Page, served: Served
) -> None:
    registered = served.api.post(
        "admin/webhooks",
        json={"id": "quiet-hook", "connectionId": "marketing", "provider": "standard_webhooks"},
    )
    secret = registered.raise_for_status().json()["secret"]
    with httpx.Client(base_url=served.base) as client:
        for _ in range(51):  # events of nothing Lockstep syncs: admitted, nothing to apply
            headers, body = standard_webhooks_delivery(secret, b'{"events": []}')
            assert client.post("webhooks/quiet-hook", content=body, headers=headers).is_success
    sign_in(page, served)
    page.get_by_role("link", name="Webhooks").click()
    expect(page.locator("[data-webhook]")).to_have_count(2)
    page.get_by_role("link", name="Deliveries of quiet-hook").click()
    rows = page.locator("[data-delivery]")
    expect(rows).to_have_count(50)
    more = page.get_by_role("button", name="Load more")
    more.click()
    expect(rows).to_have_count(51)
    expect(more).to_be_hidden()
