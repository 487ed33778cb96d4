"""Billing jobs: each tenant's handled contacts metered into usage records and daily summaries; the monthly
close drafting invoices; finalised invoices pushed to Stripe; Stripe's payment events reflected on invoices;
dunning of overdue invoices; the retention purge of erased tenants' archived invoices.

A run is its own retry: a failed run changes nothing (one transaction) and the next tick starts from the same
checkpoint, so the job is not retried by Dramatiq on top of that.
"""

from __future__ import annotations

import datetime as dt
import uuid

import structlog

from app.core.broker import Tick, actor, periodic
from app.core.db import get_database
from app.core.outbox import Event, subscribe
from app.core.tenancy import require_tenant_id
from billing import archive, dunning, invoicing, service
from billing.stripe.schemas import STRIPE_INVOICE_EVENT_TOPIC

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


CLOSE_EVERY = dt.timedelta(hours=1)


@periodic(every=CLOSE_EVERY, per_tenant=True)
@actor(queue_name="billing", max_retries=0)
async def close_tenant_period(tick: Tick) -> None:
    """Closes the tenant's last month once it is over plus the grace, and drafts its invoice (once)."""
    async with get_database().session() as session:
        invoice = await invoicing.close_due_period(session)
    if invoice is not None:
        log.info("billing.period_closed", tenant_id=str(require_tenant_id()), invoice_id=str(invoice.id))


@subscribe(invoicing.INVOICE_FINALISED_TOPIC)
@actor(queue_name="billing")
async def push_finalised_invoice(event: Event) -> None:
    """Pushes a finalised invoice to Stripe (nothing without a key); retried by Dramatiq, repeatable."""
    async with get_database().session() as session:
        await invoicing.push_to_stripe(session, uuid.UUID(event.payload["invoice_id"]))


@subscribe(STRIPE_INVOICE_EVENT_TOPIC)
@actor(queue_name="billing")
async def reflect_stripe_payment(event: Event) -> None:
    """Sets the Tenline invoice's payment state from a Stripe invoice event (idempotent); a payment lifts the
    dunning suspension of the tenant's API clients at once when no other invoice keeps it."""
    async with get_database().session() as session:
        if await invoicing.apply_stripe_event(session, invoicing.stripe_event(event.payload)):
            await dunning.enforce_suspension(session)


DUNNING_EVERY = dt.timedelta(hours=1)


@periodic(every=DUNNING_EVERY, per_tenant=True)
@actor(queue_name="billing", max_retries=0)
async def dun_overdue_invoices(tick: Tick) -> None:
    """Reminders for the tenant's overdue invoices, once each; suspension of its API clients past the threshold
    (never of the tenant or its contacts), lifted once nothing is that overdue."""
    run = await dunning.remind_and_suspend(tick.scheduled_at)
    if run.reminders or run.suspended or run.resumed:
        log.info(
            "billing.dunning_run",
            tenant_id=str(require_tenant_id()),
            reminders=run.reminders,
            suspended=run.suspended,
            resumed=run.resumed,
        )


PURGE_EVERY = dt.timedelta(hours=24)


@periodic(every=PURGE_EVERY, per_tenant=False)
@actor(queue_name="billing", tenant_required=False, max_retries=0)
async def purge_archived_invoices(tick: Tick) -> None:
    """Deletes erased tenants' archived invoices whose retention has ended (operator data)."""
    async with get_database().session() as session:
        purged = await archive.purge_expired(session, tick.scheduled_at.date())
    if purged:
        log.info("billing.archived_invoices_purged", count=purged)
