"""Scheduled callbacks in the browser: booking on the tenant's clock, refusals next to their field, cancelling."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from playwright.async_api import Dialog, Page, expect

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from tenants import schemas as tenant_schemas
from tenants import service as tenants
from tests.browser.conftest import ARTIFACTS, nav_links, sign_in
from tests.factories import OPERATOR, make_tenant, make_tenant_user

pytestmark = pytest.mark.browser

ZONE = zoneinfo.ZoneInfo("Pacific/Auckland")  # far from UTC, so a time read in the wrong zone shows


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


def _local(at: dt.datetime) -> str:
    """The value a datetime-local input takes: the tenant's wall clock, to the minute."""
    return at.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


async def test_a_supervisor_books_a_callback_on_the_tenants_clock_and_cancels_it(page: Page) -> None:
    tenant = await make_tenant("callbacks-ui")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            row = await tenants.get_tenant(session, tenant.id, OPERATOR)
            await tenants.update_tenant(session, row, tenant_schemas.TenantUpdate(timezone=ZONE.key, locale="en-NZ"))
            await routing.create_queue(session, routing_schemas.QueueCreate(name="Returns"))
            await routing.create_queue(session, routing_schemas.QueueCreate(name="Web chat", channel="chat"))
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    await sign_in(page, supervisor.email)
    assert "Callbacks" in await nav_links(page)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Callbacks", exact=True).click()
    await expect(page.locator("#no-callbacks")).to_have_text("No callbacks to come.")
    await expect(page.get_by_label("Queue")).to_contain_text("Returns")
    await expect(page.get_by_label("Queue").locator("option", has_text="Web chat")).to_have_count(0)

    # Refusals come back next to their field; everything typed stays.
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(second=0, microsecond=0)
    await page.get_by_label("Queue").select_option(label="Returns")
    await page.get_by_label("Phone").fill("09 123")
    await page.get_by_label("Due").fill(_local(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    await page.get_by_label("Note").fill("Wants a refund for order 1142")
    await page.get_by_role("button", name="Schedule callback").click()
    await expect(page.locator("#new-phone-error")).to_have_text(
        re.compile(r"^Not a valid phone number of NZ, nor in international form")
    )
    await expect(page.get_by_label("Note")).to_have_value("Wants a refund for order 1142")
    await expect(page.get_by_label("Queue")).to_have_value(re.compile(r"^[0-9a-f-]{36}$"))

    await page.get_by_label("Phone").fill("09 379 6200")  # a national Auckland number: the tenant is in NZ
    await page.get_by_role("button", name="Schedule callback").click()
    await expect(page.locator("#new-due_at-error")).to_have_text("Must be in the future.")
    await expect(page.get_by_label("Phone")).to_have_value("09 379 6200")

    await page.get_by_label("Due").fill(_local(due))
    await page.get_by_role("button", name="Schedule callback").click()
    shown = due.astimezone(ZONE).strftime("%Y-%m-%d %H:%M")
    await expect(page.locator("#alerts")).to_contain_text(
        f"Callback to +6493796200 scheduled for {shown} (Pacific/Auckland)."
    )
    row = page.locator("#rows tr", has_text="+6493796200")
    await expect(row).to_contain_text(shown)
    await expect(row).to_contain_text("Returns")
    await expect(row).to_contain_text("Wants a refund for order 1142")
    await expect(row).to_contain_text("scheduled")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "callbacks.png"), full_page=True)

    # Cancelled: it leaves the upcoming list and shows among the recent ones.
    page.once("dialog", _accept)
    await row.get_by_role("button", name="Cancel the callback to +6493796200").click()
    await expect(page.locator("#alerts")).to_contain_text("Callback to +6493796200 cancelled.")
    await expect(page.locator("#rows tr", has_text="+6493796200")).to_have_count(0)
    await page.get_by_role("navigation", name="Callbacks").get_by_role("link", name="Recent").click()
    recent = page.locator("#rows tr", has_text="+6493796200")
    await expect(recent).to_contain_text("cancelled")
    await expect(recent.get_by_role("button")).to_have_count(0)


async def test_a_report_viewer_has_no_callbacks_page(page: Page) -> None:
    tenant = await make_tenant("callbacks-viewer")
    viewer = await make_tenant_user(tenant.id, "report_viewer")
    await sign_in(page, viewer.email)
    assert "Callbacks" not in await nav_links(page)
    response = await page.goto("/callbacks")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", name="You don't have access to this page")).to_be_visible()
