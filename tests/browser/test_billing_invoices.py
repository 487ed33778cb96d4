"""Invoices in the browser: a tenant admin opens the billing page, finds last month's invoice, opens the printable
invoice and downloads its lines as CSV and the PDF."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from app.core.db import get_database
from app.core.tenancy import acting_as
from billing import invoicing
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.factories import OPERATOR, make_tenant_user
from tests.integration.test_billing_invoice_pages import pdf_text
from tests.integration.test_billing_invoices import drafted

pytestmark = pytest.mark.browser


async def test_a_tenant_admin_downloads_an_invoice(page: Page) -> None:
    billed, draft = await drafted("invoice-browser")  # 1,500.00 EUR platform fee, 25% tax: 1,875.00 EUR
    with acting_as(OPERATOR.acting_for(billed.tenant_id)):
        async with get_database().session() as session:
            final = await invoicing.finalise(session, draft.id, if_match=None)
    assert final.number is not None
    admin = await make_tenant_user(billed.tenant_id, "tenant_admin")
    await sign_in(page, admin.email)

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing", exact=True).click()
    row = page.locator(f"#invoice-{final.id}")
    await expect(row).to_contain_text(final.number)
    await expect(row).to_contain_text(f"{billed.month:%Y-%m}")
    await expect(row).to_contain_text("1,875.00 EUR")
    await expect(row).to_contain_text("unpaid")

    async with page.expect_download() as lines:
        await row.get_by_role("link", name=f"Lines of invoice {final.number} as CSV").click()
    download = await lines.value
    assert download.suggested_filename == f"{final.number}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text())))
    assert [(row["kind"], row["amount_minor"]) for row in rows] == [("platform_fee", "150000"), ("tax", "37500")]

    await row.get_by_role("link", name=f"Invoice {final.number}", exact=True).click()
    await expect(page.locator("#invoice-title")).to_have_text(f"Invoice {final.number}")
    await expect(page.locator("#invoice-total")).to_contain_text("1,875.00 EUR")
    await page.emulate_media(media="print")
    await expect(page.locator("aside.sidebar")).to_be_hidden()  # printed: the invoice alone
    await expect(page.locator(".invoice-actions")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "billing-invoice-print.png", full_page=True)
    await page.emulate_media(media="screen")

    async with page.expect_download() as document:
        await page.locator("#invoice-pdf").click()
    pdf = Path(await (await document.value).path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert f"Invoice {final.number}" in pdf_text(pdf) and "1,875.00 EUR" in pdf_text(pdf)
