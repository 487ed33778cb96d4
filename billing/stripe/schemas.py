"""What Tenline hands the Stripe gateway, what it gets back, and the invoice events Stripe's webhooks carry.

Plain msgspec structs, so the invoice domain calls the gateway with its own ids and numbers and never sees the
``stripe`` library's objects. Money is an integer in the currency's minor units (cents), as Stripe takes it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal, get_args

import msgspec

from app.core.structs import Job, Output

# An ISO 4217 code as Tenline keeps it (upper case); Stripe is sent the lower-case form.
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")]
Description = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
# Stripe takes up to 250 items on one invoice.
MAX_ITEMS_PER_INVOICE = 250

# Metadata keys on Stripe's objects; prefixed, as the operator's Stripe account may hold other systems' objects.
TENANT_KEY = "tenline_tenant_id"
INVOICE_KEY = "tenline_invoice_id"
INVOICE_NUMBER_KEY = "tenline_invoice_number"
LINE_KEY = "tenline_line_id"

# The states of a Stripe invoice (https://docs.stripe.com/invoicing/overview#invoice-statuses).
StripeInvoiceStatus = Literal["draft", "open", "paid", "uncollectible", "void"]


class StripeCustomerDraft(msgspec.Struct, frozen=True, kw_only=True):
    """The tenant as a Stripe customer. ``stripe_customer_id``: the id Tenline kept from an earlier call, if any."""

    tenant_id: uuid.UUID
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    email: str | None = None
    stripe_customer_id: str | None = None


class StripeInvoiceLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a finalised Tenline invoice; a credit (an SLA service credit) is a negative amount."""

    line_id: uuid.UUID
    description: Description
    amount: Annotated[int, msgspec.Meta(description="minor units of the invoice's currency; negative for a credit")]


class StripeInvoiceDraft(msgspec.Struct, frozen=True, kw_only=True):
    """A finalised Tenline invoice, as the gateway pushes it: one Stripe invoice, one invoice item per line."""

    tenant_id: uuid.UUID
    invoice_id: uuid.UUID
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="Tenline's gapless number")]
    currency: Currency
    lines: Annotated[tuple[StripeInvoiceLine, ...], msgspec.Meta(max_length=MAX_ITEMS_PER_INVOICE)]
    # Stripe sends the invoice to the customer, due this many days after finalisation.
    days_until_due: Annotated[int, msgspec.Meta(ge=0, le=365)] = 30
    memo: str | None = None

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)


class StripeInvoiceObject(msgspec.Struct):
    """A Stripe invoice as Stripe's JSON has it (the fields Tenline reads; Stripe adds fields at will), from an API
    answer or a webhook event alike."""

    id: str
    customer: str
    status: StripeInvoiceStatus
    currency: str
    total: int
    amount_due: int
    amount_paid: int
    amount_remaining: int
    number: str | None = None
    hosted_invoice_url: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class StripeInvoiceRef(Output):
    """A Stripe invoice as Tenline keeps track of it."""

    stripe_invoice_id: str
    stripe_customer_id: str
    status: StripeInvoiceStatus
    number: str | None
    currency: str
    total: int
    amount_due: int
    amount_paid: int
    amount_remaining: int
    hosted_invoice_url: str | None = None
    # Tenline's invoice, from the metadata (None: an invoice Tenline did not push).
    invoice_id: uuid.UUID | None = None


# Stripe's invoice events Tenline acts on; others are acknowledged and recorded, nothing more.
StripeInvoiceEventType = Literal[
    "invoice.finalized", "invoice.paid", "invoice.payment_failed", "invoice.voided", "invoice.marked_uncollectible"
]
INVOICE_EVENT_TYPES: frozenset[StripeInvoiceEventType] = frozenset(get_args(StripeInvoiceEventType))
# The outbox topic the invoice domain subscribes to.
STRIPE_INVOICE_EVENT_TOPIC = "billing.stripe_invoice_event"


class StripeInvoiceEvent(Job, frozen=True):
    """A verified Stripe invoice event for one of Tenline's invoices (the outbox payload of
    ``billing.stripe_invoice_event``). ``stripe_event_id`` is unique: handlers may key on it."""

    stripe_event_id: str
    event_type: StripeInvoiceEventType
    occurred_at: dt.datetime
    livemode: bool
    tenant_id: uuid.UUID
    invoice_id: uuid.UUID
    stripe_invoice_id: str
    status: StripeInvoiceStatus
    currency: str
    amount_due: int
    amount_paid: int
    amount_remaining: int


class StripeWebhookAck(Output):
    """The answer to Stripe (it only reads the status): whether the event was new and whether Tenline acted on it."""

    duplicate: bool
    handled: bool
