"""Webhook jobs: deliveries made from outbox events and interaction events, each sent and retried by Dramatiq.

A delivery's retries are scheduled by ``attempt`` (backoff, Retry-After) and sent as delayed messages; a
message lost with a dying worker is sent again by the overdue sweep (TENLINE_WEBHOOK_OVERDUE_AFTER_SECONDS,
TENLINE_WEBHOOK_OVERDUE_SWEEP_SECONDS), and ``attempt`` ignores stale ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence

from app.core.broker import Tick, actor, periodic
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.outbox import Event, subscribe
from app.core.settings import get_settings
from app.integrations import service
from app.integrations.schemas import DeliveryDue

COLLECT_EVERY = dt.timedelta(seconds=5)


# Retries are this domain's own (per delivery, with Retry-After), not Dramatiq's.
@actor(queue_name="webhooks", max_retries=0)
async def deliver(job: DeliveryDue) -> None:
    async with get_database().session() as session:
        next_attempt_at = await service.attempt(session, job.delivery_id)
    if next_attempt_at is not None:
        await asyncio.to_thread(deliver.send, job, delay=max(next_attempt_at - utcnow(), dt.timedelta(0)))


async def _send_now(delivery_ids: Sequence[uuid.UUID]) -> None:
    """After the commit that made them: the worker then finds the rows."""
    for delivery_id in delivery_ids:
        await asyncio.to_thread(deliver.send, DeliveryDue(delivery_id=delivery_id))


@subscribe("callback.due")
@subscribe("sla.at_risk")
@subscribe("sla.breached")
@subscribe("report.delivered")
@subscribe("billing.invoice_overdue")
@actor(queue_name="webhooks")
async def deliver_outbox_event(event: Event) -> None:
    async with get_database().session() as session:
        created = await service.create_deliveries(session, event.event_id, event.topic, event.emitted_at, event.payload)
    await _send_now(created)


@subscribe(service.REPLAY_TOPIC)
@actor(queue_name="webhooks")
async def replay_delivery(event: Event) -> None:
    await _send_now([uuid.UUID(event.payload["delivery_id"])])


# A failed run changes nothing and the next tick starts from the same checkpoint: no Dramatiq retries.
@periodic(every=COLLECT_EVERY, per_tenant=True)
@actor(queue_name="webhooks", max_retries=0)
async def collect_interaction_events(tick: Tick) -> None:
    async with get_database().session() as session:
        created = await service.collect_interaction_events(session)
    await _send_now(created)


def _overdue_sweep_every() -> dt.timedelta:
    return dt.timedelta(seconds=get_settings().webhook_overdue_sweep_seconds)


@periodic(every=_overdue_sweep_every, per_tenant=True)
@actor(queue_name="webhooks", max_retries=0)
async def resend_overdue_deliveries(tick: Tick) -> None:
    older_than = dt.timedelta(seconds=get_settings().webhook_overdue_after_seconds)
    async with get_database().session() as session:
        overdue = await service.overdue_deliveries(session, older_than=older_than)
    await _send_now(overdue)
