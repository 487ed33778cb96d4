"""The scheduled-callbacks table: one row per callback a tenant booked, through its whole life."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlmodel import Field

from app.core.clock import utcnow
from app.core.models import TenantScoped

TIMESTAMP = sa.DateTime(timezone=True)


class CallbackStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # waiting for its time
    QUEUED = "queued"  # in line as a callback contact (interaction_id), or about to be
    CANCELLED = "cancelled"
    COMPLETED = "completed"  # an agent took it and the contact ended
    FAILED = "failed"  # it could not be put in line, or left the line unanswered (failure_reason says why)


class ScheduledCallback(TenantScoped, table=True):
    """A callback of one tenant. ``version`` is bumped on every change (ETag / If-Match)."""

    __tablename__ = "scheduled_callbacks"
    __table_args__ = (
        sa.ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"]),
        sa.CheckConstraint(
            "status IN ('scheduled', 'queued', 'cancelled', 'completed', 'failed')",
            name="ck_scheduled_callbacks_status",
        ),
        # The due job (status, due_at), the settling of queued ones (status) and the status filter of the list.
        sa.Index("ix_scheduled_callbacks_status_due", "tenant_id", "status", "due_at"),
        sa.Index("ix_scheduled_callbacks_due", "tenant_id", "due_at"),
    )

    queue_id: uuid.UUID
    phone: str = Field(max_length=16)  # E.164
    # The tenant's customer record, when the CRM gives one (deliberately not a foreign key).
    customer_id: uuid.UUID | None = Field(default=None)
    due_at: dt.datetime = Field(sa_type=TIMESTAMP)
    note: str = Field(default="", max_length=500)
    status: str = Field(default=CallbackStatus.SCHEDULED, max_length=16)
    failure_reason: str = Field(default="", max_length=200)
    # The contact submitted to the router (its id is the interaction's), from the moment it is queued.
    interaction_id: uuid.UUID | None = Field(default=None)
    queued_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    cancelled_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
