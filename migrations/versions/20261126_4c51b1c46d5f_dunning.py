"""billing: dunning policy overrides per tenant, dunning steps per invoice; API clients suspended by billing

Revision ID: 4c51b1c46d5f
Revises: c4e1a7b93f20
Create Date: 2026-11-26 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations import policies

revision: str = "4c51b1c46d5f"
down_revision: str | Sequence[str] | None = "c4e1a7b93f20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dunning_policies",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("reminder_days", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("suspend_after_days", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("payment_terms_days BETWEEN 0 AND 365", name="ck_dunning_policies_terms"),
        sa.CheckConstraint("suspend_after_days IS NULL OR suspend_after_days >= 1", name="ck_dunning_policies_suspend"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id"),
    )
    op.create_table(
        "dunning_steps",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("days_overdue", sa.Integer(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "invoice_id", "step"),
    )
    policies.tenant_table("dunning_policies")
    # Steps taken are history: no UPDATE or DELETE for the runtime role.
    # Steps are never changed; DELETE only for the tenant's erasure.
    policies.tenant_table("dunning_steps", privileges="SELECT, INSERT, DELETE")
    op.add_column("api_clients", sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_clients", sa.Column("suspended_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("api_clients", "suspended_by")
    op.drop_column("api_clients", "suspended_at")
    op.drop_table("dunning_steps")
    op.drop_table("dunning_policies")
