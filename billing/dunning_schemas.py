"""Dunning: the policies (the operator's default, a tenant's own), the policy in force for a tenant, its overdue
invoices, and the ``billing.invoice_overdue`` event."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from app.core.structs import Input, Job, Output

PolicySource = Literal["operator", "tenant"]
MAX_REMINDERS = 10

PaymentTermsDays = Annotated[
    int, msgspec.Meta(ge=0, le=365, description="days from an invoice's issue to its due date, 0 to 365")
]
ReminderDay = Annotated[int, msgspec.Meta(ge=1, le=365, description="days after the due date, 1 to 365")]
SuspendAfterDays = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=3650,
        description="days after the due date, 1 to 3650, on or after the last reminder; none: never suspended",
    ),
]


class DunningPolicyIn(Input):
    """A whole policy (a PUT replaces it): reminders on each of ``reminder_days`` after the due date, the tenant's
    API clients suspended ``suspend_after_days`` after it. Routing and live contacts are never touched."""

    payment_terms_days: PaymentTermsDays
    reminder_days: Annotated[
        list[ReminderDay],
        msgspec.Meta(
            max_length=MAX_REMINDERS,
            description="days after the due date a reminder goes out, each once; no day twice (kept sorted)",
        ),
    ]
    suspend_after_days: SuspendAfterDays | None = None


class DunningTerms(Output):
    """What a policy says: an invoice is due ``payment_terms_days`` after its issue; a reminder goes out on each
    of ``reminder_days`` after the due date; the tenant's API clients are suspended ``suspend_after_days`` after
    it (None: never)."""

    payment_terms_days: int
    reminder_days: list[int]
    suspend_after_days: int | None


class DunningPolicyOut(DunningTerms):
    """The policy in force for a tenant: its own, or the operator's default."""

    source: PolicySource
    version: int = 0  # of the tenant's own policy (0: it has none), its ETag


class OperatorDunningPolicyOut(DunningTerms):
    """The operator's default policy: in force for every tenant without a policy of its own."""

    version: int  # its ETag; 0: never saved, the settings (TENLINE_BILLING_*) are the default
    updated_by: str
    updated_at: dt.datetime | None  # None: never saved


class TenantDunningPolicy(Output):
    """One tenant's policy in force, for the operator."""

    tenant_id: uuid.UUID
    tenant: str
    policy: DunningPolicyOut


class OverdueInvoice(Output):
    """One of the tenant's final invoices past its due date with money owed, and the steps dunning took."""

    invoice_id: uuid.UUID
    number: str
    currency: str
    total_minor: int
    due_at: dt.datetime
    days_overdue: int
    reminders_sent: list[int]  # the days of the reminders sent (mailed, and as the event), in order
    # When the tenant's API clients are suspended unless it is paid (None: never), as the reminders say.
    api_suspension_at: dt.datetime | None


class InvoiceOverdue(Job, frozen=True):
    """Payload of the ``billing.invoice_overdue`` outbox event (delivered to the tenant's webhooks)."""

    invoice_id: uuid.UUID
    number: str
    currency: str
    total_minor: int
    issued_at: dt.datetime
    due_at: dt.datetime
    days_overdue: int
    reminder: int  # which reminder: the day after the due date it is for
    payment_state: str
    # When the tenant's API clients will be suspended unless it is paid (None: never).
    api_suspension_at: dt.datetime | None
