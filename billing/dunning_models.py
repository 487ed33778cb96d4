"""Dunning tables: the operator's default policy, a tenant's own policy in its place, and the steps taken per
invoice.

A step (a reminder on a given day overdue, the suspension of API clients) is taken at most once per invoice:
the unique (tenant, invoice, step) row is written in the transaction that emits its event and sends its mail.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from app.core.clock import utcnow
from app.core.models import TenantScoped

TIMESTAMP = sa.DateTime(timezone=True)


class DunningPolicyTerms(SQLModel):
    """What a policy says (days are whole days), as both policy tables hold it, with its version for If-Match."""

    payment_terms_days: int  # from issue to due
    reminder_days: list[int] = Field(default_factory=list, sa_type=ARRAY(sa.Integer()))  # days after due, sorted
    suspend_after_days: int | None = None  # days after due; None: API clients are never suspended
    version: int = 1
    updated_by: str = Field(default="", max_length=254)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class OperatorDunningPolicy(DunningPolicyTerms, table=True):
    """The operator's default policy, once an operator admin has saved one (until then: the settings).

    An operator-level table (no ``tenant_id``, no row-level security): one row, the operator's."""

    __tablename__ = "operator_dunning_policies"
    __table_args__ = (
        sa.CheckConstraint("payment_terms_days BETWEEN 0 AND 365", name="ck_operator_dunning_policies_terms"),
        sa.CheckConstraint(
            "suspend_after_days IS NULL OR suspend_after_days >= 1", name="ck_operator_dunning_policies_suspend"
        ),
    )

    operator_id: uuid.UUID = Field(primary_key=True, foreign_key="operators.id", ondelete="CASCADE")


class DunningPolicyOverride(TenantScoped, DunningPolicyTerms, table=True):
    """The tenant's own policy, in place of the operator's default when present."""

    __tablename__ = "dunning_policies"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id"),
        sa.CheckConstraint("payment_terms_days BETWEEN 0 AND 365", name="ck_dunning_policies_terms"),
        sa.CheckConstraint("suspend_after_days IS NULL OR suspend_after_days >= 1", name="ck_dunning_policies_suspend"),
    )


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
