"""SLA jobs: every few seconds, each tenant's targets are evaluated, alerts raised and the router told."""

from __future__ import annotations

import datetime as dt

from app.core.broker import Tick, actor, periodic
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.sla import service

EVALUATION_INTERVAL = dt.timedelta(seconds=5)
_INTERVAL_MS = int(EVALUATION_INTERVAL.total_seconds() * 1000)


# No retries, and a tick older than two rounds is dropped: the next tick evaluates afresh anyway.
@periodic(every=EVALUATION_INTERVAL, per_tenant=True)
@actor(max_retries=0, max_age=2 * _INTERVAL_MS, time_limit=12 * _INTERVAL_MS)
async def evaluate_slas(tick: Tick) -> None:
    async with get_database().session() as session:
        run = await service.evaluate(session, utcnow())
    # After the commit: the router gets figures the evaluations already stand on.
    if run.attainment is not None:
        await service.send_attainment(get_redis(), run.attainment, pool=get_settings().router_pool)
