"""scheduled callbacks

Revision ID: 1332b2a9c3e4
Revises: 25de31a26b07
Create Date: 2026-11-26 04:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op

from migrations import policies

revision: str = "1332b2a9c3e4"
down_revision: str | Sequence[str] | None = "25de31a26b07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_callbacks",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("failure_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('scheduled', 'queued', 'cancelled', 'completed', 'failed')",
            name="ck_scheduled_callbacks_status",
        ),
        sa.ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_scheduled_callbacks_status_due", "scheduled_callbacks", ["tenant_id", "status", "due_at"], unique=False
    )
    op.create_index("ix_scheduled_callbacks_due", "scheduled_callbacks", ["tenant_id", "due_at"], unique=False)
    policies.tenant_table("scheduled_callbacks")


def downgrade() -> None:
    op.drop_index("ix_scheduled_callbacks_due", table_name="scheduled_callbacks")
    op.drop_index("ix_scheduled_callbacks_status_due", table_name="scheduled_callbacks")
    op.drop_table("scheduled_callbacks")
