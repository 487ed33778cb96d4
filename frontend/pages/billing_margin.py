"""The operator's margin page (/operator/billing/margin, linked from /operator/billing): a month's shared pool
cost and exchange rates, and each tenant's revenue, share of that cost and margin, with the totals.

Operator admins enter the month's pool cost (in major units of the operator's currency, as people write money)
and a rate per currency the month's tenants bill in; ops managers read. The figures are the API's
(``billing.margin``, an audited cross-tenant read); a refused save shows each problem next to its input.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import InvalidInputError, NotFoundError
from app.core.settings import get_settings
from app.core.tenancy import Principal
from billing import margin, rating
from billing import margin_schemas as schemas
from frontend.editing import form_version
from frontend.forms import FORM, Form, placed, submit, text_fields, validate
from frontend.pages.billing import OPERATOR_BILLING_ADMINS, OPERATOR_BILLING_PATH, SHOWN
from frontend.web import flash, redirect, render
from tenants.auth import requires
from tenants.permissions import Permission, allowed
from tenants.service import cross_tenant_read

MARGIN_PATH = f"{OPERATOR_BILLING_PATH}/margin"
RATE_FIELD = "rate_"  # + the currency's code: one input per currency

Month = Annotated[str | None, QueryParameter(name="month", max_length=16)]


def _major(minor: int, currency: str) -> str:
    """Minor units as people type the amount: 12500.00 (no thousands separators)."""
    return f"{rating.Money(minor, currency).major:f}"


def _blank(result: schemas.MarginOut) -> Form:
    """The form as saved: the month's pool cost and rates, or empty fields for a month with none."""
    values: dict[str, Any] = {"month": f"{result.month:%Y-%m}", "amount": "", "note": ""}
    values["version"] = str(margin.NOTHING_ENTERED)
    cost = result.pool_cost
    if cost is not None:
        values |= {"version": str(cost.version), "amount": _major(cost.amount_minor, cost.currency), "note": cost.note}
        values |= {f"{RATE_FIELD}{code}": f"{rate:f}" for code, rate in cost.exchange_rates.items()}
    return Form(values=values)


def _rate_currencies(result: schemas.MarginOut, form: Form) -> list[str]:
    """The currencies that want a rate: those the month's tenants bill in, and those given one already."""
    billed = {tenant.currency for tenant in result.tenants if tenant.currency}
    given = {name.removeprefix(RATE_FIELD) for name in form.values if name.startswith(RATE_FIELD)}
    return sorted((billed | given) - {result.currency, get_settings().billing_operator_currency})


async def _page(
    request: Request[Principal, Any, Any],
    month: dt.date,
    *,
    form: Form | None = None,
    month_value: str | None = None,
    month_error: str | None = None,
    status: int = 200,
) -> Response[Any]:
    async with cross_tenant_read("billing page: margin of every tenant", month=f"{month:%Y-%m}") as reader:
        result = await margin.margin_of_month(reader, month, get_settings().billing_operator_currency)
    shown = form or _blank(result)
    return render(
        request,
        "billing/margin.html",
        status=status,
        result=result,
        form=shown,
        rate_currencies=_rate_currencies(result, shown),
        entry_currency=get_settings().billing_operator_currency,
        can_enter=allowed(request.user, Permission.MANAGE_BILLING),
        month_value=month_value or f"{month:%Y-%m}",
        month_error=month_error,
        this_month=f"{utcnow():%Y-%m}",
        last_month=f"{margin.last_month(utcnow()):%Y-%m}",
        **SHOWN,
    )


@get(MARGIN_PATH, guards=[requires(Permission.READ_CROSS_TENANT)])
async def operator_margin(request: Request[Principal, Any, Any], month: Month = None) -> Response[Any]:
    if not month:
        return await _page(request, margin.last_month(utcnow()))
    try:
        return await _page(request, margin.month_start(month, source="query"))
    except InvalidInputError:
        error = "Give a month as YYYY-MM, e.g. 2026-10."
        return await _page(request, margin.last_month(utcnow()), month_value=month, month_error=error)


def _body(values: dict[str, str], currency: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The API's body from what was typed (the amount in major units, rates as decimals), and the problems of
    single inputs, keyed as the service names them."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"note": values["note"], "exchange_rates": {}}
    if values["amount"]:
        try:
            body["amount_minor"] = rating.Money.of(values["amount"], currency).minor
        except (ValueError, ArithmeticError):
            digits = rating.minor_unit_digits(currency)
            errors["amount_minor"] = f"an amount in {currency} with at most {digits} decimals, e.g. 12500.00"
    for name, text in values.items():
        if not name.startswith(RATE_FIELD) or not text:
            continue
        code = name.removeprefix(RATE_FIELD)
        try:
            body["exchange_rates"][code] = str(Decimal(text))
        except InvalidOperation:
            errors[f"exchange_rates.{code}"] = "a number, e.g. 0.0874"
    return body, errors


@post(MARGIN_PATH, guards=OPERATOR_BILLING_ADMINS)
async def enter_pool_cost(request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
    form = await request.form()
    rates = [name for name in form if name.startswith(RATE_FIELD)]
    values = text_fields(form, ("month", "version", "amount", "note", *rates))
    month = margin.month_start(values["month"], source="body")
    currency = get_settings().billing_operator_currency
    body, errors = _body(values, currency)
    data, invalid = validate(schemas.PoolCostIn, body)
    errors = invalid | errors
    version = form_version(values["version"])
    if data is not None and not errors:
        checked = data
        saved, errors = await submit(
            session, lambda: margin.put_pool_cost(session, month, checked, currency, if_match=version)
        )
        if saved is not None:
            cost, _ = saved
            amount = rating.Money(cost.amount_minor, cost.currency)
            flash(request, f"The pool cost of {month:%B %Y} is saved: {amount}.")
            return redirect(request, f"{MARGIN_PATH}?month={month:%Y-%m}")
    current = await _saved_version(session, month) if version is not None else None
    if current is not None and current != version:
        values["version"] = str(current)
        errors[FORM] = STALE.format(month=month, version=current)
    shown = {"amount_minor", "note", *(f"exchange_rates.{name.removeprefix(RATE_FIELD)}" for name in rates)}
    return await _page(request, month, form=Form(values=values, errors=placed(errors, shown)), status=422)


STALE = (
    "Someone else saved the pool cost of {month:%B %Y} while you were editing it; it is now version {version}. "
    "What you typed is kept below: save again to replace theirs."
)


async def _saved_version(session: AsyncSession, month: dt.date) -> int | None:
    try:
        return (await margin.get_pool_cost(session, month)).version
    except NotFoundError:
        return None
