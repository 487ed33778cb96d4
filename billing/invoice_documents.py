"""An invoice as documents: the content a printable page and a PDF both show, the PDF itself, and its lines as CSV.

``invoice_document`` gathers what an invoice shows once (issuer and tenant, number, period, lines, the credits,
tax and total, payment state) as display-ready text; the HTML page (frontend) and ``invoice_pdf`` render that
same structure, so the two never disagree. Amounts are formatted from integer minor units by the rating core's
``Money``; nothing here is computed in floats.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import uuid
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.tenancy import require_tenant_id
from billing import invoicing, rating
from billing import invoicing_schemas as schemas
from billing.invoicing_models import Invoice
from tenants.models import Tenant

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
PDF_MEDIA_TYPE = "application/pdf"
CSV_COLUMNS = (
    "position",
    "kind",
    "description",
    "first_day",
    "last_day",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "amount_minor",
    "currency",
)

KIND_TITLES = {"invoice": "Invoice", "credit_note": "Credit note"}


@dataclasses.dataclass(frozen=True)
class DocumentLine:
    description: str
    dates: str
    quantity: str
    unit_price: str
    amount: str


@dataclasses.dataclass(frozen=True)
class DocumentTotal:
    label: str
    amount: str
    grand: bool = False  # the total itself, shown strong


@dataclasses.dataclass(frozen=True)
class InvoiceDocument:
    """What an invoice shows, as text, in the order it shows it."""

    invoice: schemas.InvoiceOut
    issuer: str
    tenant: str
    title: str  # "Invoice INV-2026-000001", "Draft invoice", "Credit note CN-2026-000001"
    corrects: str | None  # a credit note's invoice, by number
    period: str  # "2026-10-01 to 2026-10-31"
    issued: str  # the issue date, or why there is none
    lines: list[DocumentLine]
    totals: list[DocumentTotal]
    payment_state: str


def filename(invoice: schemas.InvoiceOut, extension: str) -> str:
    """A file name for the invoice: its number, or the draft's id before it has one."""
    return f"{invoice.number or f'draft-{invoice.id}'}.{extension}"


def money(minor: int, currency: str) -> str:
    return str(rating.Money(minor, currency))


def _last_day(end: dt.date) -> dt.date:
    return end - dt.timedelta(days=1)  # lines and invoices keep [start, end)


def _quantity(line: schemas.InvoiceLineOut) -> str:
    if line.kind == "tax":
        return ""  # a tax line's quantity is the net it is levied on, shown in its label
    return f"{line.quantity.normalize():f} {line.unit}".strip()


def _unit_price(line: schemas.InvoiceLineOut, currency: str) -> str:
    if line.kind == "tax":
        return ""
    return f"{line.unit_price.normalize():f} {currency}"


def _totals(invoice: schemas.InvoiceOut) -> list[DocumentTotal]:
    currency = invoice.currency
    found = [DocumentTotal("Subtotal", money(invoice.subtotal_minor, currency))]
    if invoice.credits_minor:
        found.append(DocumentTotal("SLA service credits", money(invoice.credits_minor, currency)))
    if invoice.adjustments_minor:
        label = "Credited" if invoice.kind == "credit_note" else "Adjustments to closed months"
        found.append(DocumentTotal(label, money(invoice.adjustments_minor, currency)))
    for line in invoice.lines or []:
        if line.kind == "tax":
            net = money(int(line.quantity.scaleb(rating.minor_unit_digits(currency))), currency)
            found.append(DocumentTotal(f"{line.description} on {net}", money(line.amount_minor, currency)))
    found.append(DocumentTotal("Total", money(invoice.total_minor, currency), grand=True))
    return found


async def invoice_document(session: AsyncSession, invoice_id: uuid.UUID, issuer: str) -> InvoiceDocument:
    """The acting tenant's invoice as a document (another tenant's is not found)."""
    invoice = await invoicing.get_invoice(session, invoice_id)
    tenant = (
        invoice.billed_name or (await session.exec(select(Tenant.name).where(Tenant.id == require_tenant_id()))).one()
    )
    corrects = None
    if invoice.corrects_invoice_id is not None:
        corrected = (await session.exec(select(Invoice.number).where(Invoice.id == invoice.corrects_invoice_id))).one()
        corrects = corrected or str(invoice.corrects_invoice_id)
    kind = KIND_TITLES[invoice.kind]
    title = {"final": f"{kind} {invoice.number}", "draft": f"Draft {kind.lower()}", "void": f"Void {kind.lower()}"}
    return InvoiceDocument(
        invoice=invoice,
        issuer=issuer,
        tenant=tenant,
        title=title[invoice.status],
        corrects=corrects,
        period=f"{invoice.period_start} to {_last_day(invoice.period_end)}",
        issued=f"{invoice.issued_at:%Y-%m-%d}" if invoice.issued_at else "not issued (no number yet)",
        lines=[
            DocumentLine(
                description=line.description,
                dates=f"{line.start} to {_last_day(line.end)}",
                quantity=_quantity(line),
                unit_price=_unit_price(line, invoice.currency),
                amount=money(line.amount_minor, invoice.currency),
            )
            for line in invoice.lines or []
            if line.kind != "tax"  # taxes are shown with the totals
        ],
        totals=_totals(invoice),
        payment_state=invoice.payment_state.replace("_", " "),
    )


def lines_csv(invoice: schemas.InvoiceOut) -> bytes:
    """Every line of the invoice (taxes included: the lines sum to its total), one a row, amounts exact."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    digits = rating.minor_unit_digits(invoice.currency)
    for line in invoice.lines or []:
        writer.writerow(
            (
                line.position,
                line.kind,
                line.description,
                line.start,
                _last_day(line.end),
                f"{line.quantity.normalize():f}",
                line.unit,
                f"{line.unit_price.normalize():f}",
                f"{Decimal(line.amount_minor).scaleb(-digits):f}",
                line.amount_minor,
                invoice.currency,
            )
        )
    return out.getvalue().encode()


# --- PDF ------------------------------------------------------------------------------------------------------

# DejaVu Sans (from npm, with the other front-end assets): Latin, Greek and Cyrillic scripts, so that names such
# as "Łódź Energia" or "Ηλιος" print as written. Scripts it lacks (CJK) print as blanks, never fail the document.
FONT_FILES = Path(__file__).resolve().parents[1] / "frontend" / "node_modules" / "dejavu-fonts-ttf" / "ttf"
FONT = "DejaVuSans"
_COLUMNS = ((82, "Description", "L"), (42, "Dates", "L"), (36, "Quantity", "R"), (30, "Amount", "R"))


def invoice_pdf(document: InvoiceDocument) -> bytes:
    """The document as an A4 PDF: the same content as the printable page."""
    pdf = FPDF(format="A4")
    pdf.add_font(FONT, "", FONT_FILES / "DejaVuSans.ttf")
    pdf.add_font(FONT, "B", FONT_FILES / "DejaVuSans-Bold.ttf")
    pdf.set_title(document.title)
    pdf.set_author(document.issuer)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def text_line(text: str, size: float = 10, style: str = "", height: float = 6) -> None:
        pdf.set_font(FONT, style, size)
        pdf.cell(width, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    text_line(document.issuer, 12, "B")
    text_line(document.title, 18, "B", 10)
    facts = [
        ("Billed to", document.tenant),
        ("Period", document.period),
        ("Issued", document.issued),
        ("Payment", document.payment_state),
    ]
    if document.corrects:
        facts.insert(1, ("Corrects invoice", document.corrects))
    if document.invoice.note:
        facts.append(("Note", document.invoice.note))
    for label, value in facts:
        pdf.set_font(FONT, "B", 10)
        pdf.cell(35, 6, label)
        pdf.set_font(FONT, "", 10)
        pdf.multi_cell(width - 35, 6, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    # The unit price goes under the quantity ("12 contacts", then "@ 0.5 EUR"): the page is narrow.
    pdf.set_font(FONT, "B", 9)
    for column_width, title, align in _COLUMNS:
        pdf.cell(column_width, 7, title, border="B", align=align)
    pdf.ln()
    pdf.set_font(FONT, "", 9)
    for line in document.lines:
        y = pdf.get_y()
        pdf.multi_cell(_COLUMNS[0][0], 5, line.description, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        bottom = pdf.get_y()
        pdf.set_xy(pdf.l_margin + _COLUMNS[0][0], y)
        pdf.cell(_COLUMNS[1][0], 5, line.dates)
        pdf.cell(_COLUMNS[2][0], 5, line.quantity, align="R")
        pdf.cell(_COLUMNS[3][0], 5, line.amount, align="R")
        pdf.ln()
        if line.unit_price:
            pdf.set_x(pdf.l_margin + _COLUMNS[0][0] + _COLUMNS[1][0])
            pdf.cell(_COLUMNS[2][0], 5, f"@ {line.unit_price}", align="R")
            pdf.ln()
        pdf.set_y(max(pdf.get_y(), bottom) + 1)
    pdf.ln(2)
    label_width = width - _COLUMNS[3][0]
    for total in document.totals:
        pdf.set_font(FONT, "B" if total.grand else "", 11 if total.grand else 10)
        pdf.cell(label_width, 7, total.label, border="T" if total.grand else 0, align="R")
        pdf.cell(_COLUMNS[3][0], 7, total.amount, border="T" if total.grand else 0, align="R")
        pdf.ln()
    return bytes(pdf.output())
