"""Every tenant's invoices for the operator: revenue, credits paid out and what is outstanding per tenant, and the
latest invoices of all tenants (the drafts among them to review).

``reader`` is a ``tenants.service.cross_tenant_read`` session (audited, read-only, every tenant): every figure
here is grouped by its tenant. Sums are done by the database over integer minor units.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from billing import invoicing
from billing import invoicing_schemas as schemas
from billing.invoicing_models import Invoice, InvoiceKind, InvoiceStatus, PaymentState
from tenants.models import Tenant

LATEST_SHOWN = 100


def _sum_where(amount: object, *conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(amount).filter(*conditions), 0)


async def invoices_of_every_tenant(reader: AsyncSession, *, latest: int = LATEST_SHOWN) -> schemas.InvoicesOverviewOut:
    """Per tenant (and currency): final invoices' totals, the credits paid out (SLA credits on final invoices
    plus final credit notes' totals), what was paid and what is outstanding; and the ``latest`` invoices and
    credit notes of every tenant, drafts first (they wait for review), then newest first."""
    final_invoice = (col(Invoice.kind) == InvoiceKind.INVOICE, col(Invoice.status) == InvoiceStatus.FINAL)
    final_credit_note = (col(Invoice.kind) == InvoiceKind.CREDIT_NOTE, col(Invoice.status) == InvoiceStatus.FINAL)
    paid = col(Invoice.payment_state) == PaymentState.PAID
    summaries = (
        await reader.execute(
            sa.select(
                col(Invoice.tenant_id),
                col(Tenant.name),
                col(Invoice.currency),
                _sum_where(col(Invoice.total_minor), *final_invoice),
                _sum_where(col(Invoice.credits_minor), *final_invoice)
                + _sum_where(col(Invoice.total_minor), *final_credit_note),
                _sum_where(col(Invoice.total_minor), *final_invoice, paid),
                _sum_where(col(Invoice.total_minor), *final_invoice, sa.not_(paid)),
            )
            .join(Tenant, col(Tenant.id) == col(Invoice.tenant_id))
            .group_by(col(Invoice.tenant_id), col(Tenant.name), col(Invoice.currency))
            .order_by(col(Tenant.name), col(Invoice.currency))
        )
    ).all()
    rows = (
        await reader.exec(
            select(Invoice)
            .order_by((col(Invoice.status) == InvoiceStatus.DRAFT).desc(), col(Invoice.created_at).desc())
            .limit(latest)
        )
    ).all()
    return schemas.InvoicesOverviewOut(
        tenants=[
            schemas.TenantInvoicesSummary(
                tenant_id=tenant_id,
                tenant=name,
                currency=currency,
                invoiced_minor=int(invoiced),
                credits_minor=int(credits),
                paid_minor=int(paid_total),
                outstanding_minor=int(outstanding),
            )
            for tenant_id, name, currency, invoiced, credits, paid_total, outstanding in summaries
        ],
        invoices=[invoicing.invoice_out(row) for row in rows],
    )
