"""Workforce services: forecasts, staffing plans, and planned against actual staff.

The math is pure and lives beside (`erlang`, `forecast`, `staffing`); this module brings it the data,
through three adapters, one function each, so that a source changes in one place:

- `_history`: per queue and 15-minute interval, the contacts offered (by the interval of arrival) and
  the contacts handled with their handle time, talk + hold + wrap-up (by the interval of the end), from
  the reporting rollups (`app.reporting.service.queue_intervals`).
- `_targets`: the tenant's SLA contract in force on the day (`app.sla.service`: its first service-level
  target, for every queue), else each queue's own answer target and share.
- `_presence`: agents' presence changes (`agent_state_changes`, the router's log of presence), read
  directly: the presence rollups count a state once it has ended, and an intraday view needs the states
  still running.

Days are the tenant's local days (the operator's pool plan: UTC days). A day's plan is forecast from the
history before the day (or before now, for a day under way), so it holds still through the day.
The Erlang service level is answered within T / answered, whatever definition the contract measures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.errors import NotFoundError
from app.core.settings import get_settings
from app.core.tenancy import Principal, acting_as, require_tenant_id
from app.reporting import service as reporting
from app.routing import service as routing
from app.routing.engine import AgentConfig, QueueConfig
from app.routing.models import AgentStateChange, Queue, QueueChannel
from app.sla import service as sla
from app.workforce import forecast, schemas, staffing
from tenants.models import AgentAssignment
from tenants.service import cross_tenant_read, get_tenant, tenant_names

HISTORY_WEEKS = 8
SHRINKAGE = 0.3
# A queue with contacts forecast but nothing ever handled (or handled in no time) has no AHT to learn: it is
# planned at this.
DEFAULT_AHT_SECONDS = 180.0
# No finite staff answers everyone within T: a 100 % target is planned at this.
MAX_PLANNED_SERVICE_LEVEL = 0.99


@dataclass(frozen=True)
class Window:
    """The 15-minute intervals [start, end) of whole local days from ``day``."""

    day: dt.date
    timezone: str
    start: dt.datetime
    end: dt.datetime

    @property
    def count(self) -> int:
        return int((self.end - self.start).total_seconds()) // forecast.INTERVAL_SECONDS


@dataclass(frozen=True)
class PlanOptions:
    day: dt.date | None = None  # None: today (the tenant's, or UTC for the pool)
    shrinkage: float = SHRINKAGE
    history_weeks: int = HISTORY_WEEKS
    patience_seconds: float | None = None  # Erlang A when given


def day_window(day: dt.date, timezone: str, days: int = 1) -> Window:
    zone = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=days), dt.time(), zone).astimezone(dt.UTC)
    return Window(day, timezone, start, end)


def local_today(timezone: str) -> dt.date:
    return utcnow().astimezone(zoneinfo.ZoneInfo(timezone)).date()


def _interval_floor(at: dt.datetime) -> dt.datetime:
    seconds = at.timestamp()
    return dt.datetime.fromtimestamp(seconds - seconds % forecast.INTERVAL_SECONDS, dt.UTC)


def history_bounds(window: Window, weeks: int) -> tuple[dt.datetime, dt.datetime]:
    """The ``weeks`` weeks of history a forecast of ``window`` learns from: up to its start, or to now."""
    end = min(window.start, _interval_floor(utcnow()))
    return end - dt.timedelta(weeks=weeks), end


# --- adapters ------------------------------------------------------------------------------------------


async def _history(
    session: AsyncSession, queue_ids: Sequence[uuid.UUID], start: dt.datetime, end: dt.datetime, timezone: str
) -> dict[uuid.UUID, forecast.History]:
    """The acting tenant's history per queue over [start, end), from the reporting rollups."""
    count = int((end - start).total_seconds()) // forecast.INTERVAL_SECONDS
    series = {queue_id: ([0.0] * count, [0.0] * count, [0.0] * count) for queue_id in queue_ids}
    for row in await reporting.queue_intervals(session, start, end, list(queue_ids)):
        calls, handled, seconds = series[row.queue_id]
        at = int((row.interval_start - start).total_seconds()) // forecast.INTERVAL_SECONDS
        calls[at] = float(row.offered)
        handled[at] = float(row.handled)
        seconds[at] = row.talk_seconds + row.hold_seconds + row.wrap_seconds
    return {
        queue_id: forecast.History(start, tuple(calls), tuple(handled), tuple(seconds), timezone)
        for queue_id, (calls, handled, seconds) in series.items()
    }


@dataclass(frozen=True)
class _Target:
    target: staffing.Target
    source: schemas.TargetSource

    def out(self) -> schemas.TargetOut:
        return schemas.TargetOut(
            answer_target_seconds=self.target.answer_target_seconds,
            service_level=self.target.service_level,
            patience_seconds=self.target.patience_seconds,
            source=self.source,
        )


def _planned(
    answer_target_seconds: float, share: float, patience_seconds: float | None, source: schemas.TargetSource
) -> _Target:
    share = min(share, MAX_PLANNED_SERVICE_LEVEL)
    return _Target(staffing.Target(float(answer_target_seconds), share, patience_seconds), source)


async def _targets(
    session: AsyncSession, queues: Sequence[Queue], day: dt.date, patience_seconds: float | None
) -> dict[uuid.UUID, _Target]:
    """Each queue's target on ``day``: the contract's first service-level target, else the queue's own."""
    contract = await sla.contract_in_force(session, on=day)
    primary = sla.primary_service_level(contract) if contract is not None else None
    if primary is not None and primary.within_seconds is not None and primary.minimum:
        chosen = _planned(primary.within_seconds, primary.minimum, patience_seconds, "sla_contract")
        return {queue.id: chosen for queue in queues}
    return {
        queue.id: _planned(queue.answer_target_seconds, queue.target_service_level, patience_seconds, "queue")
        for queue in queues
    }


async def _presence(
    session: AsyncSession, agent_ids: Sequence[uuid.UUID] | None, start: dt.datetime, end: dt.datetime
) -> dict[uuid.UUID, list[staffing.Presence]]:
    """Each agent's presence changes in [start, end), after the last one before ``start`` (its state then)."""
    change = AgentStateChange
    chosen = col(change.agent_id).in_(agent_ids) if agent_ids is not None else sa.true()
    before = (
        select(change.agent_id, change.state, change.at)
        .where(col(change.at) < start, chosen)
        .distinct(col(change.agent_id))
        .order_by(col(change.agent_id), col(change.at).desc(), col(change.log_seq).desc())
    )
    during = (
        select(change.agent_id, change.state, change.at)
        .where(col(change.at) >= start, col(change.at) < end, chosen)
        .order_by(col(change.agent_id), col(change.at), col(change.log_seq))
    )
    timelines: dict[uuid.UUID, list[staffing.Presence]] = {}
    for statement in (before, during):
        for agent_id, state, at in (await session.exec(statement)).all():
            timelines.setdefault(agent_id, []).append(staffing.Presence(at, state))
    return timelines


# --- one tenant's queues -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _QueueForecast:
    queue: Queue
    history: forecast.History
    forecast: forecast.Forecast


async def _timezone(session: AsyncSession, principal: Principal) -> str:
    return (await get_tenant(session, require_tenant_id(), principal)).timezone


async def _queues(session: AsyncSession, queue_id: uuid.UUID | None) -> list[Queue]:
    if queue_id is not None:
        queue = (await session.exec(select(Queue).where(Queue.id == queue_id))).first()
        if queue is None:
            raise NotFoundError("no such queue")
        return [queue]
    statement = select(Queue).where(col(Queue.is_active)).order_by(col(Queue.name))
    return list((await session.exec(statement)).all())


async def _queue_forecasts(
    session: AsyncSession,
    queues: Sequence[Queue],
    window: Window,
    *,
    timezone: str,
    history_weeks: int,
    holdout_weeks: int,
) -> list[_QueueForecast]:
    start, end = history_bounds(window, history_weeks)
    histories = await _history(session, [q.id for q in queues], start, end, timezone)
    return [
        _QueueForecast(
            queue,
            histories[queue.id],
            forecast.forecast(histories[queue.id], window.start, window.count, holdout_weeks=holdout_weeks),
        )
        for queue in queues
    ]


def _model_out(model: forecast.SeasonalTrend) -> schemas.ModelOut:
    return schemas.ModelOut(level=model.level, trend_per_week=model.trend_per_week, peak_index=max(model.season))


async def forecasts(
    session: AsyncSession,
    principal: Principal,
    *,
    day: dt.date | None,
    days: int,
    history_weeks: int,
    holdout_weeks: int,
    queue_id: uuid.UUID | None,
) -> schemas.ForecastOut:
    """The acting tenant's forecast per queue (its active queues, or the one asked for) from ``day`` on."""
    timezone = await _timezone(session, principal)
    window = day_window(day or local_today(timezone), timezone, days)
    found = await _queue_forecasts(
        session,
        await _queues(session, queue_id),
        window,
        timezone=timezone,
        history_weeks=history_weeks,
        holdout_weeks=holdout_weeks,
    )
    history_start, history_end = history_bounds(window, history_weeks)
    return schemas.ForecastOut(
        start=window.start,
        end=window.end,
        timezone=timezone,
        history_start=history_start,
        history_end=history_end,
        holdout_weeks=holdout_weeks,
        method=schemas.FORECAST_METHOD,
        queues=[
            schemas.QueueForecastOut(
                queue_id=item.queue.id,
                name=item.queue.name,
                history_calls=math.fsum(item.history.calls),
                volume=_model_out(item.forecast.model.volume),
                aht=_model_out(item.forecast.model.aht) if item.forecast.model.aht is not None else None,
                held_out=schemas.HeldOutErrorOut(**dataclasses.asdict(item.forecast.held_out))
                if item.forecast.held_out is not None
                else None,
                points=[
                    schemas.ForecastPointOut(start=p.start, calls=p.calls, aht_seconds=p.aht_seconds)
                    for p in item.forecast.intervals
                ],
            )
            for item in found
        ],
    )


@dataclass(frozen=True)
class _QueueDemand:
    queue: Queue
    target: _Target
    demand: tuple[staffing.Demand, ...]
    aht_assumed: bool


async def _tenant_demand(
    session: AsyncSession, window: Window, *, timezone: str, options: PlanOptions
) -> list[_QueueDemand]:
    """The acting tenant's active queues: each one's forecast demand over ``window`` and its target."""
    queues = await _queues(session, None)
    targets = await _targets(session, queues, window.day, options.patience_seconds)
    found = await _queue_forecasts(
        session, queues, window, timezone=timezone, history_weeks=options.history_weeks, holdout_weeks=0
    )
    return [
        _QueueDemand(
            queue=item.queue,
            target=targets[item.queue.id],
            demand=tuple(
                staffing.Demand(p.start, p.calls, p.aht_seconds or DEFAULT_AHT_SECONDS) for p in item.forecast.intervals
            ),
            aht_assumed=item.forecast.model.aht is None,
        )
        for item in found
    ]


def _totals(window: Window, parts: Iterable[Sequence[tuple[int, int]]]) -> list[schemas.TotalOut]:
    """Agents summed per interval over the parts (each part: (agents, staff) per interval); staff likewise."""
    agents = [0] * window.count
    staff = [0] * window.count
    for part in parts:
        for i, (a, s) in enumerate(part):
            agents[i] += a
            staff[i] += s
    starts = forecast.interval_starts(window.start, window.count)
    return [schemas.TotalOut(start=at, agents=a, staff=s) for at, a, s in zip(starts, agents, staff, strict=True)]


async def tenant_plan(
    session: AsyncSession,
    principal: Principal,
    options: PlanOptions,
) -> schemas.TenantPlanOut:
    """The acting tenant's plan for a local day: each active queue sized alone, and the sums."""
    timezone = await _timezone(session, principal)
    window = day_window(options.day or local_today(timezone), timezone)
    demands = await _tenant_demand(session, window, timezone=timezone, options=options)
    plans = [(item, staffing.plan_queue(item.demand, item.target.target, options.shrinkage)) for item in demands]
    return schemas.TenantPlanOut(
        day=window.day,
        timezone=timezone,
        start=window.start,
        end=window.end,
        shrinkage=options.shrinkage,
        method=schemas.PLAN_METHOD,
        queues=[
            schemas.QueuePlanOut(
                queue_id=item.queue.id,
                name=item.queue.name,
                target=item.target.out(),
                aht_assumed=item.aht_assumed,
                intervals=[schemas.IntervalPlanOut(**dataclasses.asdict(p)) for p in plan],
            )
            for item, plan in plans
        ],
        totals=_totals(window, ([(p.agents, p.staff) for p in plan] for _, plan in plans)),
    )


# --- the shared pool -----------------------------------------------------------------------------------


def can_serve(agent: AgentConfig, queue: QueueConfig, channel: str) -> bool:
    """Could the agent ever take the queue's contacts: its tenant, the hard attributes, the widest skill ring
    (the last relaxation step's, or the queue's own without steps), and the channel."""
    if queue.tenant_id not in agent.tenants:
        return False
    if not queue.required_attributes <= agent.attributes.get(queue.tenant_id, frozenset()):
        return False
    widest = queue.relaxation[-1].skills if queue.relaxation else queue.skills
    skills = agent.skills.get(queue.tenant_id, {})
    if any(skills.get(need.skill, 0) < need.min_proficiency for need in widest):
        return False
    return agent.voice if channel == QueueChannel.VOICE else agent.chat_capacity > 0


async def pool_plan(
    principal: Principal,
    options: PlanOptions,
) -> schemas.PoolPlanOut:
    """The shared pool's plan for a UTC day, across every active tenant (an audited cross-tenant read)."""
    window = day_window(options.day or local_today("UTC"), "UTC")
    async with cross_tenant_read("workforce plan of the shared pool", day=str(window.day)) as reader:
        config = await routing.load_engine_config(
            reader, offer_timeout_seconds=get_settings().router_offer_timeout_seconds
        )
        names = await tenant_names(reader, [uuid.UUID(t.tenant_id) for t in config.tenants])
    demands: dict[uuid.UUID, _QueueDemand] = {}
    tenant_of: dict[uuid.UUID, uuid.UUID] = {}
    for tenant in config.tenants:
        tenant_id = uuid.UUID(tenant.tenant_id)
        acting = principal.acting_for(tenant_id)
        with acting_as(acting):
            async with get_database().session() as session:
                timezone = await _timezone(session, acting)
                for item in await _tenant_demand(session, window, timezone=timezone, options=options):
                    demands[item.queue.id] = item
                    tenant_of[item.queue.id] = tenant_id
    channels = {str(queue_id): item.queue.channel for queue_id, item in demands.items()}
    queue_configs = [q for q in config.queues if q.queue_id in channels]
    eligibility = {
        agent.agent_id: frozenset(q.queue_id for q in queue_configs if can_serve(agent, q, channels[q.queue_id]))
        for agent in config.agents
    }
    found = staffing.pools(channels, eligibility)
    plans = []
    for pool in found:
        members = {queue_id: demands[uuid.UUID(queue_id)] for queue_id in pool.queues}
        plan = staffing.plan_pool(
            pool,
            {queue_id: item.demand for queue_id, item in members.items()},
            {queue_id: item.target.target for queue_id, item in members.items()},
            options.shrinkage,
        )
        plans.append((pool, members, plan))
    return schemas.PoolPlanOut(
        day=window.day,
        start=window.start,
        end=window.end,
        shrinkage=options.shrinkage,
        method=schemas.POOL_METHOD,
        pools=[_pool_out(pool, members, plan, tenant_of, names) for pool, members, plan in plans],
        totals=_totals(window, ([(p.agents, p.staff) for p in plan] for _, _, plan in plans)),
    )


def _pool_out(
    pool: staffing.Pool,
    members: Mapping[str, _QueueDemand],
    plan: Sequence[staffing.PoolIntervalPlan],
    tenant_of: Mapping[uuid.UUID, uuid.UUID],
    names: Mapping[uuid.UUID, str],
) -> schemas.PoolOut:
    strictest = staffing.strictest(item.target.target for item in members.values())
    sources = {item.target.source for item in members.values()}
    return schemas.PoolOut(
        queues=[
            schemas.PoolQueueOut(
                queue_id=item.queue.id,
                name=item.queue.name,
                tenant_id=tenant_of[item.queue.id],
                tenant_name=names.get(tenant_of[item.queue.id], ""),
                target=item.target.out(),
            )
            for item in members.values()
        ],
        skill_groups=[
            schemas.SkillGroupOut(queue_ids=sorted(uuid.UUID(q) for q in group.queues), agents=group.agents)
            for group in pool.skill_groups
        ],
        agents=pool.agents,
        target=_Target(strictest, "sla_contract" if sources == {"sla_contract"} else "queue").out(),
        intervals=[schemas.PoolIntervalOut(**dataclasses.asdict(p)) for p in plan],
    )


# --- planned against actual ----------------------------------------------------------------------------


async def _tenant_agents(session: AsyncSession) -> list[uuid.UUID]:
    return list((await session.exec(select(AgentAssignment.agent_id))).all())


async def intraday_of(session: AsyncSession, plan: schemas.TenantPlanOut | schemas.PoolPlanOut) -> schemas.IntradayOut:
    """A plan's staff against the agents staffed over its day: the tenant's own agents (a shared agent counts
    in each tenant it works for), or every agent for the pool's plan."""
    scope: Literal["tenant", "pool"]
    if isinstance(plan, schemas.TenantPlanOut):
        agents: list[uuid.UUID] | None = await _tenant_agents(session)
        timezone, scope = plan.timezone, "tenant"
    else:
        agents, timezone, scope = None, "UTC", "pool"
    timelines = await _presence(session, agents, plan.start, plan.end)
    actual = staffing.staffed_per_interval(timelines.values(), plan.start, len(plan.totals), utcnow())
    return schemas.IntradayOut(
        day=plan.day,
        timezone=timezone,
        scope=scope,
        points=[
            schemas.IntradayPointOut(
                start=total.start,
                planned_agents=total.agents,
                planned_staff=total.staff,
                staffed=staffed.staffed,
                available=staffed.available,
            )
            for total, staffed in zip(plan.totals, actual, strict=True)
        ],
    )


async def intraday(session: AsyncSession, principal: Principal, options: PlanOptions) -> schemas.IntradayOut:
    """The acting tenant's plan against its agents, or (an operator for no tenant) the pool's against every agent."""
    if principal.tenant_id is None:
        return await intraday_of(session, await pool_plan(principal, options))
    return await intraday_of(session, await tenant_plan(session, principal, options))
