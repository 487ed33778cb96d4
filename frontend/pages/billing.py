"""Billing pages: the tenant's usage in a period with the estimate of its bill, and every tenant's for the operator.

Read-only for now (invoices come later): the tenant's page shows a month's usage by day and channel (late
days of closed months marked), the estimate line by line, and the rate card in force; the operator's page
lists every tenant's current month, its estimated total and its share of the pool's agent time (an audited
cross-tenant read, as the API's).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import InvalidInputError
from app.core.tenancy import Principal
from billing import rating, service
from frontend.web import render
from tenants.auth import requires
from tenants.permissions import Permission
from tenants.service import cross_tenant_read

BILLING_PATH = "/billing"
OPERATOR_BILLING_PATH = "/operator/billing"

Period = Annotated[str | None, QueryParameter(name="period", max_length=16)]


def duration(seconds: Decimal) -> str:
    """Seconds as people read a long time: 12:04:31 (hours, minutes, whole seconds)."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def money(minor: int | None, currency: str | None) -> str:
    if minor is None or currency is None:
        return "—"
    return str(rating.Money(minor, currency))


def last_day(end: dt.date) -> dt.date:
    """The last day of a stretch the rating core gives as [start, end)."""
    return end - dt.timedelta(days=1)


SHOWN = {"duration": duration, "money": money, "last_day": last_day}


class BillingPages(Controller):
    path = BILLING_PATH
    guards = [requires(Permission.VIEW_BILLING)]

    @get("/")
    async def usage(
        self, request: Request[Principal, Any, Any], session: AsyncSession, period: Period = None
    ) -> Response[Any]:
        asked = period or "current"
        try:
            usage = await service.usage(session, asked)
            error = None
        except InvalidInputError:
            usage, error = await service.usage(session, "current"), "Give a month as YYYY-MM, e.g. 2026-11."
        return render(
            request,
            "billing/usage.html",
            usage=usage,
            card=await service.rate_card_in_force(session, min(await service.today(session), usage.period.last_day)),
            period_value=asked if error else f"{usage.period.first_day:%Y-%m}",
            period_error=error,
            **SHOWN,
        )


@get(OPERATOR_BILLING_PATH, guards=[requires(Permission.READ_CROSS_TENANT)])
async def operator_billing(request: Request[Principal, Any, Any]) -> Response[Any]:
    now = utcnow()
    month_start = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
    async with cross_tenant_read("billing page: usage of every tenant") as reader:
        overview = await service.usage_of_every_tenant(reader, pool_from=month_start, pool_to=now)
    return render(request, "billing/tenants.html", overview=overview, **SHOWN)
