"""The operator's invoice archive: erasing a tenant keeps its issued invoices and credit notes (PDF, lines as CSV,
the name billed) for their retention, drops its drafts; the daily purge removes them once retention has ended;
operator staff list and download them, nobody else."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import sqlalchemy as sa
from pypdf import PdfReader
from sqlmodel import select

from app.core.db import get_database
from app.core.settings import get_settings
from app.core.tenancy import acting_as, system_principal
from billing import archive, invoicing
from billing import invoicing_schemas as schemas
from billing.invoicing_models import ArchivedInvoice
from tenants import service as tenants
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_staff, make_tenant, make_tenant_user, sign_in
from tests.integration.test_billing_invoice_pages import rename
from tests.integration.test_billing_invoices import as_operator, drafted


async def erase(tenant_id: uuid.UUID) -> dict[str, int]:
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            tenant = await tenants.get_tenant(session, tenant_id, OPERATOR)
            await tenants.change_tenant_status(session, tenant, "delete")
            await session.commit()
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            counts = await tenants.erase_tenant_data(session, tenant_id, event_id=uuid.uuid4())
            await session.commit()
    assert counts is not None
    return counts


async def archived_of(tenant_id: uuid.UUID) -> list[ArchivedInvoice]:
    async with get_database().session() as session:
        statement = select(ArchivedInvoice).where(ArchivedInvoice.billed_tenant_id == tenant_id)
        return list((await session.exec(statement)).all())


def pdf_text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def issued_and_erased(name: str) -> tuple[Any, schemas.InvoiceOut, schemas.InvoiceOut, str]:
    """A tenant with a final invoice, a final credit note of part of it and next month's draft, then erased."""
    billed, invoice = await drafted(name)
    # A name beyond Latin-1, as billed: the PDF prints it as written (its font covers Latin, Greek, Cyrillic).
    await rename(billed.tenant_id, f"{name.title()} Łódź Ηλιος Sp. z o.o.")
    final = await as_operator(billed.tenant_id, lambda s: invoicing.finalise(s, invoice.id, if_match=None))
    correction = schemas.CreditNoteIn(reason="Platform fee waived in part", lines=[])
    credit = await as_operator(billed.tenant_id, lambda s: invoicing.create_credit_note(s, final.id, correction))
    credit = await as_operator(billed.tenant_id, lambda s: invoicing.finalise(s, credit.id, if_match=None))
    billed_name = f"{name.title()} Łódź Ηλιος Sp. z o.o."
    assert final.billed_name == credit.billed_name == billed_name
    await rename(billed.tenant_id, f"{name.title()} renamed before its erasure")
    counts = await erase(billed.tenant_id)
    assert counts["invoices"] == 2
    return billed, final, credit, billed_name


async def test_erasure_archives_issued_documents_for_their_retention_then_the_purge_removes_them() -> None:
    billed, final, credit, billed_name = await issued_and_erased("archived")
    kept = {row.id: row for row in await archived_of(billed.tenant_id)}
    assert set(kept) == {final.id, credit.id}
    years = get_settings().billing_invoice_retention_years
    for issued in (final, credit):
        row = kept[issued.id]
        assert issued.issued_at is not None
        assert (row.number, row.kind, row.total_minor, row.currency) == (
            issued.number,
            issued.kind,
            issued.total_minor,
            "EUR",
        )
        assert row.tenant_name == billed_name != "(erased)"
        assert row.retain_until == archive.retained_until(issued.issued_at, years)
        assert row.retain_until.year == issued.issued_at.year + years
        text = pdf_text(row.pdf)
        assert issued.number is not None and issued.number in text and billed_name in text, text
        lines = list(csv.DictReader(io.StringIO(row.lines_csv.decode())))
        assert sum(int(line["amount_minor"]) for line in lines) == issued.total_minor
    assert "1,875.00 EUR" in pdf_text(kept[final.id].pdf)
    # The tenant's own rows are gone: its invoices included.
    with acting_as(system_principal(billed.tenant_id)):
        async with get_database().session() as session:
            left = "SELECT (SELECT count(*) FROM invoices) + (SELECT count(*) FROM invoice_lines)"
            assert (await session.execute(sa.text(left))).scalar_one() == 0

    # The purge keeps a document through its last day of retention, and removes it after.
    last_day = kept[final.id].retain_until
    async with get_database().session() as session:
        await archive.purge_expired(session, last_day)
        await session.commit()
    assert {row.id for row in await archived_of(billed.tenant_id)} == {final.id, credit.id}
    async with get_database().session() as session:
        assert await archive.purge_expired(session, last_day.replace(day=28).replace(year=last_day.year + 1)) >= 2
        await session.commit()
    assert await archived_of(billed.tenant_id) == []


def test_retention_from_a_leap_day_ends_on_the_28th_of_february() -> None:
    assert archive.retained_until(dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC), 10) == dt.date(2034, 2, 28)
    assert archive.retained_until(dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC), 4) == dt.date(2028, 2, 29)


async def test_operator_staff_list_and_download_the_archive_and_no_one_else(live_server: LiveServer) -> None:
    _, final, _, billed_name = await issued_and_erased("archive-page")
    operator = await make_staff("ops_manager")
    async with await sign_in(live_server.url, operator.email) as client:
        page = await client.get("/operator/billing/archive")
        assert page.status_code == 200, page.text
        assert final.number is not None and final.number in page.text and billed_name in page.text
        pdf = await client.get(f"/operator/billing/archive/{final.id}.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"] == f'attachment; filename="{final.number}.pdf"'
        assert final.number in pdf_text(pdf.content)
        lines = await client.get(f"/operator/billing/archive/{final.id}.csv")
        assert lines.status_code == 200 and lines.headers["content-type"].startswith("text/csv")
        for missing in (f"{uuid.uuid4()}.pdf", f"{final.id}.txt", "x.pdf"):
            assert (await client.get(f"/operator/billing/archive/{missing}")).status_code == 404, missing
    other = await make_tenant("archive-outsider")
    admin = await make_tenant_user(other.id, "tenant_admin")
    async with await sign_in(live_server.url, admin.email) as client:
        for path in ("/operator/billing/archive", f"/operator/billing/archive/{final.id}.pdf"):
            assert (await client.get(path)).status_code == 403, path
