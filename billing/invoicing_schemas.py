"""Requests and responses of the invoice API (msgspec structs). Money in integer minor units of the currency."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from app.core.structs import Input, Output

InvoiceKindName = Literal["invoice", "credit_note"]
InvoiceStatusName = Literal["draft", "final", "void"]
PaymentStateName = Literal["unpaid", "paid", "failed", "uncollectible"]
InvoiceSortName = Literal["created_at", "-created_at", "issued_at", "-issued_at"]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class InvoiceLineOut(Output):
    id: uuid.UUID
    position: int
    kind: str  # a rating line kind (handled_minutes, platform_fee, sla_credit, ...), "adjustment", "credit" or "tax"
    charge_id: str
    description: str
    start: dt.date
    end: dt.date  # excluded
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount_minor: int
    tier: int | None


class InvoiceOut(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    kind: InvoiceKindName
    corrects_invoice_id: uuid.UUID | None
    period_start: dt.date
    period_end: dt.date  # excluded
    number: str | None  # assigned at finalisation
    status: InvoiceStatusName
    currency: str
    subtotal_minor: int
    credits_minor: int  # SLA service credits (<= 0)
    adjustments_minor: int  # late usage of closed periods; on a credit note, the credited lines
    tax_minor: int
    total_minor: int
    sla_attainment: dict[str, dict[str, str]]
    note: str
    issued_at: dt.datetime | None
    billed_name: str | None  # the tenant's name as issued (None on a draft)
    stripe_invoice_id: str | None
    payment_state: PaymentStateName
    version: int
    created_at: dt.datetime
    lines: list[InvoiceLineOut] | None = None  # on a single invoice's read


class InvoiceFilters(msgspec.Struct, kw_only=True, frozen=True):
    """What a list of invoices is narrowed to (every filter given must hold)."""

    status: InvoiceStatusName | None = None
    kind: InvoiceKindName | None = None
    payment_state: PaymentStateName | None = None
    period: str | None = None  # the month billed, YYYY-MM


class VoidIn(Input):
    reason: Annotated[Reason, msgspec.Meta(description="why the draft is withdrawn (audited)")]


class CreditLineIn(Input):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    amount_minor: Annotated[int, msgspec.Meta(gt=0, description="net amount credited, in minor units (> 0)")]


class CreditNoteIn(Input):
    reason: Annotated[Reason, msgspec.Meta(description="what the credit note corrects (shown on it)")]
    lines: Annotated[
        list[CreditLineIn],
        msgspec.Meta(
            max_length=100,
            description="net amounts credited, taxed at the invoice's rate; empty: the whole invoice is reversed",
        ),
    ] = msgspec.field(default_factory=list)


class TenantInvoicesSummary(Output):
    tenant_id: uuid.UUID
    tenant: str
    currency: str
    invoiced_minor: int  # final invoices' totals
    credits_minor: int  # SLA credits on final invoices plus final credit notes (<= 0)
    paid_minor: int
    outstanding_minor: int  # final invoices not paid


class InvoicesOverviewOut(Output):
    tenants: list[TenantInvoicesSummary]
    invoices: list[InvoiceOut]


class ArchivedInvoiceOut(Output):
    """An issued document of an erased tenant, kept in the operator's archive until ``retain_until``."""

    id: uuid.UUID
    billed_tenant_id: uuid.UUID
    tenant_name: str  # the name billed, before the erasure
    number: str
    kind: str
    issued_at: dt.datetime
    period_start: dt.date
    period_end: dt.date
    currency: str
    total_minor: int
    payment_state: str
    archived_at: dt.datetime
    retain_until: dt.date
