"""The billing page in the browser: a tenant admin reads the month's usage and estimate, then last month's;
the operator reads every tenant's month."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from playwright.async_api import Page, expect

from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from billing import service as billing
from billing.models import RateCardVersion
from tests.browser.conftest import ARTIFACTS, nav_links, sign_in
from tests.factories import make_staff, make_tenant_user
from tests.integration.test_billing_metering import S, handled, make_desk, meter

pytestmark = pytest.mark.browser

TERMS = {
    "charges": [
        {
            "kind": "handled_minutes",
            "id": "minutes",
            "include_wrap_up": True,
            "pricing": {"kind": "flat", "unit_price": "0.90"},
        },
        {"kind": "platform_fee", "id": "platform", "amount_minor": 50000, "description": "Platform"},
    ],
    "sla_credits": [],
}


async def test_a_tenant_admin_reads_usage_and_the_estimate(page: Page) -> None:
    desk = await make_desk("billing-page")
    today = dt.datetime.now(desk.zone).date()
    this_month = today.replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    with acting_as(system_principal(desk.tenant_id)):
        async with get_database().session() as session:
            session.add(
                RateCardVersion(
                    version=1, effective_from=last_month, currency="EUR", tax_rate_percent=Decimal(25), terms=TERMS
                )
            )
    await handled(desk, dt.datetime.combine(last_month.replace(day=12), dt.time(11)), talk=S("300"), wrap=S("30"))
    await handled(desk, dt.datetime.combine(this_month, dt.time(1)), talk=S("3600"), hold=S("60"), wrap=S("15"))
    await meter(desk.tenant_id)
    with acting_as(system_principal(desk.tenant_id)):
        async with get_database().session() as session:
            usage = await billing.usage(session)
    assert usage.estimate is not None

    admin = await make_tenant_user(desk.tenant_id, "tenant_admin")
    await sign_in(page, admin.email)
    assert "Billing" in await nav_links(page)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
    await expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_visible()
    await expect(page.locator("#total-contacts")).to_have_text("1")
    await expect(page.locator("#total-handled")).to_have_text("1:01:15")
    await expect(page.locator("#estimate-total")).to_have_text(str(usage.estimate.total))
    await expect(page.locator("#estimate tbody tr")).to_have_count(2)  # minutes, platform fee
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "billing-usage.png"), full_page=True)

    await page.get_by_label("Month", exact=True).fill(f"{last_month:%Y-%m}")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url(f"**/billing?period={last_month:%Y-%m}")
    await expect(page.locator("#total-handled")).to_have_text("0:05:30")
    await expect(page.locator("#days tbody tr")).to_have_count(1)

    operator = await make_staff("operator_admin")
    await page.context.clear_cookies()
    await sign_in(page, operator.email)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
    row = page.locator(f"#tenant-{desk.tenant_id}")
    await expect(row.locator("td").nth(1)).to_have_text("1")
    await expect(row.locator("td").nth(4)).to_have_text(str(usage.estimate.total))
    await page.screenshot(path=str(ARTIFACTS / "billing-operator.png"), full_page=True)
