"""HTTP API of the operator's margin under /api/v1/billing: the shared pool's cost per month with the month's
exchange rates, and the margin per tenant.

Operator staff only (tenants and their programs are refused): ops managers and operator admins read, operator
admins enter the pool's cost (the manage-billing role, with no tenant to act for). The margin reads every
tenant's invoices and usage through the audited cross-tenant path.
"""

from __future__ import annotations

from typing import Annotated

from litestar import get, put
from litestar.params import Parameter, QueryParameter
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import Guard
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.http import API_PREFIX, IfMatch, TransactionController, if_match_version, with_etag
from app.core.settings import get_settings
from billing import margin
from billing import margin_schemas as schemas
from tenants.auth import requires
from tenants.permissions import Permission
from tenants.service import cross_tenant_read

MONTH_PATTERN = r"^\d{4}-\d{2}$"
READ: list[Guard] = [requires(Permission.READ_CROSS_TENANT)]
ENTER: list[Guard] = [requires(Permission.READ_CROSS_TENANT), requires(Permission.MANAGE_BILLING, acting_tenant=False)]

MonthPath = Annotated[str, Parameter(description="a UTC calendar month as YYYY-MM", pattern=MONTH_PATTERN)]
MonthQuery = Annotated[
    str | None, QueryParameter(description="a month as YYYY-MM (default: last month, in UTC)", pattern=MONTH_PATTERN)
]


def _versioned(cost: schemas.PoolCostOut, status_code: int = HTTP_200_OK) -> Response[schemas.PoolCostOut]:
    return with_etag(cost, cost.version, status_code, location=f"{API_PREFIX}/billing/pool-costs/{cost.month:%Y-%m}")


class MarginController(TransactionController):
    path = f"{API_PREFIX}/billing"
    tags = ["billing"]

    @get(
        "/margin",
        guards=READ,
        summary="The operator's margin per tenant for a month (operators; the read is audited)",
        description="Per tenant: its net revenue for its billing period starting that month (its own local month): "
        "final invoices before tax (after SLA credits, with adjustments) less final credit notes correcting them, "
        "or for a period not invoiced yet its estimate (basis `estimate`); converted to the operator's currency "
        "with the month's exchange rate (rounded half to even once per tenant); its cost, the share of the month's "
        "pool cost by the agent time the pool spent on its contacts in the UTC calendar month; margin = revenue - "
        "cost. A tenant whose currency has no rate that month keeps its revenue in its own currency and is left "
        "out of the totals; without a pool cost the costs and margins are null (`problems` says why).",
    )
    async def get_margin(self, month: MonthQuery = None) -> schemas.MarginOut:
        first_day = margin.last_month(utcnow()) if month is None else margin.month_start(month, source="query")
        async with cross_tenant_read("billing margin of every tenant", month=f"{first_day:%Y-%m}") as reader:
            return await margin.margin_of_month(reader, first_day, get_settings().billing_operator_currency)

    @get(
        "/pool-costs/{month:str}",
        guards=READ,
        summary="The shared pool's cost for a month and its exchange rates (its ETag is its version)",
        description="404 until one is entered for the month.",
    )
    async def get_pool_cost(self, session: AsyncSession, month: MonthPath) -> Response[schemas.PoolCostOut]:
        return _versioned(await margin.get_pool_cost(session, margin.month_start(month, source="path")))

    @put(
        "/pool-costs/{month:str}",
        guards=ENTER,
        summary="Enter or replace the shared pool's cost for a month (operator admins)",
        description="The month is a UTC calendar month; the amount is in minor units of the operator's currency "
        "(its setting `billing_operator_currency`), and each exchange rate gives units of it per 1 unit of a "
        "currency a tenant bills in (ISO 4217, > 0, at most 10 decimals). The rates given replace the month's. "
        'Entering answers 201, replacing 200; If-Match: the version read, or "0" to enter only while nothing is '
        "entered (412 when it changed since).",
    )
    async def put_pool_cost(
        self, session: AsyncSession, month: MonthPath, data: schemas.PoolCostIn, if_match: IfMatch = None
    ) -> Response[schemas.PoolCostOut]:
        first_day = margin.month_start(month, source="path")
        currency = get_settings().billing_operator_currency
        saved, created = await margin.put_pool_cost(
            session, first_day, data, currency, if_match=if_match_version(if_match)
        )
        return _versioned(saved, HTTP_201_CREATED if created else HTTP_200_OK)


route_handlers = [MarginController]
