"""Invoice tables: invoices and credit notes (one table: a credit note is a negative invoice naming the one it
corrects), their lines, and the operator's gapless number counters.

A draft is made once per tenant and period by the close (a partial unique index on (tenant, period start) for
invoices), reviewed by operator admins, then finalised: numbered from a counter row locked ``FOR UPDATE`` in the
finalising transaction (never a sequence: a rolled-back transaction would leave a gap), after which its amounts
and its lines are frozen by triggers (see the migration): the database itself refuses to change them.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.core.clock import utcnow
from app.core.models import TenantScoped

TIMESTAMP = sa.DateTime(timezone=True)
MINOR = sa.BigInteger  # integer minor units of the invoice's currency


class InvoiceKind(enum.StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"  # negative lines correcting a final invoice (``corrects_invoice_id``)


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"  # made by the period close, under review
    FINAL = "final"  # numbered, frozen, pushed to Stripe when configured
    VOID = "void"  # a draft withdrawn unnumbered (a final invoice is corrected by a credit note instead)


class PaymentState(enum.StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    FAILED = "failed"  # a payment attempt failed (Stripe retries, dunning follows)
    UNCOLLECTIBLE = "uncollectible"


class Invoice(TenantScoped, table=True):
    __tablename__ = "invoices"
    __table_args__ = (
        # The close makes a period's invoice exactly once, however many runs race (again only once it is voided).
        sa.Index(
            "uq_invoices_period",
            "tenant_id",
            "period_start",
            unique=True,
            postgresql_where=sa.text("kind = 'invoice' AND status <> 'void'"),
        ),
        # Unique across tenants by the counter that hands them out; the constraint is per tenant as every one is.
        sa.UniqueConstraint("tenant_id", "number"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "corrects_invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="RESTRICT"
        ),
        sa.CheckConstraint("kind IN ('invoice', 'credit_note')", name="ck_invoices_kind"),
        sa.CheckConstraint("status IN ('draft', 'final', 'void')", name="ck_invoices_status"),
        sa.CheckConstraint(
            "payment_state IN ('unpaid', 'paid', 'failed', 'uncollectible')", name="ck_invoices_payment_state"
        ),
        sa.CheckConstraint("(status = 'final') = (number IS NOT NULL)", name="ck_invoices_numbered_when_final"),
        sa.CheckConstraint(
            "(kind = 'credit_note') = (corrects_invoice_id IS NOT NULL)", name="ck_invoices_credit_note_corrects"
        ),
        sa.CheckConstraint(
            "total_minor = subtotal_minor + credits_minor + adjustments_minor + tax_minor", name="ck_invoices_total"
        ),
    )

    kind: str = Field(default=InvoiceKind.INVOICE, max_length=16)
    corrects_invoice_id: uuid.UUID | None = None
    period_start: dt.date  # the month billed (local days), start included
    period_end: dt.date  # end excluded
    number: str | None = Field(default=None, max_length=32)
    status: str = Field(default=InvoiceStatus.DRAFT, max_length=8)
    currency: str = Field(max_length=3)
    subtotal_minor: int = Field(sa_type=MINOR)  # charge lines
    credits_minor: int = Field(sa_type=MINOR)  # SLA credit lines (<= 0)
    adjustments_minor: int = Field(sa_type=MINOR)  # late usage of closed periods; a credit note's lines
    tax_minor: int = Field(sa_type=MINOR)
    total_minor: int = Field(sa_type=MINOR)
    # What the SLA credits were judged on: {sla key: {"measured": "0.78", "target": "0.80"}}.
    sla_attainment: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    note: str = Field(default="", max_length=1000)  # a credit note's reason, a void's reason
    issued_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    # The tenant's name as billed, fixed when the invoice is issued (a later rename does not change an issued
    # document); None on drafts, which show the current name.
    billed_name: str | None = Field(default=None, max_length=200)
    finalised_by: str = Field(default="", max_length=254)
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    stripe_invoice_id: str | None = Field(default=None, max_length=255)
    payment_state: str = Field(default=PaymentState.UNPAID, max_length=16)
    payment_updated_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    version: int = 1
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class InvoiceLineRow(TenantScoped, table=True):
    """One line: a charge, an SLA credit, an adjustment carried from a closed period, or the tax at one rate.
    The invoice's total is the sum of its lines' amounts."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "invoice_id", "position"),
    )

    invoice_id: uuid.UUID
    position: int
    kind: str = Field(max_length=32)  # billing.rating.LineKind, "adjustment" or "tax"
    charge_id: str = Field(default="", max_length=64)
    description: str = Field(max_length=500)
    start: dt.date
    end: dt.date
    quantity: Decimal = Field(sa_type=sa.Numeric(20, 4))
    unit: str = Field(default="", max_length=32)
    unit_price: Decimal = Field(sa_type=sa.Numeric(20, 8))
    amount_minor: int = Field(sa_type=MINOR)
    tier: int | None = None


class InvoiceCounter(SQLModel, table=True):
    """The operator's last number in a series and year (``INV`` 2026: INV-2026-000001, ...), locked FOR UPDATE
    by the finalising transaction, so numbers are consecutive and a rolled-back finalisation takes none."""

    __tablename__ = "invoice_counters"

    series: str = Field(primary_key=True, max_length=8)
    year: int = Field(primary_key=True)
    last_number: int = 0


class ArchivedInvoice(SQLModel, table=True):
    """An issued invoice or credit note of an erased tenant, kept as the operator's accounting record until
    ``retain_until``: its figures, its PDF and its lines as CSV, as they were when the tenant was erased.

    Operator data, not the tenant's: the erasure deletes every row of the tenant, this copy made first in the
    same transaction. ``billed_tenant_id`` names the erased tenant (its row stays, scrubbed, with its slug)."""

    __tablename__ = "archived_invoices"
    __table_args__ = (sa.Index("ix_archived_invoices_retain_until", "retain_until"),)

    id: uuid.UUID = Field(primary_key=True)  # the invoice's own id
    billed_tenant_id: uuid.UUID = Field(index=True)
    tenant_name: str = Field(max_length=200)  # the name billed, as it was before the erasure
    number: str = Field(max_length=32, unique=True)
    kind: str = Field(max_length=16)
    issued_at: dt.datetime = Field(sa_type=TIMESTAMP)
    period_start: dt.date
    period_end: dt.date
    currency: str = Field(max_length=3)
    total_minor: int = Field(sa_type=MINOR)
    payment_state: str = Field(max_length=16)
    pdf: bytes = Field(sa_type=sa.LargeBinary)
    lines_csv: bytes = Field(sa_type=sa.LargeBinary)
    archived_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    retain_until: dt.date
