"""billing: the shared pool's cost per UTC month and the month's exchange rates (the operator's margin inputs)

Revision ID: b15a8691b599
Revises: e3f9a4c2b716
Create Date: 2026-11-27 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op

from migrations import policies

revision: str = "b15a8691b599"
down_revision: str | Sequence[str] | None = "e3f9a4c2b716"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pool_costs",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("extract(day FROM month) = 1", name="ck_pool_costs_first_day"),
        sa.CheckConstraint("amount_minor >= 0", name="ck_pool_costs_amount"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_pool_costs_currency"),
        sa.PrimaryKeyConstraint("month"),
    )
    op.create_table(
        "pool_exchange_rates",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(18, 10), nullable=False),
        sa.CheckConstraint("rate > 0", name="ck_pool_exchange_rates_positive"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_pool_exchange_rates_currency"),
        sa.ForeignKeyConstraint(["month"], ["pool_costs.month"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("month", "currency"),
    )
    # The operator's own inputs, no tenant's data: plain grants (operator admins write them through the API).
    policies.operator_table("pool_costs", privileges="SELECT, INSERT, UPDATE")
    policies.operator_table("pool_exchange_rates", privileges="SELECT, INSERT, DELETE")


def downgrade() -> None:
    op.drop_table("pool_exchange_rates")
    op.drop_table("pool_costs")
