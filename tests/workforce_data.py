"""Workforce test data: a tenant in America/Sao_Paulo, queues, weeks of history in the reporting rollups (as the
reporting worker would leave them), and agents' presence changes (as the router logs them).

The history repeats one weekly pattern exactly, so a forecast of the day after it is that pattern and every
plan figure can be recomputed from Erlang by the tests.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.tenancy import acting_as, system_principal
from app.reporting.engine.intervals import empty_histogram
from app.reporting.models import IntervalRollup
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.routing.models import AgentStateChange
from tenants import schemas as tenant_schemas
from tenants import service as tenants
from tests.factories import OPERATOR, ensure_operator

ZONE = "America/Sao_Paulo"  # UTC-3 all year (no summer time since 2019)
WEEKS = 4
AHT = 200.0  # talk 170 + hold 10 + wrap-up 20


def pattern(local: dt.datetime, scale: float) -> float:
    """Contacts per 15 minutes at a local time: weekdays 08:00-18:00 rising through the day, Saturdays
    10:00-14:00 flat, Sundays closed."""
    hour = local.hour + local.minute / 60
    if local.weekday() < 5 and 8 <= hour < 18:
        return scale * (20 + 4 * int(hour - 8))
    if local.weekday() == 5 and 10 <= hour < 14:
        return scale * 10
    return 0.0


def reference_day() -> dt.date:
    """The last weekday before today in the tenant's time zone: a whole day that is over (its actual staff is
    final) and a busy one (weekdays have the most contacts)."""
    day = utcnow().astimezone(zoneinfo.ZoneInfo(ZONE)).date() - dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def local_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), zoneinfo.ZoneInfo(ZONE)).astimezone(dt.UTC)


async def make_zoned_tenant(slug: str) -> tenant_schemas.TenantOut:
    await ensure_operator()
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            tenant = await tenants.create_tenant(
                session,
                tenant_schemas.TenantCreate(slug=f"{slug}-{uuid.uuid4().hex[:8]}", name=f"{slug} Ltd", timezone=ZONE),
            )
            return tenants.tenant_out(tenant)


async def make_queue(tenant_id: uuid.UUID, **fields: Any) -> uuid.UUID:
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            return (await routing.create_queue(session, routing_schemas.QueueCreate(**fields))).id


async def write_history(tenant_id: uuid.UUID, queue_id: uuid.UUID, day: dt.date, scale: float) -> None:
    """WEEKS weeks of the pattern before ``day``, as queue rows of ``interval_rollups``."""
    start = local_start(day) - dt.timedelta(weeks=WEEKS)
    zone = zoneinfo.ZoneInfo(ZONE)
    rows = []
    for i in range(WEEKS * 7 * 96):
        at = start + dt.timedelta(minutes=15 * i)
        calls = pattern(at.astimezone(zone), scale)
        if calls:
            rows.append(
                IntervalRollup(
                    interval_start=at,
                    queue_id=queue_id,
                    offered=int(calls),
                    answered=int(calls),
                    handled=int(calls),
                    answered_wait_hist=empty_histogram(),
                    abandoned_wait_hist=empty_histogram(),
                    talk_seconds_sum=Decimal(170) * int(calls),
                    hold_seconds_sum=Decimal(10) * int(calls),
                    wrap_seconds_sum=Decimal(20) * int(calls),
                )
            )
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            session.add_all(rows)


async def write_presence(agent_id: uuid.UUID, day: dt.date, changes: list[tuple[str, str]]) -> None:
    """Presence changes of an agent on ``day`` at local times HH:MM."""
    zone = zoneinfo.ZoneInfo(ZONE)
    async with get_database().session() as session:
        for seq, (clock, state) in enumerate(changes, start=1):
            local = dt.datetime.combine(day, dt.time.fromisoformat(clock), zone)
            session.add(AgentStateChange(agent_id=agent_id, log_seq=seq, state=state, at=local.astimezone(dt.UTC)))
