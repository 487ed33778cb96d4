"""The agent desktop and the live board in a browser, against the real router process.

An agent goes available, gets an offer live (tenant, queue, countdown), accepts, sees the script and the
caller, holds and resumes, ends, records a disposition and is available again; the disposition reaches
PostgreSQL. A supervisor's board shows a queue's waiting count change without a reload.
"""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest
from playwright.async_api import Page, expect

from app.routing import commands as cmd
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.factories import make_agent, make_tenant, make_tenant_user
from tests.routed import interaction_row, make_queue, route

pytestmark = pytest.mark.browser

SCRIPT = "Greet the caller by name.\nConfirm the date of birth before any card change."
COUNTDOWN = re.compile(r"^0:(\d\d)$")


async def test_agent_takes_an_offer_and_wraps_up(page: Page, router_process: subprocess.Popen[bytes]) -> None:
    tenant = await make_tenant("desk")
    queue_id = await make_queue(tenant.id, "Card services", script=SCRIPT, wrap_up_seconds=120)
    agent = await make_agent(tenant.id)
    await route(cmd.Reconfigure())

    await sign_in(page, agent.email)
    await expect(page.get_by_role("heading", name="Agent desktop")).to_be_visible()
    await expect(page.locator("#presence-state")).to_have_text("Offline")
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#presence-state")).to_have_text("Available")

    contact = uuid.uuid4()
    await route(
        cmd.ContactArrive(
            contact_id=contact,
            tenant_id=tenant.id,
            queue_id=queue_id,
            caller="+442071838750",
            context={"IVR": "2 · lost or stolen card"},
        )
    )
    # The offer arrives by itself (server-sent events), naming the tenant, and counts down.
    offer = page.get_by_role("article", name="Offer")
    await expect(offer.locator("#offer-tenant")).to_have_text(tenant.name)
    await expect(offer.locator("#offer-queue")).to_have_text("Card services")
    await expect(offer.locator("#offer-caller")).to_have_text("+442071838750")
    countdown = offer.locator("#offer-countdown")
    await expect(countdown).to_have_text(COUNTDOWN)
    first = int(COUNTDOWN.match(await countdown.inner_text()).group(1))  # type: ignore[union-attr]
    await expect(countdown).not_to_have_text(f"0:{first:02d}")
    assert int(COUNTDOWN.match(await countdown.inner_text()).group(1)) < first  # type: ignore[union-attr]
    await expect(page.locator("#presence-state")).to_have_text("Offer waiting")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "desktop-offer.png"), full_page=True)

    await offer.get_by_role("button", name="Accept").click()
    card = page.locator(f"#contact-{contact}")
    await expect(card.locator(".tenant-tag")).to_have_text(tenant.name)
    await expect(card.locator(".queue")).to_have_text("Card services")
    await expect(card.locator(".script")).to_have_text(SCRIPT)
    await expect(card.locator(".caller")).to_have_text("+442071838750")
    await expect(card).to_contain_text("2 · lost or stolen card")
    await expect(page.locator("#presence-state")).to_have_text("On a contact")
    await expect(offer).to_have_count(0)
    await page.screenshot(path=str(ARTIFACTS / "desktop-contact.png"), full_page=True)

    await card.get_by_role("button", name="Hold").click()
    await expect(card.locator(".badge-hold")).to_have_text("On hold")
    await card.get_by_role("button", name="Resume").click()
    await expect(card.locator(".badge-hold")).to_have_count(0)

    await card.get_by_role("button", name="End").click()
    await expect(card).to_have_count(0)
    await expect(page.locator("#presence-state")).to_have_text("Wrap-up")
    wrap_up = page.locator(f"#wrap-up-{contact}")
    await expect(wrap_up).to_contain_text(tenant.name)
    await expect(page.locator("#wrap-up-left")).to_have_text(re.compile(r"^[12]:\d\d left$"))
    await page.screenshot(path=str(ARTIFACTS / "desktop-wrap-up.png"), full_page=True)
    await wrap_up.get_by_label("Disposition").select_option("escalated")
    await wrap_up.get_by_role("button", name="Save disposition").click()
    await expect(page.locator("#presence-state")).to_have_text("Available")
    await expect(wrap_up).to_have_count(0)
    await expect(page.locator("#desk-idle")).to_have_text("Waiting for the next contact.")

    row = await interaction_row(contact, tenant.id)
    assert row is not None
    assert (row.state, row.disposition, row.caller) == ("ended", "escalated", "+442071838750")
    assert row.hold_seconds > 0


async def test_supervisor_sees_a_queue_change_without_reloading(
    page: Page, router_process: subprocess.Popen[bytes]
) -> None:
    tenant = await make_tenant("board")
    queue_id = await make_queue(tenant.id, "Claims")
    await make_agent(tenant.id)  # offline: the contact waits
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    await route(cmd.Reconfigure())

    await sign_in(page, supervisor.email)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Live", exact=True).click()
    await expect(page.get_by_role("heading", name="Live", exact=True)).to_be_visible()
    row = page.locator(f"#queue-{queue_id}")
    await expect(row.locator(".waiting")).to_have_text("0")
    await expect(page.locator(".live-agents")).to_contain_text("Offline")
    await page.evaluate("window.sameDocument = true")

    await route(cmd.ContactArrive(contact_id=uuid.uuid4(), tenant_id=tenant.id, queue_id=queue_id, caller="+15551234"))
    await expect(row.locator(".waiting")).to_have_text("1")
    await expect(row.locator(".longest")).to_have_text(re.compile(r"^0:\d\d$"))
    assert await page.evaluate("window.sameDocument") is True
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "live-tenant.png"), full_page=True)
