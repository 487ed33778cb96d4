"""Webhooks in the browser: a tenant admin registers an endpoint at a real local receiver (a refused address
first), copies the secret shown once, reads the delivery of an event in the log and replays it; the receiver
gets the replay with the same webhook-id, signed under the secret the page showed."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect
from standardwebhooks import Webhook

from tests.browser.conftest import ARTIFACTS, nav_links, sign_in
from tests.factories import make_tenant, make_tenant_user
from tests.integration.test_webhooks import _attempt, _deliver_event
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.browser


async def test_tenant_admin_registers_an_endpoint_and_replays_a_delivery(page: Page, receiver: Receiver) -> None:
    tenant = await make_tenant("hooks-ui")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in(page, admin.email)
    assert "Webhooks" in await nav_links(page)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks", exact=True).click()
    await expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()
    await page.get_by_role("button", name="New endpoint").click()

    # An address Tenline may not reach: refused next to the URL field, nothing typed lost.
    await page.get_by_label("URL", exact=True).fill("http://10.0.0.1/")
    await page.get_by_label("Description").fill("CRM events")
    await page.get_by_label("An SLA target is breached").check()
    await page.get_by_label("A contact ends").check()
    await page.get_by_role("button", name="Create endpoint").click()
    await expect(page.locator("#e-url-error")).to_have_text(
        "10.0.0.1 resolves to 10.0.0.1, which webhooks may not reach."
    )
    await expect(page.get_by_label("URL", exact=True)).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Description")).to_have_value("CRM events")
    await expect(page.get_by_label("An SLA target is breached")).to_be_checked()
    await expect(page.get_by_label("A contact ends")).to_be_checked()
    await expect(page.get_by_label("An SLA target is at risk")).not_to_be_checked()

    await page.get_by_label("URL", exact=True).fill(receiver.url)
    await page.get_by_role("button", name="Create endpoint").click()
    shown = page.locator("#signing-secret")
    await expect(shown).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]{40,}$"))
    secret = await shown.inner_text()
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "webhook-created.png"), full_page=True)

    # The list; the endpoint's own page no longer shows the secret.
    await page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Webhooks").click()
    row = page.locator("#rows tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("CRM events")
    await expect(row).to_contain_text("An SLA target is breached")
    await expect(row.locator(".endpoint-status")).to_have_text("enabled")
    await expect(row.locator(".last-delivery")).to_contain_text("None yet")
    await row.get_by_role("link", name=receiver.url).click()
    await expect(page.get_by_label("URL", exact=True)).to_have_value(receiver.url)
    await expect(page.locator("#signing-secret")).to_have_count(0)
    assert secret not in await page.content()

    # An SLA breach is delivered (through the services, as the worker does); the log shows it.
    (delivery_id,) = await _deliver_event(tenant.id, "sla.breached", {"target": "service_level"})
    assert await _attempt(tenant.id, delivery_id) is None
    ((first_headers, first_body),) = receiver.received
    assert Webhook(secret).verify(first_body, first_headers)["type"] == "sla.breached"
    await page.get_by_role("link", name="Delivery log").click()
    delivery = page.locator(f"#delivery-{delivery_id}")
    await expect(delivery).to_contain_text("sla.breached")
    await expect(delivery).to_contain_text("delivered")
    await expect(delivery.locator(".response")).to_have_text("HTTP 204")
    await expect(delivery.locator(".attempts")).to_have_text("1")
    await delivery.get_by_role("link", name="sla.breached").click()
    await expect(page.locator("#webhook-id")).to_have_text(first_headers["webhook-id"])
    await expect(page.locator("#response-status")).to_have_text("HTTP 204")
    await expect(page.get_by_role("region", name="Request")).to_contain_text(first_headers["webhook-signature"])
    await expect(page.locator("#request-body")).to_contain_text('"target":"service_level"')
    await page.screenshot(path=str(ARTIFACTS / "webhook-delivery.png"), full_page=True)

    # Replay: the worker's next attempt goes out with the same webhook-id.
    await page.get_by_role("button", name="Replay").click()
    await expect(page.locator("#alerts")).to_contain_text("Replay queued")
    await expect(page.locator("#delivery-status")).to_have_text("pending")
    assert await _attempt(tenant.id, delivery_id) is None
    assert len(receiver.received) == 2
    replay_headers, replay_body = receiver.received[1]
    assert replay_headers["webhook-id"] == first_headers["webhook-id"]
    assert Webhook(secret).verify(replay_body, replay_headers) == Webhook(secret).verify(first_body, first_headers)
    await page.reload()
    await expect(page.locator("#delivery-status")).to_have_text("delivered")
    await expect(page.locator("#delivery-attempts")).to_have_text("1")
