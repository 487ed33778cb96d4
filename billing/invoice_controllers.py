"""HTTP API of invoices under /api/v1/billing/invoices: the acting tenant's invoices and credit notes.

Tenant admins and programs (scope ``billing:read``) read their own tenant's; operator staff read the tenant they
act for. Operator admins review the period close's drafts: finalise (numbered, frozen) or void them, and correct
a final invoice with a credit note. Every change names the invoice's version in If-Match (its ETag).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import get, post
from litestar.params import QueryParameter
from litestar.response import Response
from litestar.status_codes import HTTP_201_CREATED
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import (
    API_PREFIX,
    DEFAULT_PAGE_SIZE,
    Cursor,
    IfMatch,
    Limit,
    TransactionController,
    attachment,
    file_operation,
    if_match_version,
    with_etag,
)
from app.core.pagination import Page
from billing import invoice_documents, invoicing
from billing import invoicing_schemas as schemas
from tenants.auth import requires
from tenants.permissions import Permission

PATH = f"{API_PREFIX}/billing/invoices"
VIEW_BILLING = [requires(Permission.VIEW_BILLING)]
MANAGE_BILLING = [requires(Permission.MANAGE_BILLING)]

StatusFilter = Annotated[schemas.InvoiceStatusName | None, QueryParameter(description="only invoices in this status")]
KindFilter = Annotated[schemas.InvoiceKindName | None, QueryParameter(description="invoices or credit notes only")]
PaymentFilter = Annotated[
    schemas.PaymentStateName | None, QueryParameter(description="only invoices in this payment state")
]
PeriodFilter = Annotated[
    str | None, QueryParameter(description="only the month billed, as YYYY-MM", pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
]
Sort = Annotated[
    schemas.InvoiceSortName,
    QueryParameter(
        description="the order, descending with a leading '-': issued_at (a draft by its creation) or created_at; "
        "keep it while paging"
    ),
]


def _versioned(invoice: schemas.InvoiceOut, status_code: int = 200) -> Response[schemas.InvoiceOut]:
    return with_etag(invoice, invoice.version, status_code, location=f"{PATH}/{invoice.id}")


class InvoiceController(TransactionController):
    path = PATH
    tags = ["billing"]

    @get(
        "/",
        guards=VIEW_BILLING,
        summary="List the tenant's invoices and credit notes",
        description="Drafts and voided drafts included (operators review them). Filters combine (all must hold). "
        "Pages follow `sort`; a cursor is only good for its own sort. Lines come with a single invoice's read.",
    )
    async def list_invoices(
        self,
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        sort: Sort = "-created_at",
        status: StatusFilter = None,
        kind: KindFilter = None,
        payment_state: PaymentFilter = None,
        period: PeriodFilter = None,
    ) -> Page[schemas.InvoiceOut]:
        filters = schemas.InvoiceFilters(status=status, kind=kind, payment_state=payment_state, period=period)
        return await invoicing.list_invoices(session, cursor=cursor, limit=limit, sort=sort, filters=filters)

    @get(
        "/{invoice_id:uuid}",
        guards=VIEW_BILLING,
        summary="One invoice or credit note with its lines (its ETag is its version)",
        description="The lines sum to the total: charges, SLA service credits, adjustments for late usage of "
        "closed months, one tax line per rate.",
    )
    async def get_invoice(self, session: AsyncSession, invoice_id: uuid.UUID) -> Response[schemas.InvoiceOut]:
        return _versioned(await invoicing.get_invoice(session, invoice_id))

    @get(
        "/{invoice_id:uuid}/lines.csv",
        guards=VIEW_BILLING,
        summary="The invoice's lines as a CSV file",
        description="One row a line, taxes included (the amounts sum to the total), amounts as exact decimals "
        "and in minor units; the file is named after the invoice's number.",
        response_description="the invoice's lines, as an attachment",
        operation_class=file_operation(
            invoice_documents.CSV_MEDIA_TYPE, description="the invoice's lines, as an attachment"
        ),
    )
    async def lines_csv(self, session: AsyncSession, invoice_id: uuid.UUID) -> Response[bytes]:
        invoice = await invoicing.get_invoice(session, invoice_id)
        filename = invoice_documents.filename(invoice, "csv")
        return attachment(invoice_documents.lines_csv(invoice), invoice_documents.CSV_MEDIA_TYPE, filename)

    @post(
        "/{invoice_id:uuid}/finalise",
        guards=MANAGE_BILLING,
        status_code=200,
        summary="Finalise a draft: number it and freeze it (operator admins)",
        description="Takes the next number of the operator's series for the year (INV-..., CN-... for credit "
        "notes) with no gaps; from then on the invoice never changes, and it is pushed to Stripe when Stripe is "
        "configured. 409 when it is not a draft; 412 when If-Match names another version.",
    )
    async def finalise(
        self, session: AsyncSession, invoice_id: uuid.UUID, if_match: IfMatch = None
    ) -> Response[schemas.InvoiceOut]:
        return _versioned(await invoicing.finalise(session, invoice_id, if_match=if_match_version(if_match)))

    @post(
        "/{invoice_id:uuid}/void",
        guards=MANAGE_BILLING,
        status_code=200,
        summary="Withdraw a draft unnumbered (operator admins)",
        description="The next close of its period drafts it anew. 409 when it is not a draft (a final invoice is "
        "corrected by a credit note); 412 when If-Match names another version.",
    )
    async def void(
        self, session: AsyncSession, invoice_id: uuid.UUID, data: schemas.VoidIn, if_match: IfMatch = None
    ) -> Response[schemas.InvoiceOut]:
        return _versioned(await invoicing.void(session, invoice_id, data.reason, if_match=if_match_version(if_match)))

    @post(
        "/{invoice_id:uuid}/credit-notes",
        guards=MANAGE_BILLING,
        summary="Draft a credit note correcting a final invoice (operator admins)",
        description="The given net amounts, taxed at the invoice's rate, or with no lines the whole invoice "
        "reversed; the credit note is a draft, finalised like an invoice. What an invoice's credit notes take "
        "back never exceeds its total (422). 409 when the invoice is not final; 412 when If-Match names another "
        "version of the invoice.",
    )
    async def create_credit_note(
        self, session: AsyncSession, invoice_id: uuid.UUID, data: schemas.CreditNoteIn, if_match: IfMatch = None
    ) -> Response[schemas.InvoiceOut]:
        note = await invoicing.create_credit_note(session, invoice_id, data, if_match=if_match_version(if_match))
        return _versioned(note, HTTP_201_CREATED)


route_handlers = [InvoiceController]
