"""Dunning: the policy in force for a tenant and the ``billing.invoice_overdue`` event."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from app.core.structs import Job, Output

PolicySource = Literal["operator", "tenant"]


class DunningPolicyOut(Output):
    """Reminders on each of ``reminder_days`` after the due date (issued + ``payment_terms_days``); the tenant's
    API clients suspended ``suspend_after_days`` after it (None: never). Live contacts are never touched."""

    payment_terms_days: Annotated[int, msgspec.Meta(ge=0, le=365)]
    reminder_days: list[int]
    suspend_after_days: int | None
    source: PolicySource  # the operator's (settings) or the tenant's own
    version: int = 0  # of the tenant's own policy (0: none)


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
