"""Billing tables: metered usage (records, daily summaries, periods, the metering checkpoint) and rate cards.

Usage is derived from measured work: one ``usage_records`` row per (tenant, interaction, measure), written with
``INSERT ... ON CONFLICT DO NOTHING`` so a contact is billed once however often its events are read again; the
daily summaries grow only by the rows that insert actually wrote. Dedicated agents' seat time is one
``seat_usage`` row per (tenant, agent, local day), written the same way. Periods are calendar months in the tenant's
time zone; a record whose month is already closed is late and goes to the next open period (an adjustment).

Rate cards are immutable versions like SLA contracts: a change is a new version in force from a date, the
version in force on a day is the one with the latest ``effective_from`` on or before it (the higher number on
the same date). The runtime role gets no UPDATE on rate cards, usage records or seat usage (see the migrations).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from app.core.clock import utcnow
from app.core.models import TenantScoped

TIMESTAMP = sa.DateTime(timezone=True)
SECONDS = sa.Numeric(20, 6)  # exact to the microsecond, as the reporting rollups
PERCENT = sa.Numeric(9, 6)  # a tax rate in percent: 25.000000, 8.875000


class Measure(enum.StrEnum):
    """What a usage record counts (dedicated seat time has its own table, ``seat_usage``)."""

    # A contact an agent handled: its talk, hold and wrap-up seconds, and whether it was dialled out (a callback).
    HANDLED = "handled"


class PeriodStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class BillingCheckpoint(TenantScoped, table=True):
    """How far the tenant's interaction events are metered: the (log_seq, position) of the last contact's end."""

    __tablename__ = "billing_checkpoints"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    log_seq: int = Field(default=0, sa_type=sa.BigInteger)
    position: int = 0
    contacts_metered: int = Field(default=0, sa_type=sa.BigInteger)
    # The last local day whose dedicated seat time is metered (None: none yet).
    seats_metered_through: dt.date | None = None
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class BillingPeriod(TenantScoped, table=True):
    """A calendar month of the tenant (local days ``first_day`` to ``last_day``); closed once invoiced."""

    __tablename__ = "billing_periods"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "first_day"),
        sa.CheckConstraint("last_day >= first_day", name="ck_billing_periods_days"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_billing_periods_status"),
    )

    first_day: dt.date
    last_day: dt.date
    status: str = Field(default=PeriodStatus.OPEN, max_length=8)
    closed_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class UsageRecord(TenantScoped, table=True):
    """One measure of one contact, billed in ``period_id``: its own month's, or the next open one when late."""

    __tablename__ = "usage_records"
    __table_args__ = (
        # The idempotency key: a contact's measure is recorded once.
        sa.UniqueConstraint("tenant_id", "interaction_id", "measure"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "period_id"], ["billing_periods.tenant_id", "billing_periods.id"], ondelete="CASCADE"
        ),
        sa.Index("ix_usage_records_period", "tenant_id", "period_id", "day"),
    )

    interaction_id: uuid.UUID
    measure: str = Field(max_length=32)
    period_id: uuid.UUID
    day: dt.date  # the local day (tenant's time zone) the work ended on
    ended_at: dt.datetime = Field(sa_type=TIMESTAMP)
    queue_id: uuid.UUID
    agent_id: uuid.UUID
    channel: str = Field(max_length=8)
    talk_seconds: Decimal = Field(sa_type=SECONDS)
    hold_seconds: Decimal = Field(sa_type=SECONDS)
    wrap_seconds: Decimal = Field(sa_type=SECONDS)
    outbound_attempts: int = 0  # 1 for a callback (the platform dialled the customer), else 0
    # Its own month was closed when it was metered: billed in a later period, as an adjustment.
    late: bool = Field(default=False)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class UsageDaily(TenantScoped, table=True):
    """The records of one local day, channel and queue billed in one period (a late day sits in a later period).

    By queue as well as channel: a rate card may price a tenant's queues differently.
    """

    __tablename__ = "usage_daily"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "period_id", "day", "channel", "queue_id"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "period_id"], ["billing_periods.tenant_id", "billing_periods.id"], ondelete="CASCADE"
        ),
    )

    period_id: uuid.UUID
    day: dt.date
    channel: str = Field(max_length=8)
    queue_id: uuid.UUID
    contacts: int = 0
    talk_seconds: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    hold_seconds: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    wrap_seconds: Decimal = Field(default=Decimal(0), sa_type=SECONDS)
    outbound_attempts: int = 0  # callbacks among the contacts
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class SeatUsage(TenantScoped, table=True):
    """The signed-in time of one agent dedicated to the tenant on one local day, billed in ``period_id`` (its
    own month's, or the next open one when late). Written once per agent and day, like usage records."""

    __tablename__ = "seat_usage"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "agent_id", "day"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "period_id"], ["billing_periods.tenant_id", "billing_periods.id"], ondelete="CASCADE"
        ),
        sa.Index("ix_seat_usage_period", "tenant_id", "period_id", "day"),
    )

    agent_id: uuid.UUID
    day: dt.date
    period_id: uuid.UUID
    seat_seconds: Decimal = Field(sa_type=SECONDS)
    late: bool = Field(default=False)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class RateCardVersion(TenantScoped, table=True):
    """One immutable version of the tenant's rate card; ``terms`` is the rating core's structure as JSON."""

    __tablename__ = "rate_card_versions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "version"),
        sa.Index("ix_rate_card_versions_effective", "tenant_id", "effective_from", "version"),
        sa.CheckConstraint("tax_rate_percent >= 0 AND tax_rate_percent <= 100", name="ck_rate_card_versions_tax_rate"),
    )

    version: int  # 1, 2, ... per tenant
    effective_from: dt.date
    currency: str = Field(max_length=3)  # ISO 4217; one per tenant
    tax_rate_percent: Decimal = Field(sa_type=PERCENT)
    # The card's charges and SLA credit rules, as the rating core encodes them (``billing.rating.RateCard``).
    terms: dict[str, Any] = Field(sa_type=JSONB)
    # What the version rests on (the signed contract or amendment): rates are agreed outside Tenline.
    note: str = Field(default="", max_length=1000)
    created_by: str = Field(default="", max_length=254)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
