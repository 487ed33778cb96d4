"""Disposition codes in the browser: a tenant admin adds one, deactivates a default, meets a stale edit and
deletes an unused code; a supervisor reads the list."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page, expect

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.routing import dispositions, schemas
from tests.browser.conftest import ARTIFACTS, nav_links, sign_in
from tests.factories import OPERATOR, make_tenant, make_tenant_user

pytestmark = pytest.mark.browser


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


async def _open_list(page: Page) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Disposition codes").click()
    await expect(page.get_by_role("heading", name="Disposition codes", exact=True)).to_be_visible()


async def test_tenant_admin_manages_disposition_codes(page: Page) -> None:
    tenant = await make_tenant("wrapup")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    await sign_in(page, admin.email)
    assert "Disposition codes" in await nav_links(page)
    await _open_list(page)
    for code in ("resolved", "follow-up", "escalated", "no-answer", "wrong-number"):
        await expect(page.locator("#rows").get_by_role("link", name=code, exact=True)).to_be_visible()

    # A code that breaks the API's rule is refused next to its field, and what was typed stays.
    await page.get_by_role("button", name="New disposition code").click()
    await page.get_by_label("Code").fill("Sold Card")
    await page.get_by_label("Label").fill("Sold a card")
    await page.get_by_label("When to choose it").fill("The caller took out a new card.")
    await page.get_by_role("button", name="Create disposition code").click()
    await expect(page.locator("#d-code-error")).to_contain_text("Must be lowercase letters, digits")
    await expect(page.get_by_label("Label")).to_have_value("Sold a card")
    await expect(page.get_by_label("When to choose it")).to_have_value("The caller took out a new card.")
    await page.get_by_label("Code").fill("sold-card")
    await page.get_by_role("button", name="Create disposition code").click()
    await expect(page.locator("#alerts")).to_contain_text("Disposition code sold-card created.")
    await expect(page.locator("#rows")).to_contain_text("The caller took out a new card.")

    # Deactivating a default takes it off agents' lists; the list says so.
    await page.locator("#rows").get_by_role("link", name="resolved", exact=True).click()
    await expect(page.get_by_label("Code")).to_have_attribute("readonly", "readonly")
    await page.get_by_role("switch", name="Active: agents may choose it").uncheck()
    await page.get_by_role("button", name="Save disposition code").click()
    await expect(page.locator("#alerts")).to_contain_text("Disposition code resolved saved.")
    resolved = page.locator("#rows tr", has=page.get_by_role("link", name="resolved", exact=True))
    await expect(resolved).to_contain_text("inactive")
    await page.screenshot(path=str(ARTIFACTS / "disposition-codes.png"), full_page=True)

    # Someone else relabels the new code while the admin edits it: the save keeps what was typed.
    await page.locator("#rows").get_by_role("link", name="sold-card", exact=True).click()
    await page.get_by_label("Label").fill("Card sold")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            codes = (await dispositions.list_codes(session, cursor=None, limit=50)).items
            (sold,) = [code for code in codes if code.code == "sold-card"]
            await dispositions.update_code(session, sold.id, schemas.DispositionCodeUpdate(label="New card"))
    await page.get_by_role("button", name="Save disposition code").click()
    await expect(page.locator("#disposition-form")).to_contain_text("Someone else saved this disposition code")
    await expect(page.get_by_label("Label")).to_have_value("Card sold")
    await expect(page.locator("#d-label-help")).to_have_text("Saved meanwhile: New card")

    # Never used, it may be deleted.
    page.once("dialog", _accept)
    await page.get_by_role("button", name="Delete disposition code").click()
    await expect(page.locator("#alerts")).to_contain_text("Disposition code sold-card deleted.")
    await expect(page.locator("#rows").get_by_role("link", name="sold-card", exact=True)).to_have_count(0)


async def test_a_supervisor_reads_the_codes_without_changing_them(page: Page) -> None:
    tenant = await make_tenant("wrapup-read")
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    await sign_in(page, supervisor.email)
    await _open_list(page)
    await expect(page.get_by_role("button", name="New disposition code")).to_have_count(0)
    await page.locator("#rows").get_by_role("link", name="escalated", exact=True).click()
    await expect(page.get_by_label("Label")).to_be_disabled()
    await expect(page.get_by_role("button", name="Save disposition code")).to_have_count(0)
