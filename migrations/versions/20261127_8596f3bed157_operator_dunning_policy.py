"""billing: the operator's default dunning policy (one row; until it is saved the settings are the default)

Revision ID: 8596f3bed157
Revises: b15a8691b599
Create Date: 2026-11-27 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations import policies

revision: str = "8596f3bed157"
down_revision: str | Sequence[str] | None = "b15a8691b599"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operator_dunning_policies",
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("reminder_days", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("suspend_after_days", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("payment_terms_days BETWEEN 0 AND 365", name="ck_operator_dunning_policies_terms"),
        sa.CheckConstraint(
            "suspend_after_days IS NULL OR suspend_after_days >= 1", name="ck_operator_dunning_policies_suspend"
        ),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("operator_id"),
    )
    # The operator's own, no tenant's: plain grants. Replaced, never removed (no DELETE for the runtime role).
    policies.operator_table("operator_dunning_policies", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    op.drop_table("operator_dunning_policies")
