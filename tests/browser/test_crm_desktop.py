"""The CRM lookup on the agent desktop, in a browser against the real router process: the offered contact shows
the CRM's record for the caller (title with its link, fields), and the contact card keeps it after the agent
accepts, with one request to the CRM for both."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from playwright.async_api import Page, expect

from app.routing import commands as cmd
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.factories import make_agent, make_tenant
from tests.integration.test_crm_lookup import _set_up
from tests.routed import make_queue, route
from tests.webhook_receiver import Receiver, Reply

pytestmark = pytest.mark.browser

RECORD = {
    "title": "Ada Lovelace",
    "url": "https://crm.example/contacts/42",
    "fields": {"Tier": "Gold", "Open cases": 2, "Card blocked": True},
}


async def test_agent_sees_the_callers_crm_record_on_the_offer(
    page: Page, router_process: subprocess.Popen[bytes], receiver: Receiver
) -> None:
    tenant = await make_tenant("crm-pop")
    queue_id = await make_queue(tenant.id, "Card services")
    agent = await make_agent(tenant.id)
    await _set_up(tenant.id, receiver.url)
    receiver.default = Reply(200, {"content-type": "application/json"}, json.dumps(RECORD).encode())
    await route(cmd.Reconfigure())

    await sign_in(page, agent.email)
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
    offer = page.get_by_role("article", name="Offer")
    await expect(offer.locator("#offer-caller")).to_have_text("+442071838750")
    panel = offer.get_by_role("region", name="CRM")
    record = panel.get_by_role("link", name="Ada Lovelace")
    await expect(record).to_have_attribute("href", "https://crm.example/contacts/42")
    await expect(panel.locator("dt")).to_have_text(["Tier", "Open cases", "Card blocked"])
    await expect(panel.locator("dd")).to_have_text(["Gold", "2", "yes"])
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "desktop-crm-offer.png"), full_page=True)

    await offer.get_by_role("button", name="Accept").click()
    card = page.locator(f"#contact-{contact}")
    await expect(card.locator(".caller")).to_have_text("+442071838750")
    card_panel = card.get_by_role("region", name="CRM")
    await expect(card_panel.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    await expect(card_panel.locator("dd")).to_have_text(["Gold", "2", "yes"])
    await expect(offer).to_have_count(0)
    await page.screenshot(path=str(ARTIFACTS / "desktop-crm-contact.png"), full_page=True)
    assert len(receiver.received) == 1
