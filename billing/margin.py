"""The operator's margin per tenant: the shared pool's cost per month, the month's exchange rates, and each
tenant's revenue less its share of that cost.

Inputs (operator admins, audited as the operator's own events). The pool's cost for a UTC calendar month, in the
operator's currency (setting ``billing_operator_currency``; a month keeps the currency it was entered in), and the
month's exchange rates: for each other currency a tenant bills in, units of the operator's currency per unit of
it, stored exactly. A save replaces the month's cost and rates under its version (If-Match).

The margin of a month (``margin_of_month``, read through ``tenants.service.cross_tenant_read``). A tenant's
revenue is its net for its own billing period starting on the month's first day (its local month): the final
invoices of that period, total before tax (after SLA credits, with adjustments), plus the final credit notes
correcting them (negative, before tax); a period with no final invoice yet counts its estimate (the usage so far
rated with the cards in force, no SLA credits), marked ``estimate``. Its cost is its share of the pool's cost by
the agent time the pool spent on its contacts in the UTC month (``billing.service.pool_shares``). The rating core
(``billing.rating.margins``) converts, splits and totals. Tenants with neither revenue nor agent time in the month
are not listed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import FieldError, InvalidInputError, NotFoundError
from app.core.tenancy import acting_as, current_principal
from app.core.versioning import apply_changes, check_version
from billing import margin_schemas as schemas
from billing import rating, service
from billing.invoicing_models import Invoice, InvoiceKind, InvoiceStatus
from billing.margin_models import RATE_BELOW, RATE_PLACES, PoolCost, PoolExchangeRate
from tenants.models import Tenant
from tenants.service import audit

WHAT = "the pool cost"
NOTHING_ENTERED = 0  # the version If-Match names to enter a month's cost only if nobody has meanwhile
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def month_start(text: str, *, source: str) -> dt.date:
    """The first day of the month ``YYYY-MM`` names; a field error on ``month`` (in ``source``) otherwise."""
    match = _MONTH.fullmatch(text)
    if match is None or int(match.group(1)) < 1:
        message = "a month as YYYY-MM, e.g. 2026-10"
        raise InvalidInputError(f"month: {message}", errors=[FieldError(field="month", message=message, source=source)])
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def last_month(now: dt.datetime) -> dt.date:
    """The first day of the UTC calendar month before ``now``'s."""
    return service.month_of(now.astimezone(dt.UTC).date().replace(day=1) - dt.timedelta(days=1))[0]


def pool_span(first_day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The pool's month: from its first midnight to the next month's, in UTC."""
    following = service.month_of(first_day)[1] + dt.timedelta(days=1)
    return (
        dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC),
        dt.datetime.combine(following, dt.time(), tzinfo=dt.UTC),
    )


# --- the pool's cost and the month's exchange rates -------------------------------------------------------------


async def _pool_cost(session: AsyncSession, month: dt.date, *, lock: bool = False) -> PoolCost | None:
    statement = select(PoolCost).where(PoolCost.month == month)
    return (await session.exec(statement.with_for_update() if lock else statement)).first()


async def _rates(session: AsyncSession, month: dt.date) -> dict[str, Decimal]:
    rows = await session.exec(
        select(PoolExchangeRate).where(PoolExchangeRate.month == month).order_by(col(PoolExchangeRate.currency))
    )
    return {row.currency: service.plain(row.rate) for row in rows}


def _pool_cost_out(row: PoolCost, rates: dict[str, Decimal]) -> schemas.PoolCostOut:
    return schemas.PoolCostOut(
        month=row.month,
        currency=row.currency,
        amount_minor=row.amount_minor,
        note=row.note,
        exchange_rates=rates,
        version=row.version,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


async def get_pool_cost(session: AsyncSession, month: dt.date) -> schemas.PoolCostOut:
    row = await _pool_cost(session, month)
    if row is None:
        raise NotFoundError(f"no pool cost is entered for {month:%Y-%m}")
    return _pool_cost_out(row, await _rates(session, month))


def _rate_errors(rates: dict[str, Decimal], currency: str) -> list[FieldError]:
    errors = []
    for code, rate in rates.items():
        message = None
        if code not in rating.ISO_4217:
            message = "not an ISO 4217 currency code (three capital letters, e.g. SEK)"
        elif code == currency:
            message = f"{currency} is the operator's own currency: it needs no rate"
        elif not rate.is_finite() or rate <= 0:
            message = "must be greater than 0"
        elif rate >= RATE_BELOW or rate.quantize(Decimal(10) ** -RATE_PLACES) != rate:
            message = f"at most {RATE_PLACES} decimals, below {RATE_BELOW:,}"
        if message:
            errors.append(FieldError(field=f"exchange_rates.{code}", message=message, source="body"))
    return errors


async def put_pool_cost(
    session: AsyncSession, month: dt.date, data: schemas.PoolCostIn, currency: str, *, if_match: int | None = None
) -> tuple[schemas.PoolCostOut, bool]:
    """Enters the month's pool cost and rates in ``currency`` (the operator's), or replaces them under ``if_match``
    (0: only while nothing is entered); what was saved, and whether it was new. Audited as the operator's own event (even by an operator acting for a
    tenant)."""
    errors = _rate_errors(data.exchange_rates, currency)
    if errors:
        raise InvalidInputError("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    principal = current_principal()
    who = principal.display_name if principal else ""
    row = await _pool_cost(session, month, lock=True)
    check_version(WHAT, row, if_match)
    created = row is None
    if row is None:
        row = PoolCost(month=month, currency=currency, amount_minor=data.amount_minor, note=data.note, updated_by=who)
        session.add(row)
    else:
        apply_changes(
            row, {"currency": currency, "amount_minor": data.amount_minor, "note": data.note, "updated_by": who}
        )
        await session.execute(sa.delete(PoolExchangeRate).where(col(PoolExchangeRate.month) == month))
    await session.flush()
    session.add_all(
        PoolExchangeRate(month=month, currency=code, rate=rate) for code, rate in data.exchange_rates.items()
    )
    await session.flush()
    rates = {code: service.plain(rate) for code, rate in sorted(data.exchange_rates.items())}
    with acting_as(principal.acting_for(None) if principal else None):
        await audit(
            session,
            "pool_cost.entered" if created else "pool_cost.changed",
            object_type="pool_cost",
            object_id=f"{month:%Y-%m}",
            detail={
                "amount_minor": row.amount_minor,
                "currency": currency,
                "exchange_rates": {code: str(rate) for code, rate in rates.items()},
                "version": row.version,
            },
        )
    return _pool_cost_out(row, rates), created


# --- the margin of a month --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Invoiced:
    """A tenant's final invoices of one period, less the final credit notes correcting them (before tax)."""

    currency: str
    net_minor: int
    credits_minor: int  # SLA credits and credit notes, <= 0


async def _invoiced(reader: AsyncSession, first_day: dt.date) -> dict[uuid.UUID, _Invoiced]:
    """Per tenant, its final invoices of the period starting on ``first_day`` and the final credit notes of them."""
    corrected = aliased(Invoice)
    net = col(Invoice.total_minor) - col(Invoice.tax_minor)
    is_invoice = col(Invoice.kind) == InvoiceKind.INVOICE
    is_credit_note = col(Invoice.kind) == InvoiceKind.CREDIT_NOTE
    statement = (
        sa.select(
            col(Invoice.tenant_id),
            col(Invoice.currency),
            sa.func.sum(net),
            sa.func.coalesce(sa.func.sum(col(Invoice.credits_minor)).filter(is_invoice), 0)
            + sa.func.coalesce(sa.func.sum(net).filter(is_credit_note), 0),
        )
        .outerjoin(
            corrected,
            sa.and_(
                col(corrected.tenant_id) == col(Invoice.tenant_id),
                col(corrected.id) == col(Invoice.corrects_invoice_id),
            ),
        )
        .where(
            col(Invoice.status) == InvoiceStatus.FINAL,
            sa.or_(
                sa.and_(is_invoice, col(Invoice.period_start) == first_day),
                sa.and_(is_credit_note, col(corrected.period_start) == first_day),
            ),
        )
        .group_by(col(Invoice.tenant_id), col(Invoice.currency))
    )
    return {
        tenant_id: _Invoiced(currency, int(net_minor), int(credits))
        for tenant_id, currency, net_minor, credits in (await reader.execute(statement)).all()
    }


@dataclasses.dataclass(frozen=True, slots=True)
class _Revenue:
    basis: schemas.RevenueBasis
    net: rating.Money | None
    credits: rating.Money | None


async def _revenue(
    reader: AsyncSession, tenant_id: uuid.UUID, first_day: dt.date, invoiced: _Invoiced | None
) -> _Revenue:
    if invoiced is not None:
        return _Revenue(
            "invoiced",
            rating.Money(invoiced.net_minor, invoiced.currency),
            rating.Money(invoiced.credits_minor, invoiced.currency),
        )
    estimate = await service.rated_period_of(reader, tenant_id, first_day)
    if estimate is None:
        return _Revenue("none", None, None)
    return _Revenue("estimate", estimate.total - estimate.tax, estimate.credits)


def _problems(found: rating.TenantMargin, status: rating.CostStatus) -> list[str]:
    problems = [f"no exchange rate for {found.missing_rate}"] if found.missing_rate else []
    if status == "no_pool_cost":
        problems.append("no pool cost entered")
    elif status == "no_agent_time":
        problems.append("no agent time in the month to allocate the pool cost by")
    return problems


def _minor(amount: rating.Money | None) -> int | None:
    return None if amount is None else amount.minor


async def margin_of_month(reader: AsyncSession, month: dt.date, operator_currency: str) -> schemas.MarginOut:
    """Every tenant's revenue, cost and margin for the month starting on ``month``; ``reader`` is a
    ``tenants.service.cross_tenant_read`` session. In the currency the month's pool cost was entered in, or
    ``operator_currency`` when none was."""
    pool_from, pool_to = pool_span(month)
    cost_row = await _pool_cost(reader, month)
    rates = await _rates(reader, month)
    currency = cost_row.currency if cost_row is not None else operator_currency
    shares = {share.tenant_id: share for share in await service.pool_shares(reader, pool_from, pool_to)}
    invoiced = await _invoiced(reader, month)
    tenants = (await reader.exec(select(Tenant.id, Tenant.name).order_by(col(Tenant.name), col(Tenant.id)))).all()
    listed: list[tuple[uuid.UUID, str, _Revenue]] = []
    months: list[rating.TenantMonth] = []
    for tenant_id, name in tenants:
        revenue = await _revenue(reader, tenant_id, month, invoiced.get(tenant_id))
        busy = shares[tenant_id].busy_seconds if tenant_id in shares else Decimal(0)
        if revenue.basis == "none" and not busy:
            continue
        listed.append((tenant_id, name, revenue))
        months.append(rating.TenantMonth(tenant=str(tenant_id), revenue=revenue.net, busy_seconds=busy))
    pool = rating.PoolMonth(
        currency=currency,
        cost=None if cost_row is None else rating.Money(cost_row.amount_minor, currency),
        rates=rates,
    )
    result = rating.margins(pool, months)
    return schemas.MarginOut(
        month=month,
        pool_from=pool_from,
        pool_to=pool_to,
        currency=currency,
        pool_cost=None if cost_row is None else _pool_cost_out(cost_row, rates),
        cost_status=result.cost_status,
        tenants=[
            schemas.TenantMarginOut(
                tenant_id=tenant_id,
                tenant=name,
                period_first_day=month,
                basis=revenue.basis,
                currency=None if revenue.net is None else revenue.net.currency,
                revenue_minor=_minor(revenue.net),
                credits_minor=_minor(revenue.credits),
                exchange_rate=found.rate,
                revenue_converted_minor=_minor(found.converted),
                pool_busy_seconds=shares[tenant_id].busy_seconds if tenant_id in shares else Decimal(0),
                pool_share=shares[tenant_id].share if tenant_id in shares else (Decimal(0) if shares else None),
                cost_minor=_minor(found.cost),
                margin_minor=_minor(found.margin),
                margin_percent=found.margin_percent,
                in_totals=found.in_totals,
                problems=_problems(found, result.cost_status),
            )
            for (tenant_id, name, revenue), found in zip(listed, result.tenants, strict=True)
        ],
        totals=schemas.MarginTotalsOut(
            revenue_minor=result.revenue.minor,
            cost_minor=_minor(result.cost),
            margin_minor=_minor(result.margin),
            margin_percent=result.margin_percent,
        ),
    )
