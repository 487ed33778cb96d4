"""billing: metering (checkpoints, periods, usage records, daily usage) and rate card versions

Revision ID: 510cc2c8aa9d
Revises: 1bf9ee8b3894
Create Date: 2026-11-26 04:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations import policies

revision: str = "510cc2c8aa9d"
down_revision: str | Sequence[str] | None = "1bf9ee8b3894"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECONDS = sa.Numeric(precision=20, scale=6)


def upgrade() -> None:
    op.create_table(
        "billing_checkpoints",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("log_seq", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("contacts_metered", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id"),
    )
    op.create_table(
        "billing_periods",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("last_day >= first_day", name="ck_billing_periods_days"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_billing_periods_status"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "first_day"),
    )
    op.create_table(
        "usage_records",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("measure", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("period_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("talk_seconds", SECONDS, nullable=False),
        sa.Column("hold_seconds", SECONDS, nullable=False),
        sa.Column("wrap_seconds", SECONDS, nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "period_id"], ["billing_periods.tenant_id", "billing_periods.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "interaction_id", "measure"),
    )
    op.create_index("ix_usage_records_period", "usage_records", ["tenant_id", "period_id", "day"], unique=False)
    op.create_table(
        "usage_daily",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("period_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("talk_seconds", SECONDS, nullable=False),
        sa.Column("hold_seconds", SECONDS, nullable=False),
        sa.Column("wrap_seconds", SECONDS, nullable=False),
        sa.Column("outbound_attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "period_id"], ["billing_periods.tenant_id", "billing_periods.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "period_id", "day", "channel", "queue_id"),
    )
    op.create_table(
        "rate_card_versions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("tax_rate_percent", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("terms", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("tax_rate_percent >= 0 AND tax_rate_percent <= 100", name="ck_rate_card_versions_tax_rate"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "version"),
    )
    op.create_index(
        "ix_rate_card_versions_effective",
        "rate_card_versions",
        ["tenant_id", "effective_from", "version"],
        unique=False,
    )
    for table in ("billing_checkpoints", "billing_periods", "usage_daily"):
        policies.tenant_table(table)
    # Never updated: a contact's usage is written once, a rate card version is immutable (a change is a new one).
    for table in ("usage_records", "rate_card_versions"):
        policies.tenant_table(table, privileges="SELECT, INSERT, DELETE")


def downgrade() -> None:
    op.drop_index("ix_rate_card_versions_effective", table_name="rate_card_versions")
    op.drop_table("rate_card_versions")
    op.drop_table("usage_daily")
    op.drop_index("ix_usage_records_period", table_name="usage_records")
    op.drop_table("usage_records")
    op.drop_table("billing_periods")
    op.drop_table("billing_checkpoints")
