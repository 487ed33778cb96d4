"""Invoice pages: the operator reviews every tenant's drafts (finalise, void, refusals told), the tenant's billing
page lists its issued invoices, the printable invoice and its PDF carry the same number and total."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import pytest
from pypdf import PdfReader

from app.core.db import get_database
from app.core.settings import get_settings
from app.core.tenancy import acting_as
from tenants import schemas as tenant_schemas
from tenants import service as tenants
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_staff, make_tenant_user, sign_in
from tests.integration.test_billing_invoices import drafted


@pytest.fixture(scope="module")
async def pages(live_server: LiveServer) -> Any:
    """Two tenants' drafts for last month (1,500.00 EUR + 25% tax each), an operator admin and a tenant admin."""
    (first, first_draft), (second, second_draft) = await drafted("pages-first"), await drafted("pages-second")
    operator = await make_staff("operator_admin")
    admin = await make_tenant_user(first.tenant_id, "tenant_admin")
    operator_client = (await sign_in(live_server.url, operator.email)).client
    admin_client = (await sign_in(live_server.url, admin.email)).client
    yield {"first": (first, first_draft.id), "second": (second, second_draft.id)}, operator_client, admin_client
    await operator_client.aclose()
    await admin_client.aclose()


async def rename(tenant_id: uuid.UUID, name: str) -> None:
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            row = await tenants.get_tenant(session, tenant_id, OPERATOR)
            await tenants.update_tenant(session, row, tenant_schemas.TenantUpdate(name=name))
            await session.commit()


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF as a reader extracts it (through the fonts' Unicode maps)."""
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def test_the_operator_reviews_every_tenants_drafts(pages: Any) -> None:
    drafts, operator, _ = pages
    (_, first_id), (second, second_id) = drafts["first"], drafts["second"]
    page = await operator.get("/operator/billing")
    assert page.status_code == 200, page.text
    for invoice_id in (first_id, second_id):
        assert f'action="/operator/billing/invoices/{invoice_id}/finalise"' in page.text

    finalised = await operator.post(
        f"/operator/billing/invoices/{first_id}/finalise",
        data={"tenant_id": str(drafts["first"][0].tenant_id), "version": "1"},
    )
    assert finalised.status_code == 303, finalised.text
    after = await operator.get("/operator/billing")
    assert re.search(r"INV-\d{4}-\d{6} of \d{4}-\d{2} is finalised", after.text), after.text
    assert f'action="/operator/billing/invoices/{first_id}/finalise"' not in after.text
    revenue = re.search(r'<tr id="revenue-' + str(drafts["first"][0].tenant_id) + r'-EUR">(.*?)</tr>', after.text, re.S)
    assert revenue is not None and revenue.group(1).count("1,875.00 EUR") == 2  # invoiced, outstanding

    again = await operator.post(
        f"/operator/billing/invoices/{first_id}/finalise",
        data={"tenant_id": str(drafts["first"][0].tenant_id), "version": "2"},
    )
    assert again.status_code == 303
    assert "only a draft is finalised" in (await operator.get("/operator/billing")).text

    stale = {"tenant_id": str(second.tenant_id), "version": "7", "reason": "wrong rate"}
    await operator.post(f"/operator/billing/invoices/{second_id}/void", data=stale)
    assert "version" in (await operator.get("/operator/billing")).text.lower()
    await operator.post(f"/operator/billing/invoices/{second_id}/void", data={**stale, "version": "1", "reason": " "})
    assert "Give the reason the draft is voided" in (await operator.get("/operator/billing")).text
    await operator.post(f"/operator/billing/invoices/{second_id}/void", data={**stale, "version": "1"})
    voided = (await operator.get("/operator/billing")).text
    assert "is voided" in voided and f'action="/operator/billing/invoices/{second_id}/void"' not in voided


async def test_the_tenant_lists_its_invoices_and_opens_them_as_page_and_pdf(pages: Any) -> None:
    drafts, operator, admin = pages
    first, first_id = drafts["first"]
    invoice = (await operator.get(f"/api/v1/billing/invoices/{first_id}", headers=_acting(first.tenant_id))).json()
    if invoice["status"] == "draft":  # this test alone: finalise it first
        final = await operator.post(f"/api/v1/billing/invoices/{first_id}/finalise", headers=_acting(first.tenant_id))
        invoice = final.json()
    number = invoice["number"]

    billing = await admin.get("/billing")
    assert billing.status_code == 200
    row = re.search(rf'<tr id="invoice-{first_id}">(.*?)</tr>', billing.text, re.S)
    assert row is not None, billing.text
    assert number in row.group(1) and "1,875.00 EUR" in row.group(1) and "unpaid" in row.group(1)
    for link in (f"/billing/invoices/{first_id}", f"/billing/invoices/{first_id}.pdf", "lines.csv"):
        assert link in row.group(1)

    printable = await admin.get(f"/billing/invoices/{first_id}")
    assert printable.status_code == 200
    assert printable.headers["content-type"].startswith("text/html")
    for shown in (get_settings().billing_issuer_name, f"Invoice {number}", "1,875.00 EUR", "Tax 25% on 1,500.00 EUR"):
        assert shown in printable.text, shown
    assert 'id="invoice-tenant">Pages-First Inc<' in printable.text

    # The name is the one billed when the invoice was issued: a later rename leaves the document as it was.
    await rename(first.tenant_id, "Pages-First Renamed Ltd")
    assert 'id="invoice-tenant">Pages-First Inc<' in (await admin.get(f"/billing/invoices/{first_id}")).text
    pdf = await admin.get(f"/billing/invoices/{first_id}.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'attachment; filename="{number}.pdf"'
    assert pdf.content.startswith(b"%PDF-")
    text = pdf_text(pdf.content)
    for shown in (f"Invoice {number}", "1,875.00 EUR", "Platform", "unpaid", "Pages-First Inc"):
        assert shown in text, (shown, text)
    assert "Renamed" not in text

    for missing in (f"/billing/invoices/{uuid.uuid4()}", f"/billing/invoices/{first_id}.txt", "/billing/invoices/x"):
        assert (await admin.get(missing)).status_code == 404, missing


def _acting(tenant_id: uuid.UUID) -> dict[str, str]:
    return {"Tenline-Tenant": str(tenant_id)}
