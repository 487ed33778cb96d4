"""The operator's inputs to its margin per tenant: the shared pool's cost per calendar month (UTC) and the
month's exchange rates. Operator-level tables (no tenant's data): plain grants, operator admins write them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.core.clock import utcnow

TIMESTAMP = sa.DateTime(timezone=True)
# Units of the operator's currency per unit of another, stored exactly as entered (at most 10 decimals).
RATE = sa.Numeric(18, 10)
RATE_PLACES = 10
RATE_BELOW = Decimal(10) ** 8


class PoolCost(SQLModel, table=True):
    """The shared pool's cost for one UTC calendar month, in the operator's currency when it was entered."""

    __tablename__ = "pool_costs"
    __table_args__ = (
        sa.CheckConstraint("extract(day FROM month) = 1", name="ck_pool_costs_first_day"),
        sa.CheckConstraint("amount_minor >= 0", name="ck_pool_costs_amount"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_pool_costs_currency"),
    )

    month: dt.date = Field(primary_key=True)  # the month's first day
    currency: str = Field(max_length=3)
    amount_minor: int = Field(sa_type=sa.BigInteger)
    note: str = Field(default="", max_length=1000)
    version: int = 1
    updated_by: str = Field(default="", max_length=254)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class PoolExchangeRate(SQLModel, table=True):
    """The month's rate of one currency a tenant bills in: units of the pool cost's currency per unit of it."""

    __tablename__ = "pool_exchange_rates"
    __table_args__ = (
        sa.ForeignKeyConstraint(["month"], ["pool_costs.month"], ondelete="CASCADE"),
        sa.CheckConstraint("rate > 0", name="ck_pool_exchange_rates_positive"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_pool_exchange_rates_currency"),
    )

    month: dt.date = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    rate: Decimal = Field(sa_type=RATE)
