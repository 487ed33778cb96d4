"""Workforce pages: the tenant's forecast, staffing plan and planned-against-actual day; the operator's plan of
the shared pool; and the Erlang calculator, which asks and refuses exactly what `tenline wfm erlang` does
(both build an `app.workforce.calculator.Question`).

Charts are drawn by /static/wfm.js (Chart.js) from the figures the page embeds as JSON.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.tenancy import Principal
from app.workforce import calculator, schemas, service
from frontend.forms import FORM, Form
from frontend.web import acting_tenant, redirect, render
from tenants.auth import requires
from tenants.permissions import Permission

PATH = "/wfm"
CALCULATOR_PATH = "/wfm/erlang"
POOL_PATH = "/operator/wfm"
VIEW_WFM = requires(Permission.VIEW_WFM)

PLAN_FIELDS = ("day", "shrinkage", "history_weeks")
CALCULATOR_LABELS: dict[calculator.Field, str] = {
    "calls": "Contacts in the interval",
    "interval_seconds": "Interval (seconds)",
    "aht_seconds": "Average handle time (seconds)",
    "answer_target_seconds": "Answer within (seconds)",
    "target_sl": "Service level target",
    "patience_seconds": "Mean patience (seconds)",
    "shrinkage": "Shrinkage",
}
CALCULATOR_HELP: dict[calculator.Field, str] = {
    "calls": "Offered in the interval, e.g. 100.",
    "interval_seconds": "1800 for half an hour.",
    "aht_seconds": "Talk, hold and wrap-up.",
    "answer_target_seconds": "T of the service level.",
    "target_sl": "A fraction: 0.8 for 80 %.",
    "patience_seconds": "Optional: Erlang A (callers hang up) instead of Erlang C.",
    "shrinkage": "Optional, 0 to 0.9: 0.3 for 30 % of staff time off contacts.",
}
CALCULATOR_EXAMPLE = {
    "calls": "100",
    "interval_seconds": "1800",
    "aht_seconds": "180",
    "answer_target_seconds": "20",
    "target_sl": "0.8",
    "patience_seconds": "",
    "shrinkage": "0.3",
}


# --- the day's options ----------------------------------------------------------------------------------


def _plan_options(request: Request[Any, Any, Any]) -> tuple[Form, service.PlanOptions | None]:
    """The day, shrinkage and weeks of history asked for in the query (defaults when blank), or the errors."""
    values = {name: str(request.query_params.get(name) or "").strip() for name in PLAN_FIELDS}
    values["shrinkage"] = values["shrinkage"] or f"{service.SHRINKAGE:g}"
    values["history_weeks"] = values["history_weeks"] or str(service.HISTORY_WEEKS)
    errors: dict[str, str] = {}
    day = None
    if values["day"]:
        try:
            day = dt.date.fromisoformat(values["day"])
        except ValueError:
            errors["day"] = "must be a date as YYYY-MM-DD"
    shrinkage = _number(values["shrinkage"])
    if shrinkage is None or not 0 <= shrinkage <= 0.9:
        errors["shrinkage"] = "must be a fraction from 0 to 0.9 (0.3 for 30 %)"
    weeks = int(values["history_weeks"]) if values["history_weeks"].isdigit() else 0
    if not 1 <= weeks <= 52:
        errors["history_weeks"] = "must be a whole number of weeks from 1 to 52"
    form = Form(values=values, errors=errors)
    if errors or shrinkage is None:
        return form, None
    return form, service.PlanOptions(day=day, shrinkage=shrinkage, history_weeks=weeks)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _clock(at: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%H:%M")


def _percent(share: float | None) -> str:
    if share is None:
        return "—"
    return f"{round(share * 100, 1) or 0.0:.1f}%"  # "or": no "-0.0%" for a bias rounding to nothing


# --- the tenant's day -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    time: str
    cells: list[tuple[float, int]]  # per queue: contacts forecast, agents
    agents: int
    staff: int
    staffed: float | None


@dataclass(frozen=True)
class ForecastRow:
    name: str
    calls: float
    peak: float
    aht: float | None  # contact-weighted over the day
    held_out: schemas.HeldOutErrorOut | None


def _plan_rows(plan: schemas.TenantPlanOut, intraday: schemas.IntradayOut) -> list[PlanRow]:
    """The intervals with something planned or someone staffed."""
    zone = zoneinfo.ZoneInfo(plan.timezone)
    rows = []
    for i, (total, point) in enumerate(zip(plan.totals, intraday.points, strict=True)):
        if total.agents or point.staffed:
            cells = [(q.intervals[i].calls, q.intervals[i].agents) for q in plan.queues]
            rows.append(PlanRow(_clock(total.start, zone), cells, total.agents, total.staff, point.staffed))
    return rows


def _forecast_rows(forecast: schemas.ForecastOut) -> list[ForecastRow]:
    rows = []
    for queue in forecast.queues:
        calls = math.fsum(p.calls for p in queue.points)
        work = math.fsum(p.calls * p.aht_seconds for p in queue.points if p.aht_seconds is not None)
        rows.append(
            ForecastRow(
                name=queue.name,
                calls=calls,
                peak=max((p.calls for p in queue.points), default=0.0),
                aht=work / calls if calls and queue.aht is not None else None,
                held_out=queue.held_out,
            )
        )
    return rows


def _intraday_series(intraday: schemas.IntradayOut) -> dict[str, list[Any]]:
    return {
        "planned_agents": [p.planned_agents for p in intraday.points],
        "planned_staff": [p.planned_staff for p in intraday.points],
        "staffed": [p.staffed for p in intraday.points],
        "available": [p.available for p in intraday.points],
    }


def _tenant_chart(forecast: schemas.ForecastOut, intraday: schemas.IntradayOut) -> dict[str, Any]:
    zone = zoneinfo.ZoneInfo(intraday.timezone)
    return {
        "labels": [_clock(p.start, zone) for p in intraday.points],
        "forecast": [{"name": q.name, "calls": [round(p.calls, 3) for p in q.points]} for q in forecast.queues],
        "intraday": _intraday_series(intraday),
    }


class WorkforcePages(Controller):
    path = PATH
    guards = [VIEW_WFM]

    @get("/")
    async def day(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        principal = request.user
        if principal.is_operator and principal.tenant_id is None:
            return redirect(request, POOL_PATH)
        acting_tenant(principal)
        form, options = _plan_options(request)
        if options is None:
            return render(request, "wfm/tenant.html", form=form, plan=None, status=400)
        forecast = await service.forecasts(
            session,
            principal,
            day=options.day,
            days=1,
            history_weeks=options.history_weeks,
            holdout_weeks=1,
            queue_id=None,
        )
        plan = await service.tenant_plan(session, principal, options)
        intraday = await service.intraday_of(session, plan)
        form.values["day"] = plan.day.isoformat()
        return render(
            request,
            "wfm/tenant.html",
            form=form,
            plan=plan,
            forecast=forecast,
            rows=_plan_rows(plan, intraday),
            forecast_rows=_forecast_rows(forecast),
            chart=_tenant_chart(forecast, intraday),
            percent=_percent,
        )

    @get("/erlang")
    async def erlang(self, request: Request[Principal, Any, Any]) -> Response[Any]:
        asked = any(name in request.query_params for name in calculator.FIELDS)
        values: dict[str, str] = {
            name: str(request.query_params.get(name) or "").strip() if asked else CALCULATOR_EXAMPLE[name]
            for name in calculator.FIELDS
        }
        form = Form(values=values)
        result = None
        if asked:
            result, form.errors = _calculate(values)
        return render(
            request,
            "wfm/erlang.html",
            form=form,
            result=result,
            labels=CALCULATOR_LABELS,
            help=CALCULATOR_HELP,
            back=POOL_PATH if request.user.tenant_id is None else PATH,
            status=200 if not form.errors else 400,
        )


def _calculate(values: Mapping[str, str]) -> tuple[calculator.Answer | None, dict[str, str]]:
    """The calculator's answer to the typed values, or an error per field (and for the whole question)."""
    question, problems = calculator.parse(values)
    if question is None:
        return None, {str(name): message for name, message in problems.items()}
    try:
        return calculator.answer(question), {}
    except calculator.ArgumentError as exc:
        return None, {exc.field or FORM: exc.message}


# --- the operator's pool --------------------------------------------------------------------------------


def operator_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if not connection.user.is_operator:
        raise PermissionDeniedException("the shared pool's plan is the operator's")


@dataclass(frozen=True)
class PoolRow:
    time: str
    calls: float
    agents: int
    staff: int
    dedicated_agents: int
    staffed: float | None
    available: float | None


def _pool_rows(plan: schemas.PoolPlanOut, intraday: schemas.IntradayOut) -> list[PoolRow]:
    zone = zoneinfo.ZoneInfo("UTC")
    rows = []
    for i, (total, point) in enumerate(zip(plan.totals, intraday.points, strict=True)):
        calls = math.fsum(pool.intervals[i].calls for pool in plan.pools)
        dedicated = sum(pool.intervals[i].dedicated_agents for pool in plan.pools)
        if total.agents or point.staffed:
            rows.append(
                PoolRow(
                    _clock(total.start, zone),
                    calls,
                    total.agents,
                    total.staff,
                    dedicated,
                    point.staffed,
                    point.available,
                )
            )
    return rows


def _queue_names(plan: schemas.PoolPlanOut) -> dict[uuid.UUID, str]:
    return {q.queue_id: f"{q.tenant_name} · {q.name}" for pool in plan.pools for q in pool.queues}


def _pool_chart(plan: schemas.PoolPlanOut, intraday: schemas.IntradayOut) -> dict[str, Any]:
    zone = zoneinfo.ZoneInfo("UTC")
    return {
        "labels": [_clock(p.start, zone) for p in intraday.points],
        "intraday": _intraday_series(intraday),
        "dedicated_agents": [
            sum(pool.intervals[i].dedicated_agents for pool in plan.pools) for i in range(len(plan.totals))
        ],
    }


def _peak(values: Sequence[int]) -> int:
    return max(values, default=0)


class PoolWorkforcePages(Controller):
    path = POOL_PATH
    guards = [VIEW_WFM, operator_only]

    @get("/")
    async def pool(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form, options = _plan_options(request)
        if options is None:
            return render(request, "wfm/pool.html", form=form, plan=None, status=400)
        # The pool's plan is across tenants: made as the operator itself, whichever tenant it acts for.
        operator = request.user.acting_for(None)
        plan = await service.pool_plan(operator, options)
        intraday = await service.intraday_of(session, plan)
        form.values["day"] = plan.day.isoformat()
        return render(
            request,
            "wfm/pool.html",
            form=form,
            plan=plan,
            rows=_pool_rows(plan, intraday),
            names=_queue_names(plan),
            chart=_pool_chart(plan, intraday),
            peak=_peak,
            percent=_percent,
        )
