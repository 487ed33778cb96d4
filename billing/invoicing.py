"""Invoices: the period close makes a draft, operator admins finalise or void it, credit notes correct it.

Close (``close_and_draft``, a periodic job per tenant). A month is closed once it is over in the tenant's time
zone plus ``CLOSE_GRACE`` (late events still arriving land in it until then). The close locks the period
exclusively (metering runs billing into it finish first), closes it, and rates it (``billing.service
.rated_period``: its usage with the versions in force, late usage of earlier periods as adjustments, SLA
credits by the month's attainment) into one draft. Exactly once: the period lock serialises concurrent runs and
a partial unique index on (tenant, period) for live invoices backs it; a voided draft is made again (re-rated).

SLA attainment for credits. A credit rule's ``sla`` key names a **measure** of the tenant's SLA contract in
force on the period's last day (``service_level``, ``fcr``, ``csat``: shares with a minimum goal): the target
of that measure with a ``month`` window is judged, measured = its evaluation of the month (app.sla), target =
its minimum. A key with no such target or no evaluation credits nothing (the rating core's rule).

Finalise. Under the invoice's row lock, the next number of the operator's series for the year is taken from
the ``invoice_counters`` row locked ``FOR UPDATE`` (INV-2026-000001, credit notes CN-2026-000001): concurrent
finalisations queue on it and a rolled-back one takes no number, so numbers have no gaps. From then on the
database refuses any change to the invoice's amounts or lines (triggers). The Stripe push follows through the
outbox (``billing.invoice_finalised``), outside the numbering transaction; with no Stripe key nothing is
pushed. Credit notes are kept in Tenline only (the gateway pushes invoices).

Payment state follows Stripe's invoice events (``apply_stripe_event``): the same event twice, or an older one
after a newer, changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, cast

import msgspec
import sqlalchemy as sa
import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.core.models import new_id
from app.core.outbox import emit
from app.core.pagination import Page, SortOrder, paginate_sorted, query_error, sort_orders, sorted_page_of
from app.core.settings import Settings
from app.core.tenancy import current_principal, require_tenant_id
from app.core.versioning import check_version
from app.sla import engine as sla_engine
from app.sla import service as sla
from app.sla.models import SlaEvaluation
from billing import invoicing_schemas as schemas
from billing import rating, service
from billing.invoicing_models import Invoice, InvoiceCounter, InvoiceKind, InvoiceLineRow, InvoiceStatus, PaymentState
from billing.stripe.gateway import stripe_gateway
from billing.stripe.schemas import StripeCustomerDraft, StripeInvoiceDraft, StripeInvoiceEvent, StripeInvoiceLine
from tenants.models import Tenant
from tenants.service import audit

log = structlog.get_logger("tenline.billing.invoices")

CLOSE_GRACE = dt.timedelta(days=1)
INVOICE_FINALISED_TOPIC = "billing.invoice_finalised"
SERIES = {InvoiceKind.INVOICE: "INV", InvoiceKind.CREDIT_NOTE: "CN"}
# The SLA measures a credit rule may name: shares with a minimum goal (more is better).
CREDITABLE_MEASURES = frozenset({sla_engine.Measure.SERVICE_LEVEL, sla_engine.Measure.FCR, sla_engine.Measure.CSAT})


# --- SLA attainment of a month ------------------------------------------------------------------------------


async def month_attainment(session: AsyncSession, first_day: dt.date) -> dict[str, rating.SlaAttainment]:
    """The acting tenant's monthly attainment per creditable measure (the ``sla`` keys of credit rules)."""
    last_day = service.month_of(first_day)[1]
    contract = await sla.contract_in_force(session, last_day)
    if contract is None:
        return {}
    zone = str(await service.tenant_zone(session))
    window_start = sla_engine.day_bounds(first_day, zone)[0]
    targets = {
        target.id: target
        for target in contract.targets
        if target.window == "month" and target.measure in CREDITABLE_MEASURES and target.minimum is not None
    }
    if not targets:
        return {}
    evaluations = (
        await session.exec(
            select(SlaEvaluation).where(
                col(SlaEvaluation.target_id).in_(list(targets)), SlaEvaluation.window_start == window_start
            )
        )
    ).all()
    found: dict[str, rating.SlaAttainment] = {}
    for evaluation in evaluations:
        target = targets[evaluation.target_id]
        if evaluation.value is None or target.minimum is None or target.measure in found:
            continue
        found[target.measure] = rating.SlaAttainment(
            measured=Decimal(repr(evaluation.value)), target=Decimal(repr(target.minimum))
        )
    return found


# --- the close ----------------------------------------------------------------------------------------------


def period_to_close(now: dt.datetime, zone: str) -> dt.date:
    """The first day of the latest month whose close is due at ``now``: over, plus the grace, in ``zone``."""
    local = sla_engine.local_date(now - CLOSE_GRACE, zone)
    return service.month_of(service.month_of(local)[0] - dt.timedelta(days=1))[0]


def _lines_of(draft: rating.InvoiceDraft, invoice_id: uuid.UUID) -> list[InvoiceLineRow]:
    """Every amount of the draft as a line, so that the lines sum to its total: charges and credits, the
    adjustments carried from closed periods, one tax line per rate."""
    digits = rating.minor_unit_digits(draft.currency)
    rows: list[InvoiceLineRow] = []
    for kind, line in [
        *((line.kind.value, line) for line in draft.lines),
        *(("adjustment", a) for a in draft.adjustments),
    ]:
        rows.append(
            InvoiceLineRow(
                invoice_id=invoice_id,
                position=len(rows) + 1,
                kind=kind,
                charge_id=line.charge_id,
                description=line.description[:500],
                start=line.start,
                end=line.end,
                quantity=line.quantity,
                unit=line.unit[:32],
                unit_price=line.unit_price,
                amount_minor=line.amount.minor,
                tier=line.tier,
            )
        )
    for tax in draft.taxes:
        rows.append(
            InvoiceLineRow(
                invoice_id=invoice_id,
                position=len(rows) + 1,
                kind="tax",
                description=f"Tax {tax.rate_percent.normalize():f}%",
                start=draft.period.start,
                end=draft.period.end,
                quantity=Decimal(tax.net.minor).scaleb(-digits),
                unit=draft.currency,
                unit_price=tax.rate_percent / 100,
                amount_minor=tax.amount.minor,
            )
        )
    if sum(row.amount_minor for row in rows) != draft.total.minor:
        raise AssertionError("an invoice's lines must sum to its total")
    return rows


async def _live_invoice(session: AsyncSession, first_day: dt.date) -> Invoice | None:
    statement = select(Invoice).where(
        Invoice.kind == InvoiceKind.INVOICE, Invoice.period_start == first_day, Invoice.status != InvoiceStatus.VOID
    )
    return (await session.exec(statement)).first()


async def close_and_draft(session: AsyncSession, first_day: dt.date) -> Invoice | None:
    """Closes the acting tenant's period starting on ``first_day`` and makes its draft invoice, once.

    The existing invoice when there is one; None when the tenant has no rate card for the period."""
    await service.close_period(session, first_day)  # holds the period's exclusive lock until commit
    existing = await _live_invoice(session, first_day)
    if existing is not None:
        return existing
    attainment = await month_attainment(session, first_day)
    draft = await service.rated_period(session, first_day, attainment)
    if draft is None:
        return None
    invoice_id = new_id()
    invoice = Invoice(
        id=invoice_id,
        period_start=draft.period.start,
        period_end=draft.period.end,
        currency=draft.currency,
        subtotal_minor=draft.subtotal.minor,
        credits_minor=draft.credits.minor,
        adjustments_minor=draft.adjustments_total.minor,
        tax_minor=draft.tax.minor,
        total_minor=draft.total.minor,
        sla_attainment={key: {"measured": str(a.measured), "target": str(a.target)} for key, a in attainment.items()},
    )
    session.add(invoice)
    await session.flush()
    session.add_all(_lines_of(draft, invoice_id))
    await session.flush()
    await audit(
        session,
        "invoice.drafted",
        object_type="invoice",
        object_id=invoice.id,
        detail={"period": f"{first_day:%Y-%m}", "total_minor": invoice.total_minor},
    )
    return invoice


async def close_due_period(session: AsyncSession, now: dt.datetime | None = None) -> Invoice | None:
    """The periodic job's step: the latest month due for its close, closed and drafted (a no-op once done)."""
    first_day = period_to_close(now or utcnow(), str(await service.tenant_zone(session)))
    if await _live_invoice(session, first_day) is not None:
        return None
    return await close_and_draft(session, first_day)


# --- reading ------------------------------------------------------------------------------------------------


def _line_out(row: InvoiceLineRow) -> schemas.InvoiceLineOut:
    return schemas.InvoiceLineOut(
        id=row.id,
        position=row.position,
        kind=row.kind,
        charge_id=row.charge_id,
        description=row.description,
        start=row.start,
        end=row.end,
        quantity=row.quantity,
        unit=row.unit,
        unit_price=row.unit_price,
        amount_minor=row.amount_minor,
        tier=row.tier,
    )


def invoice_out(row: Invoice, lines: Sequence[InvoiceLineRow] | None = None) -> schemas.InvoiceOut:
    assert row.tenant_id is not None
    return schemas.InvoiceOut(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=cast(Any, row.kind),
        corrects_invoice_id=row.corrects_invoice_id,
        period_start=row.period_start,
        period_end=row.period_end,
        number=row.number,
        status=cast(Any, row.status),
        currency=row.currency,
        subtotal_minor=row.subtotal_minor,
        credits_minor=row.credits_minor,
        adjustments_minor=row.adjustments_minor,
        tax_minor=row.tax_minor,
        total_minor=row.total_minor,
        sla_attainment=row.sla_attainment,
        note=row.note,
        issued_at=row.issued_at,
        billed_name=row.billed_name,
        stripe_invoice_id=row.stripe_invoice_id,
        payment_state=cast(Any, row.payment_state),
        version=row.version,
        created_at=row.created_at,
        lines=None if lines is None else [_line_out(line) for line in lines],
    )


async def _invoice(session: AsyncSession, invoice_id: uuid.UUID, *, lock: bool = False) -> Invoice:
    statement = select(Invoice).where(Invoice.id == invoice_id)
    if lock:
        statement = statement.with_for_update()
    row = (await session.exec(statement)).first()
    if row is None:
        raise NotFoundError("no such invoice")
    return row


async def _lines(session: AsyncSession, invoice_id: uuid.UUID) -> list[InvoiceLineRow]:
    statement = (
        select(InvoiceLineRow).where(InvoiceLineRow.invoice_id == invoice_id).order_by(col(InvoiceLineRow.position))
    )
    return list((await session.exec(statement)).all())


# "issued_at": a final invoice's issue, a draft's (or a void's) creation, so that keyset paging has no NULLs.
ORDERS = sort_orders(
    issued_at=sa.func.coalesce(col(Invoice.issued_at), col(Invoice.created_at)), created_at=col(Invoice.created_at)
)


def _sort_key(order: SortOrder, row: Invoice) -> tuple[dt.datetime, uuid.UUID]:
    if order.name.lstrip("-") == "issued_at":
        return row.issued_at or row.created_at, row.id
    return row.created_at, row.id


async def list_invoices(
    session: AsyncSession,
    *,
    cursor: str | None,
    limit: int,
    sort: str = "-created_at",
    filters: schemas.InvoiceFilters | None = None,
) -> Page[schemas.InvoiceOut]:
    """The acting tenant's invoices and credit notes (drafts and voids too: operators review them here), those
    matching every filter given, in ``sort`` order."""
    order = ORDERS.get(sort)
    if order is None:
        raise query_error("sort", f"one of {', '.join(ORDERS)}")
    statement = select(Invoice)
    if filters is not None:
        if filters.status:
            statement = statement.where(Invoice.status == filters.status)
        if filters.kind:
            statement = statement.where(Invoice.kind == filters.kind)
        if filters.payment_state:
            statement = statement.where(Invoice.payment_state == filters.payment_state)
        if filters.period:
            statement = statement.where(Invoice.period_start == _first_day_of(filters.period))
    rows = (await session.exec(paginate_sorted(statement, order, col(Invoice.id), cursor, limit))).all()
    items, next_cursor = sorted_page_of(rows, limit, order, lambda row: _sort_key(order, row))
    return Page(items=[invoice_out(row) for row in items], next_cursor=next_cursor)


def _first_day_of(month: str) -> dt.date:
    """The first day of a month given as YYYY-MM (the shape is checked by the API; the month's range here)."""
    try:
        return dt.date.fromisoformat(f"{month}-01")
    except ValueError:
        raise query_error("period", "a month as YYYY-MM, e.g. 2026-11") from None


async def get_invoice(session: AsyncSession, invoice_id: uuid.UUID) -> schemas.InvoiceOut:
    row = await _invoice(session, invoice_id)
    return invoice_out(row, await _lines(session, invoice_id))


# --- finalise, void, credit ---------------------------------------------------------------------------------


async def next_number(session: AsyncSession, kind: InvoiceKind, year: int) -> str:
    """The next number of the operator's series for ``kind`` in ``year``; the counter stays locked until commit."""
    table = cast(sa.Table, InvoiceCounter.__table__)  # type: ignore[attr-defined]
    series = SERIES[kind]
    await session.execute(
        sa.dialects.postgresql.insert(table)
        .values(series=series, year=year, last_number=0)
        .on_conflict_do_nothing(index_elements=["series", "year"])
    )
    taken = await session.execute(
        sa.update(table)
        .where(table.c.series == series, table.c.year == year)
        .values(last_number=table.c.last_number + 1)
        .returning(table.c.last_number)
    )
    return f"{series}-{year}-{taken.scalar_one():06d}"


def _who() -> str:
    principal = current_principal()
    return principal.display_name if principal else ""


async def finalise(session: AsyncSession, invoice_id: uuid.UUID, *, if_match: int | None) -> schemas.InvoiceOut:
    row = await _invoice(session, invoice_id, lock=True)
    check_version("the invoice", row, if_match)
    if row.status != InvoiceStatus.DRAFT:
        raise ConflictError(f"the invoice is {row.status}: only a draft is finalised")
    now = utcnow()
    # Read before the row changes: a query flushes what is pending, and the row is frozen once it reads final.
    billed_name = (await session.exec(select(Tenant.name).where(Tenant.id == require_tenant_id()))).one()
    number = await next_number(session, InvoiceKind(row.kind), now.year)
    row.number, row.status, row.issued_at, row.billed_name = number, InvoiceStatus.FINAL, now, billed_name
    row.finalised_by = _who()
    row.version += 1
    row.updated_at = now
    await session.flush()
    await emit(session, INVOICE_FINALISED_TOPIC, {"invoice_id": str(row.id)})
    await audit(
        session,
        "invoice.finalised",
        object_type="invoice",
        object_id=row.id,
        detail={"number": row.number, "total_minor": row.total_minor},
    )
    return invoice_out(row, await _lines(session, row.id))


async def void(
    session: AsyncSession, invoice_id: uuid.UUID, reason: str, *, if_match: int | None
) -> schemas.InvoiceOut:
    row = await _invoice(session, invoice_id, lock=True)
    check_version("the invoice", row, if_match)
    if row.status != InvoiceStatus.DRAFT:
        raise ConflictError(
            f"the invoice is {row.status}: only a draft is voided (a final invoice is corrected by a credit note)"
        )
    row.status = InvoiceStatus.VOID
    row.note = reason
    row.version += 1
    row.updated_at = utcnow()
    await session.flush()
    await audit(session, "invoice.voided", object_type="invoice", object_id=row.id, detail={"reason": reason})
    return invoice_out(row, await _lines(session, row.id))


def _half_even(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


async def create_credit_note(
    session: AsyncSession, invoice_id: uuid.UUID, data: schemas.CreditNoteIn, *, if_match: int | None = None
) -> schemas.InvoiceOut:
    """A draft credit note (negative) correcting a final invoice: the given net amounts taxed at its rate, or
    the whole invoice reversed. What the credit notes of an invoice take back never exceeds its total.
    ``if_match``: the version of the invoice corrected, as its reader saw it."""
    original = await _invoice(session, invoice_id, lock=True)  # serialises credit notes of one invoice
    check_version("the invoice", original, if_match)
    if original.kind != InvoiceKind.INVOICE or original.status != InvoiceStatus.FINAL:
        raise ConflictError("only a final invoice is corrected by a credit note")
    original_lines = await _lines(session, original.id)
    taxes = [line for line in original_lines if line.kind == "tax"]
    note_id = new_id()
    lines: list[InvoiceLineRow] = []
    if not data.lines:
        for line in original_lines:
            lines.append(
                InvoiceLineRow(
                    invoice_id=note_id,
                    position=len(lines) + 1,
                    kind="tax" if line.kind == "tax" else "credit",
                    charge_id=line.charge_id,
                    description=f"Reversal: {line.description}"[:500],
                    start=line.start,
                    end=line.end,
                    quantity=line.quantity,
                    unit=line.unit,
                    unit_price=line.unit_price,
                    amount_minor=-line.amount_minor,
                    tier=line.tier,
                )
            )
    else:
        if len({line.unit_price for line in taxes}) > 1:
            raise InvalidInputError.for_field(
                "lines", "the invoice is taxed at several rates: credit it whole (no lines), then invoice anew"
            )
        rate = taxes[0].unit_price if taxes else Decimal(0)
        for given in data.lines:
            lines.append(
                InvoiceLineRow(
                    invoice_id=note_id,
                    position=len(lines) + 1,
                    kind="credit",
                    description=given.description,
                    start=original.period_start,
                    end=original.period_end,
                    quantity=Decimal(1),
                    unit="",
                    unit_price=-Decimal(given.amount_minor).scaleb(-rating.minor_unit_digits(original.currency)),
                    amount_minor=-given.amount_minor,
                )
            )
        net = sum(line.amount_minor for line in lines)
        if rate:
            lines.append(
                InvoiceLineRow(
                    invoice_id=note_id,
                    position=len(lines) + 1,
                    kind="tax",
                    description=f"Tax {(rate * 100).normalize():f}%",
                    start=original.period_start,
                    end=original.period_end,
                    quantity=Decimal(net).scaleb(-rating.minor_unit_digits(original.currency)),
                    unit=original.currency,
                    unit_price=rate,
                    amount_minor=_half_even(net * rate),
                )
            )
    tax = sum(line.amount_minor for line in lines if line.kind == "tax")
    total = sum(line.amount_minor for line in lines)
    credited = (
        await session.exec(
            select(sa.func.coalesce(sa.func.sum(Invoice.total_minor), 0)).where(
                Invoice.corrects_invoice_id == original.id, Invoice.status != InvoiceStatus.VOID
            )
        )
    ).one()
    if -(credited + total) > original.total_minor:
        raise InvalidInputError.for_field(
            "lines", f"credit notes would take back more than the invoice's total ({original.total_minor})"
        )
    note = Invoice(
        id=note_id,
        kind=InvoiceKind.CREDIT_NOTE,
        corrects_invoice_id=original.id,
        period_start=original.period_start,
        period_end=original.period_end,
        currency=original.currency,
        subtotal_minor=0,
        credits_minor=0,
        adjustments_minor=total - tax,
        tax_minor=tax,
        total_minor=total,
        note=data.reason,
    )
    session.add(note)
    await session.flush()
    session.add_all(lines)
    await session.flush()
    await audit(
        session,
        "invoice.credit_note_drafted",
        object_type="invoice",
        object_id=note.id,
        detail={"corrects": str(original.id), "total_minor": total},
    )
    return invoice_out(note, lines)


# --- Stripe -------------------------------------------------------------------------------------------------


async def push_to_stripe(session: AsyncSession, invoice_id: uuid.UUID, settings: Settings | None = None) -> str | None:
    """Pushes a final invoice to Stripe (repeatable: the gateway finds what it already made). Its Stripe id, or
    None when Stripe is not configured, or for a credit note (kept in Tenline)."""
    row = await _invoice(session, invoice_id)
    if row.status != InvoiceStatus.FINAL or row.kind != InvoiceKind.INVOICE or row.number is None:
        return None
    tenant = (await session.exec(select(Tenant).where(Tenant.id == require_tenant_id()))).one()
    lines = await _lines(session, row.id)
    draft = StripeInvoiceDraft(
        tenant_id=tenant.id,
        invoice_id=row.id,
        number=row.number,
        currency=row.currency,
        lines=tuple(
            StripeInvoiceLine(line_id=line.id, description=line.description, amount=line.amount_minor)
            for line in lines
            if line.amount_minor != 0
        ),
        memo=f"Period {row.period_start:%Y-%m}",
    )
    customer = StripeCustomerDraft(tenant_id=tenant.id, name=tenant.name, stripe_customer_id=row.stripe_customer_id)
    async with stripe_gateway(settings) as gateway:
        pushed = await gateway.sync_invoice(customer, draft)
    if pushed is None:
        return None
    row.stripe_customer_id = pushed.stripe_customer_id
    row.stripe_invoice_id = pushed.stripe_invoice_id
    await session.flush()
    return pushed.stripe_invoice_id


_STATE_OF_EVENT: dict[str, PaymentState] = {
    "invoice.paid": PaymentState.PAID,
    "invoice.payment_failed": PaymentState.FAILED,
    "invoice.marked_uncollectible": PaymentState.UNCOLLECTIBLE,
}


async def apply_stripe_event(session: AsyncSession, event: StripeInvoiceEvent) -> bool:
    """Reflects a Stripe invoice event on the Tenline invoice; True when it changed something. The same event
    again, or one older than the state's last change, changes nothing; paid is never undone by a failure."""
    row = (await session.exec(select(Invoice).where(Invoice.id == event.invoice_id).with_for_update())).first()
    if row is None:
        log.warning("invoice.stripe_event_for_unknown_invoice", invoice_id=str(event.invoice_id))
        return False
    state = _STATE_OF_EVENT.get(event.event_type)
    if state is None:
        return False
    if row.payment_updated_at is not None and event.occurred_at <= row.payment_updated_at:
        return False
    if row.payment_state == state or (row.payment_state == PaymentState.PAID and state == PaymentState.FAILED):
        return False
    row.payment_state = state
    row.payment_updated_at = event.occurred_at
    row.stripe_invoice_id = row.stripe_invoice_id or event.stripe_invoice_id
    row.version += 1
    row.updated_at = utcnow()
    await session.flush()
    await audit(
        session,
        "invoice.payment_state_changed",
        object_type="invoice",
        object_id=row.id,
        detail={"payment_state": state.value, "stripe_event_id": event.stripe_event_id},
    )
    return True


def stripe_event(payload: dict[str, Any]) -> StripeInvoiceEvent:
    return msgspec.convert(payload, StripeInvoiceEvent)
