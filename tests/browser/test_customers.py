"""Customers in the browser: a tenant admin enters a customer with two numbers and finds them by phone."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page, expect

from app.core.db import get_database
from app.core.tenancy import acting_as
from tenants import schemas as tenant_schemas
from tenants import service as tenant_service
from tenants.models import Tenant
from tests.browser.conftest import ARTIFACTS, nav_links, sign_in
from tests.factories import OPERATOR, make_tenant, make_tenant_user

pytestmark = pytest.mark.browser


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


async def _norwegian_tenant() -> Tenant:
    """A tenant whose locale (nb-NO) makes numbers without a country code Norwegian."""
    tenant = await make_tenant("customers-ui")
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            row = await session.get(Tenant, tenant.id)
            assert row is not None
            return await tenant_service.update_tenant(session, row, tenant_schemas.TenantUpdate(locale="nb-NO"))


async def test_tenant_admin_creates_a_customer_and_finds_them_by_phone(page: Page) -> None:
    tenant = await _norwegian_tenant()
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    await sign_in(page, admin.email)
    assert "Customers" in await nav_links(page)

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers", exact=True).click()
    await expect(page.get_by_text("No customers yet.")).to_be_visible()
    await page.get_by_role("button", name="New customer").click()
    await page.get_by_label("Name", exact=True).fill("Kari Nordmann")
    await page.get_by_label("Email").fill("kari@example.no")
    await page.get_by_label("Phone number 1", exact=True).fill("22 12 34 56")
    # A second number: its row is added and focused, and what was typed stays.
    await page.get_by_role("button", name="Add phone number").click()
    await expect(page.get_by_label("Phone number 2", exact=True)).to_be_focused()
    await expect(page.get_by_label("Phone number 1", exact=True)).to_have_value("22 12 34 56")
    await page.get_by_label("Phone number 2", exact=True).fill("+47 1234")
    await page.get_by_role("button", name="Create customer").click()
    await expect(page.locator("#phone-1-error")).to_have_text("Too short for a number in +47 (NO).")
    await expect(page.get_by_label("Phone number 2", exact=True)).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Phone number 1", exact=True)).to_have_value("22 12 34 56")
    await expect(page.get_by_label("Email")).to_have_value("kari@example.no")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "customer-form.png"), full_page=True)
    await page.get_by_label("Phone number 2", exact=True).fill("+47 412 34 567")
    await page.get_by_role("button", name="Create customer").click()
    await expect(page.locator("#alerts")).to_contain_text("Customer Kari Nordmann created.")

    # Found by either number, however it is written; stored in E.164.
    search = page.get_by_role("search", name="Find customers")
    await search.get_by_label("Phone number").fill("412 34 567")
    await search.get_by_role("button", name="Search").click()
    row = page.locator("#rows tr", has_text="Kari Nordmann")
    await expect(row).to_contain_text("+4722123456")
    await expect(row).to_contain_text("+4741234567")
    await page.screenshot(path=str(ARTIFACTS / "customers.png"), full_page=True)
    await search.get_by_label("Phone number").fill("+47 99 99 99 99")
    await search.get_by_role("button", name="Search").click()
    await expect(page.get_by_text("No customer matches.")).to_be_visible()
    await search.get_by_label("Phone number").fill("12")
    await search.get_by_role("button", name="Search").click()
    await expect(page.locator("#search-phone-error")).to_contain_text("Too short for a number in +47 (NO)")
    await search.get_by_label("Phone number").fill("")
    await search.get_by_label("Name or email").fill("NORDMANN")
    await search.get_by_role("button", name="Search").click()
    await page.locator("#rows").get_by_role("link", name="Kari Nordmann").click()

    # The customer's page: details and their calls (none yet); the admin deletes them there.
    await expect(page.locator("#customer-details")).to_contain_text("kari@example.no")
    await expect(page.locator("#customer-interactions")).to_contain_text("No calls from these numbers yet.")
    await page.screenshot(path=str(ARTIFACTS / "customer.png"), full_page=True)
    page.once("dialog", _accept)
    await page.get_by_role("button", name="Delete customer").click()
    await expect(page.locator("#alerts")).to_contain_text("Customer Kari Nordmann deleted.")
    await expect(page.get_by_text("No customers yet.")).to_be_visible()
