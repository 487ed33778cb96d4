"""Billing jobs: each tenant's handled contacts metered into usage records and daily summaries.

A run is its own retry: a failed run changes nothing (one transaction) and the next tick starts from the same
checkpoint, so the job is not retried by Dramatiq on top of that.
"""

from __future__ import annotations

import datetime as dt

import structlog

from app.core.broker import Tick, actor, periodic
from app.core.db import get_database
from app.core.tenancy import require_tenant_id
from billing import service

log = structlog.get_logger("tenline.billing.jobs")

METER_EVERY = dt.timedelta(seconds=30)


@periodic(every=METER_EVERY, per_tenant=True)
@actor(queue_name="billing", max_retries=0)
async def meter_tenant_usage(tick: Tick) -> None:
    """Meters the tenant's contacts handled since its checkpoint (usage records, daily summaries)."""
    async with get_database().session() as session:
        run = await service.meter_usage(session)
    if run.contacts:
        log.debug(
            "billing.usage_metered",
            tenant_id=str(require_tenant_id()),
            contacts=run.contacts,
            recorded=run.recorded,
            late=run.late,
        )
