"""Response structs of the workforce API: forecasts, staffing plans, planned versus actual staff."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from app.core.structs import Output

FORECAST_METHOD = (
    "contacts and mean handle time per 15-minute interval, each modelled as (level + trend x weeks) x the seasonal "
    "index of its 15-minute slot of the week (in the tenant's time zone), fitted by least squares on the history; "
    "the trend needs two weeks of history. Held-out error: the last weeks of the history kept out and forecast "
    "by a model fitted on the rest: WAPE = sum |actual - forecast| / sum actual, MAPE = mean |actual - forecast| / "
    "actual over intervals with contacts, bias = sum (forecast - actual) / sum actual (above 0: over-forecast); "
    "AHT errors are weighted by each interval's contacts."
)
PLAN_METHOD = (
    "per queue and interval: the fewest agents whose service level (answered within T / answered) reaches the "
    "target by Erlang C (Erlang A with patience_seconds) on the forecast contacts and AHT; staff = agents / "
    "(1 - shrinkage), rounded up."
)
POOL_METHOD = (
    "queues joined into pools wherever an agent can serve both (tenant assignment, hard attributes and the widest "
    "skill ring of the queue); each pool's contacts and workload summed per interval and sized by Erlang on the "
    "pooled load against the strictest target of its queues. The pooled figure assumes every agent of the pool "
    "takes every contact (a lower bound); dedicated = each queue sized alone and summed (an upper bound): the real "
    "need of agents with partly overlapping skills lies between them."
)


class ModelOut(Output):
    """A fitted series: (level + trend_per_week x weeks since history_start) x the slot's seasonal index."""

    level: float  # per interval, at the start of the history
    trend_per_week: float
    peak_index: float  # the largest seasonal index (1 = an average slot)


class HeldOutErrorOut(Output):
    weeks: int
    intervals: int
    actual_calls: float
    forecast_calls: float
    wape: float | None
    mape: float | None
    bias: float | None
    aht_wape: float | None
    aht_bias: float | None


class ForecastPointOut(Output):
    start: dt.datetime
    calls: float
    aht_seconds: float | None  # None: nothing handled in the history to learn from


class QueueForecastOut(Output):
    queue_id: uuid.UUID
    name: str
    history_calls: float  # contacts offered over the history
    volume: ModelOut
    aht: ModelOut | None
    held_out: HeldOutErrorOut | None  # None: under (holdout weeks + 1) weeks of history
    points: list[ForecastPointOut]


class ForecastOut(Output):
    start: dt.datetime
    end: dt.datetime
    timezone: str
    history_start: dt.datetime
    history_end: dt.datetime
    holdout_weeks: int
    method: str
    queues: list[QueueForecastOut]


# sla_contract: the tenant's contract in force (its first service-level target); queue: the queue's own.
TargetSource = Literal["sla_contract", "queue"]


class TargetOut(Output):
    answer_target_seconds: float
    service_level: float
    patience_seconds: float | None
    source: TargetSource


class IntervalPlanOut(Output):
    start: dt.datetime
    calls: float
    aht_seconds: float
    load_erlangs: float
    agents: int
    staff: int
    service_level: float
    asa_seconds: float
    occupancy: float


class QueuePlanOut(Output):
    queue_id: uuid.UUID
    name: str
    target: TargetOut
    aht_assumed: bool  # no handled contact in the history: the default AHT was used
    intervals: list[IntervalPlanOut]


class TotalOut(Output):
    start: dt.datetime
    agents: int
    staff: int


class TenantPlanOut(Output, tag="tenant"):
    """The acting tenant's plan: each of its active queues sized alone."""

    day: dt.date
    timezone: str
    start: dt.datetime
    end: dt.datetime
    shrinkage: float
    method: str
    queues: list[QueuePlanOut]
    totals: list[TotalOut]


class PoolQueueOut(Output):
    queue_id: uuid.UUID
    name: str
    tenant_id: uuid.UUID
    tenant_name: str
    target: TargetOut


class SkillGroupOut(Output):
    queue_ids: list[uuid.UUID]
    agents: int


class PoolIntervalOut(Output):
    start: dt.datetime
    calls: float
    aht_seconds: float
    load_erlangs: float
    agents: int
    staff: int
    dedicated_agents: int
    dedicated_staff: int


class PoolOut(Output):
    queues: list[PoolQueueOut]
    skill_groups: list[SkillGroupOut]
    agents: int  # headcount able to serve the pool
    target: TargetOut  # the strictest of its queues'
    intervals: list[PoolIntervalOut]


class PoolPlanOut(Output, tag="pool"):
    """The operator's plan of the shared pool across every active tenant (a UTC day)."""

    day: dt.date
    start: dt.datetime
    end: dt.datetime
    shrinkage: float
    method: str
    pools: list[PoolOut]
    totals: list[TotalOut]


class IntradayPointOut(Output):
    start: dt.datetime
    planned_agents: int
    planned_staff: int
    staffed: float | None  # mean agents not offline over the interval; None: the interval has not begun
    available: float | None  # of them, the mean not on break (working or ready for contacts)


class IntradayOut(Output):
    """Planned against actual staff, per interval of a day (the tenant's own agents, or the whole pool)."""

    day: dt.date
    timezone: str
    scope: Literal["tenant", "pool"]
    points: list[IntradayPointOut]
