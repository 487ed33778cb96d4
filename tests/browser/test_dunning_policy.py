"""Dunning in the browser: an operator admin gives a tenant payment terms of its own (a refused value told next to
its field first), and the tenant's admin finds them on the billing page with the overdue invoice and the reminder
the dunning job sent for it."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import ARTIFACTS, sign_in
from tests.factories import make_staff, make_tenant_user
from tests.integration.test_billing_dunning import DAY, issued, run

pytestmark = pytest.mark.browser


async def test_an_operator_admin_sets_a_tenants_terms_and_its_admin_reads_them(page: Page) -> None:
    billed, invoice = await issued("dunning-browser")  # issued now, unpaid: 1,875.00 EUR
    assert invoice.issued_at is not None and invoice.number is not None
    operator = await make_staff("operator_admin")
    admin = await make_tenant_user(billed.tenant_id, "tenant_admin")

    await sign_in(page, operator.email)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Dunning").click()
    await expect(page.locator("#only-sanction")).to_contain_text("the policy's only sanction")
    row = page.locator(f"#policy-{billed.tenant_id}")
    await expect(row).to_contain_text("Operator's default")
    await row.get_by_role("link", name="Dunning policy of").click()

    await page.get_by_label("Payment terms (days)").fill("0")
    await page.get_by_label("Reminders (days after the due date)").fill("5, 2")
    await page.get_by_label("Suspend API clients (days after the due date)").fill("1")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#tenant-suspend_after_days-error")).to_have_text(
        "Must be on or after the last reminder (day 5), so the suspension is announced."
    )
    await expect(page.get_by_label("Reminders (days after the due date)")).to_have_value("5, 2")
    await page.get_by_label("Suspend API clients (days after the due date)").fill("10")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("saved.")).to_be_visible()
    await expect(row).to_contain_text("Own policy (version 1)")
    await expect(row).to_contain_text("2 and 5 days after due")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "billing-dunning-operator.png", full_page=True)

    # The next run of the dunning job works to the new terms: due at issue, the first reminder 2 days after.
    assert (await run(billed.tenant_id, invoice.issued_at + 2 * DAY)).reminders == 1

    await page.context.clear_cookies()
    await sign_in(page, admin.email)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing", exact=True).click()
    await expect(page.locator("#terms-due")).to_have_text("0 days after the invoice is issued")
    await expect(page.locator("#terms-reminders")).to_contain_text("2 and 5 days after the due date")
    await expect(page.locator("#terms-suspension")).to_contain_text("10 days after the due date")
    overdue = page.locator(f"#overdue-{invoice.id}")
    await expect(overdue).to_contain_text(invoice.number)
    await expect(overdue).to_contain_text("1,875.00 EUR")
    await expect(overdue).to_contain_text("2 days after due")
    await expect(overdue).to_contain_text(f"from {invoice.issued_at + 10 * DAY:%Y-%m-%d}")
    await page.locator("#payment-terms").screenshot(path=ARTIFACTS / "billing-payment-terms.png")
