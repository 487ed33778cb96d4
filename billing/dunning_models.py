"""Dunning tables: a tenant's override of the operator's dunning policy, and the steps taken per invoice.

A step (a reminder on a given day overdue, the suspension of API clients) is taken at most once per invoice:
the unique (tenant, invoice, step) row is written in the transaction that emits its event and sends its mail.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field

from app.core.clock import utcnow
from app.core.models import TenantScoped

TIMESTAMP = sa.DateTime(timezone=True)


class DunningPolicyOverride(TenantScoped, table=True):
    """The tenant's own policy, in place of the operator's (the settings) when present."""

    __tablename__ = "dunning_policies"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id"),
        sa.CheckConstraint("payment_terms_days BETWEEN 0 AND 365", name="ck_dunning_policies_terms"),
        sa.CheckConstraint("suspend_after_days IS NULL OR suspend_after_days >= 1", name="ck_dunning_policies_suspend"),
    )

    payment_terms_days: int
    reminder_days: list[int] = Field(default_factory=list, sa_type=ARRAY(sa.Integer()))  # days after due
    suspend_after_days: int | None = None  # days after due; None: API clients are never suspended
    version: int = 1
    updated_by: str = Field(default="", max_length=254)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class DunningStep(TenantScoped, table=True):
    """One step taken for one invoice: ``reminder:<days>`` or ``suspension``."""

    __tablename__ = "dunning_steps"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "invoice_id", "step"),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="CASCADE"),
    )

    invoice_id: uuid.UUID
    step: str = Field(max_length=32)
    days_overdue: int
    # False for a reminder passed over because a later one was due in the same run (one mail, not a burst).
    notified: bool = True
    recipients: int = 0  # tenant admins mailed
    taken_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
