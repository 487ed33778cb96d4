"""The margin page in the browser: an operator admin opens it from the billing page, picks a month, is told what
is wrong with a mistyped pool cost, enters it and sees the tenant's cost and margin."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import Page, expect

from app.core.clock import utcnow
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.factories import make_staff
from tests.integration.test_billing_margin import Handled, charges, priced_desk, work
from tests.integration.test_billing_metering import S

pytestmark = pytest.mark.browser

# A month of its own (the integration tests' is April 2025): this tenant's agent time is the pool's whole.
MONTH = dt.date(2025, 5, 1)


async def test_an_operator_admin_enters_the_pool_cost_and_sees_the_margins(page: Page) -> None:
    desk = await priced_desk("margin-page", "EUR", charges(100_000, "0.40"), MONTH)
    await work(desk, MONTH, [Handled(12, S(900), S(40), S(60))])  # 1000 s of agent time, one contact

    operator = await make_staff("operator_admin")
    await sign_in(page, operator.email)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
    await page.get_by_role("link", name="Margin per tenant").click()
    await expect(page.get_by_role("heading", name="Margin per tenant")).to_be_visible()
    await page.get_by_role("link", name="This month so far (estimates)").click()
    await expect(page.get_by_label("Month", exact=True)).to_have_value(f"{utcnow():%Y-%m}")
    await page.get_by_label("Month", exact=True).fill(f"{MONTH:%Y-%m}")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url(f"**/operator/billing/margin?month={MONTH:%Y-%m}")

    row = page.locator(f"#margin-{desk.tenant_id}")
    cells = row.locator("td")
    # Not invoiced: the estimate, 1,000.00 + 0.40 for the contact.
    await expect(cells.nth(0)).to_have_text("estimate")
    await expect(cells.nth(3)).to_have_text("1,000.40 EUR")
    await expect(cells.nth(6)).to_have_text("no pool cost entered")

    amount = page.get_by_label("Pool cost (EUR)")
    await amount.fill("4OO")
    await page.get_by_role("button", name="Save pool cost").click()
    await expect(page.locator("#pool-amount-error")).to_have_text(
        "An amount in EUR with at most 2 decimals, e.g. 12500.00."
    )
    await expect(amount).to_have_value("4OO")

    await amount.fill("400.00")
    await page.get_by_label("Note").fill("Payroll, May")
    await page.get_by_role("button", name="Save pool cost").click()
    await expect(page.get_by_role("status")).to_have_text("The pool cost of May 2025 is saved: 400.00 EUR.")
    await expect(page.locator("#pool-cost-amount")).to_have_text("400.00 EUR")
    # The whole pool's time was this tenant's: all of the cost, and 1,000.40 - 400.00 = 600.40 (60.02%).
    await expect(cells.nth(6)).to_have_text("400.00 EUR")
    await expect(cells.nth(7)).to_have_text("600.40 EUR")
    await expect(cells.nth(8)).to_have_text("60.02%")
    # Other tenants' cards may be in force this month too (they would be listed), but the pool's time was this one's.
    await expect(page.locator("#margin-totals td").nth(2)).to_have_text("400.00 EUR")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "billing-margin.png"), full_page=True)
