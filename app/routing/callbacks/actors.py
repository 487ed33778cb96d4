"""Callback jobs: the due job, and the router commands its events (and cancels) turn into after their commit."""

from __future__ import annotations

import datetime as dt

from app.core.broker import Tick, actor, periodic
from app.core.clock import utcnow
from app.core.db import get_database
from app.core.outbox import Event, subscribe
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.routing.callbacks import schemas, service
from app.routing.commands import CallbackCancel, submit

DUE_EVERY = dt.timedelta(seconds=5)


# A failed run changes nothing (its transaction rolls back) and the next tick tries again: no Dramatiq retries.
@periodic(every=DUE_EVERY, per_tenant=True)
@actor(queue_name="callbacks", max_retries=0)
async def queue_due_callbacks(tick: Tick) -> None:
    """Put the tenant's due callbacks in line, then record what became of those already there."""
    now = utcnow()
    while True:
        async with get_database().session() as session:
            queued = await service.queue_due(session, now=now)
        if len(queued) < service.DUE_BATCH:
            break
    async with get_database().session() as session:
        await service.settle(session, now=now)


@subscribe(service.CALLBACK_DUE_TOPIC)
@actor(queue_name="callbacks")
async def put_in_line(event: Event) -> None:
    """The callback's contact to the router, sent while its row is locked (see ``service.arrival_for``)."""
    due = event.decode(schemas.CallbackDue)
    async with get_database().session() as session:
        arrival = await service.arrival_for(session, due.callback_id)
        if arrival is not None:
            await submit(get_redis(), arrival, pool=get_settings().router_pool)


@subscribe(service.CALLBACK_CANCELLED_TOPIC)
@actor(queue_name="callbacks")
async def take_out_of_line(event: Event) -> None:
    cancelled = event.decode(schemas.CallbackCancelledEvent)
    await submit(get_redis(), CallbackCancel(contact_id=cancelled.interaction_id), pool=get_settings().router_pool)
