"""HTTP API of workforce planning under /api/v1/wfm: forecasts, staffing plans, planned against actual staff.

A tenant's people (and an operator acting for a tenant) get the tenant's own queues; an operator acting
for no tenant gets the plan of the shared pool across tenants.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Request, get
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.params import QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import API_PREFIX, TransactionController
from app.core.tenancy import Principal
from app.workforce import schemas, service
from tenants.auth import requires
from tenants.permissions import Permission

Day = Annotated[
    dt.date | None,
    QueryParameter(description="the day to plan (YYYY-MM-DD; the tenant's local day, UTC for the pool); today"),
]
Days = Annotated[int, QueryParameter(ge=1, le=14, description="days to forecast from `day`")]
HistoryWeeks = Annotated[int, QueryParameter(ge=1, le=52, description="weeks of history the forecast learns from")]
HoldoutWeeks = Annotated[
    int, QueryParameter(ge=0, le=8, description="last weeks of the history kept out to measure the error (0: none)")
]
Shrinkage = Annotated[
    float,
    QueryParameter(ge=0, le=0.9, description="share of staff time off contacts: staff = agents / (1 - shrinkage)"),
]
Patience = Annotated[
    float | None,
    QueryParameter(gt=0, le=86_400, description="mean caller patience in seconds: Erlang A instead of Erlang C"),
]


def _acting_tenant(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal: Principal | None = connection.scope.get("user")
    if principal is not None and principal.tenant_id is None:
        raise PermissionDeniedException("choose a tenant to act for (Tenline-Tenant header or the tenant switcher)")


VIEW_WFM = requires(Permission.VIEW_WFM)


class WorkforceController(TransactionController):
    path = f"{API_PREFIX}/wfm"
    tags = ["workforce"]

    @get(
        "/forecast",
        guards=[VIEW_WFM, _acting_tenant],
        summary="Forecast contacts and AHT per 15-minute interval, with the error on held-out weeks",
        description=schemas.FORECAST_METHOD,
    )
    async def forecast(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        day: Day = None,
        days: Days = 1,
        history_weeks: HistoryWeeks = service.HISTORY_WEEKS,
        holdout_weeks: HoldoutWeeks = 1,
        queue_id: Annotated[
            uuid.UUID | None, QueryParameter(description="one queue (default: every active one)")
        ] = None,
    ) -> schemas.ForecastOut:
        return await service.forecasts(
            session,
            request.user,
            day=day,
            days=days,
            history_weeks=history_weeks,
            holdout_weeks=holdout_weeks,
            queue_id=queue_id,
        )

    @get(
        "/plan",
        guards=[VIEW_WFM],
        summary="Staffing plan per interval: the tenant's queues, or (an operator for no tenant) the shared pool",
        description=f"Tenant: {schemas.PLAN_METHOD} Pool: {schemas.POOL_METHOD}",
    )
    async def plan(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        day: Day = None,
        shrinkage: Shrinkage = service.SHRINKAGE,
        history_weeks: HistoryWeeks = service.HISTORY_WEEKS,
        patience_seconds: Patience = None,
    ) -> schemas.TenantPlanOut | schemas.PoolPlanOut:
        options = service.PlanOptions(day, shrinkage, history_weeks, patience_seconds)
        if request.user.tenant_id is None:
            return await service.pool_plan(request.user, options)
        return await service.tenant_plan(session, request.user, options)

    @get(
        "/intraday",
        guards=[VIEW_WFM],
        summary="Planned staff against agents staffed per interval of a day (the tenant's agents, or the pool)",
        description="staffed: the mean number of agents not offline over the interval (its elapsed part while it "
        "runs); available: of them, those not on break. A shared agent counts in each tenant it works for.",
    )
    async def intraday(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        day: Day = None,
        shrinkage: Shrinkage = service.SHRINKAGE,
        history_weeks: HistoryWeeks = service.HISTORY_WEEKS,
        patience_seconds: Patience = None,
    ) -> schemas.IntradayOut:
        return await service.intraday(
            session, request.user, service.PlanOptions(day, shrinkage, history_weeks, patience_seconds)
        )


route_handlers = [WorkforceController]
