"""Reporting tables: interval rollups and their checkpoints, agents' presence per interval, scheduled reports.

``interval_rollups`` hold one row per (tenant, 15-minute interval, queue, agent): the row with no agent is
the queue's totals, an agent's row that agent's work in the queue (see ``app.reporting.engine.rollup``).
Durations are exact sums in seconds (``numeric``), so a rebuild reproduces them to the microsecond.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from app.core.clock import utcnow
from app.core.models import TenantScoped

TIMESTAMP = sa.DateTime(timezone=True)
SECONDS = sa.Numeric(20, 6)
HISTOGRAM = ARRAY(sa.Integer)


class IntervalRollup(TenantScoped, table=True):
    __tablename__ = "interval_rollups"
    __table_args__ = (
        # One row per key; the queue's totals (no agent) included.
        sa.Index(
            "ux_interval_rollups_key",
            "tenant_id",
            "interval_start",
            "queue_id",
            "agent_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        sa.ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"], ondelete="CASCADE"),
    )

    interval_start: dt.datetime = Field(sa_type=TIMESTAMP)
    queue_id: uuid.UUID
    agent_id: uuid.UUID | None = Field(default=None)
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    removed: int = 0
    # Cumulative: entry i counts the waits shorter than WAIT_EDGES[i] (app.reporting.engine.intervals).
    answered_wait_hist: list[int] = Field(sa_type=HISTOGRAM)
    abandoned_wait_hist: list[int] = Field(sa_type=HISTOGRAM)
    wait_seconds_sum: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    talk_seconds_sum: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    hold_seconds_sum: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    wrap_seconds_sum: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    handled: int = 0
    transfers: int = 0
    resolved: int = 0
    dispositions: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)


class ReportingCheckpoint(TenantScoped, table=True):
    """How far the tenant's events are folded into its rollups: the last (log_seq, position) applied."""

    __tablename__ = "reporting_checkpoints"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    log_seq: int = Field(default=0, sa_type=sa.BigInteger)
    position: int = 0
    events_applied: int = Field(default=0, sa_type=sa.BigInteger)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class OpenWrapUp(TenantScoped, table=True):
    """Work that ended while its agent's wrap-up is still running: added to the rollups once it is over."""

    __tablename__ = "reporting_open_wrap_ups"

    interaction_id: uuid.UUID
    agent_id: uuid.UUID
    queue_id: uuid.UUID
    interval_start: dt.datetime = Field(sa_type=TIMESTAMP)
    ended_at: dt.datetime = Field(sa_type=TIMESTAMP)
    log_seq: int = Field(sa_type=sa.BigInteger)


class AgentIntervalState(SQLModel, table=True):
    """An agent's seconds in each presence state within one interval (operator data: agents are shared)."""

    __tablename__ = "agent_interval_states"

    agent_id: uuid.UUID = Field(primary_key=True, foreign_key="agents.id", ondelete="CASCADE")
    interval_start: dt.datetime = Field(primary_key=True, sa_type=TIMESTAMP)
    available_seconds: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    offered_seconds: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    on_contact_seconds: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    wrap_up_seconds: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    break_seconds: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    offline_seconds: Decimal = Field(default=Decimal(0), sa_type=SECONDS)


class AgentPresenceCursor(SQLModel, table=True):
    """Per agent: the state it is in since when, and the last presence change folded (its checkpoint)."""

    __tablename__ = "agent_presence_cursors"

    agent_id: uuid.UUID = Field(primary_key=True, foreign_key="agents.id", ondelete="CASCADE")
    state: str = Field(default="offline", max_length=16)
    since: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    log_seq: int = Field(default=0, sa_type=sa.BigInteger)


class ReportSchedule(TenantScoped, table=True):
    """A report a tenant admin has sent by email on a schedule (times in the tenant's time zone)."""

    __tablename__ = "report_schedules"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=100)
    report: str = Field(max_length=32)
    granularity: str = Field(default="day", max_length=16)
    queue_ids: list[uuid.UUID] = Field(default_factory=list, sa_type=ARRAY(sa.Uuid))
    agent_id: uuid.UUID | None = Field(default=None)
    period: str = Field(max_length=16)
    frequency: str = Field(max_length=16)
    weekday: int | None = Field(default=None)  # weekly: 0 Monday .. 6 Sunday
    time_of_day: str = Field(max_length=5)  # HH:MM
    format: str = Field(max_length=8)
    recipients: list[str] = Field(default_factory=list, sa_type=ARRAY(sa.String(254)))
    enabled: bool = True
    next_due_at: dt.datetime = Field(sa_type=TIMESTAMP)
    last_delivered_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    version: int = 1
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class ReportDelivery(TenantScoped, table=True):
    """One due time of a schedule, delivered: the unique key makes a second delivery of it impossible."""

    __tablename__ = "report_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "schedule_id", "due_at"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "schedule_id"], ["report_schedules.tenant_id", "report_schedules.id"], ondelete="CASCADE"
        ),
    )

    schedule_id: uuid.UUID
    due_at: dt.datetime = Field(sa_type=TIMESTAMP)
    period_start: dt.date
    period_end: dt.date
    filename: str = Field(max_length=200)
    recipients: list[str] = Field(default_factory=list, sa_type=ARRAY(sa.String(254)))
    rows: int = 0
    delivered_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
