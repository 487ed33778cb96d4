"""Stripe's webhooks: verified with the library's own signature check, deduplicated by event id, and the invoice
events of Tenline's invoices handed to the handlers registered for them.

Stripe delivers an event at least once and retries until it gets a 2xx, for days. The event id is recorded in
``stripe_events`` in the same transaction as the handlers' work: a second delivery finds it and does nothing,
and a delivery whose handling failed leaves no record, so Stripe's retry is handled afresh. Two deliveries at
once serialise on the insert (the second waits for the first to commit, then finds the row).

Handlers run in the invoice's tenant's context with the request's session. The one registered here puts the event
in the outbox (``billing.stripe_invoice_event``) for the invoice domain to reflect on its invoices; the invoice
domain may register handlers of its own with ``on_invoice_event``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, cast

import msgspec
import sqlalchemy as sa
import stripe
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import DomainError
from app.core.outbox import emit
from app.core.settings import Settings
from app.core.tenancy import acting_as, system_principal
from billing.stripe.models import StripeEventSeen
from billing.stripe.schemas import (
    INVOICE_EVENT_TYPES,
    INVOICE_KEY,
    STRIPE_INVOICE_EVENT_TOPIC,
    TENANT_KEY,
    StripeInvoiceEvent,
    StripeInvoiceEventType,
    StripeInvoiceObject,
    StripeWebhookAck,
)
from tenants import service as tenants

log = structlog.get_logger("tenline.billing.stripe")


class StripeWebhooksNotConfigured(DomainError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    slug = "stripe-not-configured"


class StripeSignatureInvalid(DomainError):
    """Missing, wrong, or signed longer ago than the tolerance allows (a captured request replayed)."""

    status = HTTPStatus.BAD_REQUEST
    slug = "stripe-signature-invalid"


class StripeEventMalformed(DomainError):
    status = HTTPStatus.BAD_REQUEST
    slug = "stripe-event-malformed"


class _EventData(msgspec.Struct):
    object: dict[str, Any]


class StripeEventIn(msgspec.Struct, frozen=True):
    """A Stripe event as its webhook carries it (the fields Tenline reads; Stripe adds fields at will)."""

    id: str
    type: str
    created: int
    livemode: bool
    data: _EventData


def verified_event(payload: bytes, signature: str | None, settings: Settings) -> StripeEventIn:
    """The event, once ``Stripe-Signature`` proves Stripe signed this very payload within the tolerance."""
    if settings.stripe_webhook_secret is None:
        raise StripeWebhooksNotConfigured("Stripe webhooks are not configured here: set TENLINE_STRIPE_WEBHOOK_SECRET")
    try:
        stripe.Webhook.construct_event(
            payload,
            signature,
            settings.stripe_webhook_secret.get_secret_value(),
            tolerance=settings.stripe_webhook_tolerance_seconds,
        )
    except stripe.SignatureVerificationError as exc:
        raise StripeSignatureInvalid(f"Stripe-Signature refused: {exc.user_message}") from None
    except ValueError as exc:  # signed, but not a JSON event (the library parses it after the check)
        raise StripeEventMalformed(f"not a Stripe event: {exc}") from None
    try:
        return msgspec.json.decode(payload, type=StripeEventIn)
    except msgspec.ValidationError as exc:
        raise StripeEventMalformed(f"not a Stripe event: {exc}") from None


# --- handlers ------------------------------------------------------------------------------------

InvoiceEventHandler = Callable[[AsyncSession, StripeInvoiceEvent], Awaitable[None]]
_invoice_handlers: dict[str, list[InvoiceEventHandler]] = {}


def on_invoice_event(*event_types: StripeInvoiceEventType) -> Callable[[InvoiceEventHandler], InvoiceEventHandler]:
    """Register a handler for these invoice event types (every one when none is named). It runs in the invoice's
    tenant's context, in the transaction that records the event, once per event id."""
    chosen = event_types or tuple(sorted(INVOICE_EVENT_TYPES))

    def register(handler: InvoiceEventHandler) -> InvoiceEventHandler:
        for event_type in chosen:
            registered = _invoice_handlers.setdefault(event_type, [])
            if handler not in registered:
                registered.append(handler)
        return handler

    return register


def invoice_handlers(event_type: str) -> tuple[InvoiceEventHandler, ...]:
    return tuple(_invoice_handlers.get(event_type, ()))


@on_invoice_event()
async def to_outbox(session: AsyncSession, event: StripeInvoiceEvent) -> None:
    """The invoice domain's subscription point: the event in the outbox, committed with its record."""
    await emit(session, STRIPE_INVOICE_EVENT_TOPIC, msgspec.to_builtins(event))


# --- receiving -----------------------------------------------------------------------------------


async def receive_event(session: AsyncSession, event: StripeEventIn) -> StripeWebhookAck:
    """Record the event once; on its first delivery hand it to the handlers of its type."""
    if not await _record(session, event):
        log.info("stripe.event_duplicate", stripe_event_id=event.id, type=event.type)
        return StripeWebhookAck(duplicate=True, handled=False)
    handled = await _dispatch(session, event)
    log.info("stripe.event_received", stripe_event_id=event.id, type=event.type, handled=handled)
    return StripeWebhookAck(duplicate=False, handled=handled)


async def _record(session: AsyncSession, event: StripeEventIn) -> bool:
    """True when the event is new (the row was written), False when it was seen before."""
    table = cast(sa.Table, StripeEventSeen.__table__)  # type: ignore[attr-defined]
    object_id = event.data.object.get("id")
    inserted = await session.execute(
        pg_insert(table)
        .values(
            id=event.id,
            type=event.type,
            object_id=object_id if isinstance(object_id, str) else None,
            livemode=event.livemode,
            created_at=dt.datetime.fromtimestamp(event.created, dt.UTC),
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(table.c.id)
    )
    return inserted.first() is not None


async def _dispatch(session: AsyncSession, event: StripeEventIn) -> bool:
    handlers = invoice_handlers(event.type)
    if not handlers:
        return False
    invoice_event = await _tenline_invoice_event(session, event)
    if invoice_event is None:
        return False
    with acting_as(system_principal(invoice_event.tenant_id)):
        for handler in handlers:
            await handler(session, invoice_event)
    return True


async def _tenline_invoice_event(session: AsyncSession, event: StripeEventIn) -> StripeInvoiceEvent | None:
    """The event as Tenline's, or None for an invoice Tenline did not push (no or foreign metadata)."""
    try:
        invoice = msgspec.convert(event.data.object, StripeInvoiceObject)
    except msgspec.ValidationError as exc:
        raise StripeEventMalformed(f"{event.type} {event.id}: not an invoice: {exc}") from None
    metadata = invoice.metadata
    tenant_id, invoice_id = _uuid(metadata.get(TENANT_KEY)), _uuid(metadata.get(INVOICE_KEY))
    if tenant_id is None or invoice_id is None:
        log.info("stripe.event_not_tenlines", stripe_event_id=event.id, stripe_invoice_id=invoice.id)
        return None
    if tenant_id not in await tenants.tenant_names(session, [tenant_id]):
        log.warning("stripe.event_for_unknown_tenant", stripe_event_id=event.id, tenant_id=str(tenant_id))
        return None
    return StripeInvoiceEvent(
        stripe_event_id=event.id,
        event_type=cast(StripeInvoiceEventType, event.type),
        occurred_at=dt.datetime.fromtimestamp(event.created, dt.UTC),
        livemode=event.livemode,
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        stripe_invoice_id=invoice.id,
        status=invoice.status,
        currency=invoice.currency,
        amount_due=invoice.amount_due,
        amount_paid=invoice.amount_paid,
        amount_remaining=invoice.amount_remaining,
    )


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
