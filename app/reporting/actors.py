"""Reporting jobs: rollups and agents' presence kept current every few seconds, scheduled reports sent.

Each periodic run is its own retry: a failed run changes nothing (one transaction) and the next tick
starts from the same checkpoint, so the jobs are not retried by Dramatiq on top of that.
"""

from __future__ import annotations

import datetime as dt

import structlog

from app.core.broker import Tick, actor, periodic
from app.core.db import get_database
from app.core.tenancy import require_tenant_id
from app.reporting import service

log = structlog.get_logger("tenline.reporting.jobs")

ROLLUP_EVERY = dt.timedelta(seconds=5)


@periodic(every=ROLLUP_EVERY, per_tenant=True)
@actor(queue_name="reporting", max_retries=0)
async def update_tenant_rollups(tick: Tick) -> None:
    """Folds the tenant's new interaction events into its interval rollups."""
    async with get_database().session() as session:
        applied = await service.update_rollups(session)
    if applied:
        log.debug("reporting.rollups_updated", tenant_id=str(require_tenant_id()), events=applied)


@periodic(every=ROLLUP_EVERY, per_tenant=False)
@actor(queue_name="reporting", tenant_required=False, max_retries=0)
async def update_agent_presence(tick: Tick) -> None:
    """Folds agents' new presence changes into seconds per state and interval (operator data)."""
    async with get_database().session() as session:
        applied = await service.update_presence(session)
    if applied:
        log.debug("reporting.presence_updated", changes=applied)


@periodic(every=dt.timedelta(minutes=1), per_tenant=True)
@actor(queue_name="reporting", max_retries=0)
async def deliver_scheduled_reports(tick: Tick) -> None:
    """Mails the tenant's scheduled reports that are due, each due time once."""
    delivered = await service.deliver_due_reports(tick.scheduled_at)
    if delivered:
        log.info("reporting.reports_delivered", tenant_id=str(require_tenant_id()), count=delivered)
