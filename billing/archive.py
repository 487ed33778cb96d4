"""The operator's archive of erased tenants' invoices: issued invoices and credit notes are accounting records the
operator must keep for years (``billing_invoice_retention_years``), while a tenant's erasure deletes all its data.

When a tenant is erased (``tenants.service.erase_tenant_data``), before its rows go and in the same transaction,
every issued document of it is copied here with its PDF and the CSV of its lines, as printed at that moment, and
the name it was billed under. Drafts and voided drafts (never numbered) are not records and go with the tenant.
A daily job purges the documents whose retention has ended. Only operator staff read the archive.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import NotFoundError
from app.core.pagination import Page, page_of, paginate
from app.core.rows import to_struct
from app.core.settings import get_settings
from billing import invoice_documents
from billing import invoicing_schemas as schemas
from billing.invoicing_models import ArchivedInvoice, Invoice, InvoiceStatus
from tenants import service as tenants
from tenants.models import Tenant


def retained_until(issued_at: dt.datetime, years: int) -> dt.date:
    """The last day a document issued at ``issued_at`` is kept: ``years`` after its issue date (28 February for
    one issued on a 29 February whose anniversary year has none)."""
    issued = issued_at.date()
    try:
        return issued.replace(year=issued.year + years)
    except ValueError:
        return issued.replace(year=issued.year + years, day=28)


@tenants.before_erasure
async def archive_issued_invoices(session: AsyncSession, tenant: Tenant) -> None:
    """Copies the acting tenant's issued documents into the archive (the erasure's first step)."""
    settings = get_settings()
    issued = (
        await session.exec(
            select(Invoice.id).where(Invoice.status == InvoiceStatus.FINAL).order_by(col(Invoice.issued_at))
        )
    ).all()
    for invoice_id in issued:
        document = await invoice_documents.invoice_document(session, invoice_id, settings.billing_issuer_name)
        invoice = document.invoice
        assert invoice.number is not None and invoice.issued_at is not None  # final documents are issued
        session.add(
            ArchivedInvoice(
                id=invoice.id,
                billed_tenant_id=tenant.id,
                tenant_name=invoice.billed_name or tenant.name,
                number=invoice.number,
                kind=invoice.kind,
                issued_at=invoice.issued_at,
                period_start=invoice.period_start,
                period_end=invoice.period_end,
                currency=invoice.currency,
                total_minor=invoice.total_minor,
                payment_state=invoice.payment_state,
                pdf=invoice_documents.invoice_pdf(document),
                lines_csv=invoice_documents.lines_csv(invoice),
                retain_until=retained_until(invoice.issued_at, settings.billing_invoice_retention_years),
            )
        )
    await session.flush()


async def list_archived(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.ArchivedInvoiceOut]:
    """The archive, newest documents first (their ids are time-ordered)."""
    rows = (await session.exec(paginate(select(ArchivedInvoice), col(ArchivedInvoice.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[to_struct(schemas.ArchivedInvoiceOut, row) for row in items], next_cursor=next_cursor)


async def archived_file(session: AsyncSession, invoice_id: uuid.UUID, extension: str) -> tuple[str, bytes]:
    """An archived document's PDF or CSV of lines: (file name, content)."""
    row = await session.get(ArchivedInvoice, invoice_id)
    if row is None or extension not in ("pdf", "csv"):
        raise NotFoundError("no such archived invoice")
    return f"{row.number}.{extension}", row.pdf if extension == "pdf" else row.lines_csv


async def purge_expired(session: AsyncSession, today: dt.date) -> int:
    """Deletes the archived documents whose retention ended before ``today``; how many."""
    table = ArchivedInvoice.__table__  # type: ignore[attr-defined]
    result = await session.execute(sa.delete(table).where(table.c.retain_until < today))
    return int(result.rowcount)  # type: ignore[attr-defined]
