"""disposition codes per tenant; indexes for the interactions API's caller and disposition filters

Revision ID: 25de31a26b07
Revises: 98448ea21455
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op

from migrations import policies

revision: str = "25de31a26b07"
down_revision: str | Sequence[str] | None = "98448ea21455"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disposition_codes",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "code"),
    )
    policies.tenant_table("disposition_codes")
    op.create_index("ix_interactions_caller", "interactions", ["tenant_id", "caller", "arrived_at"], unique=False)
    op.create_index(
        "ix_interactions_disposition",
        "interactions",
        ["tenant_id", "disposition", "arrived_at"],
        unique=False,
        postgresql_where=sa.text("disposition IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_interactions_disposition", table_name="interactions", postgresql_where=sa.text("disposition IS NOT NULL")
    )
    op.drop_index("ix_interactions_caller", table_name="interactions")
    op.drop_table("disposition_codes")
