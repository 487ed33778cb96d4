"""billing: dedicated agents (assignments), their seat time per day, outbound attempts on usage records

Revision ID: 7d2e5b8c1a90
Revises: 4c51b1c46d5f
Create Date: 2026-11-26 13:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import policies

revision: str = "7d2e5b8c1a90"
down_revision: str | Sequence[str] | None = "4c51b1c46d5f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("agent_assignments", sa.Column("dedicated", sa.Boolean(), server_default="false", nullable=False))
    op.alter_column("agent_assignments", "dedicated", server_default=None)
    op.add_column("agent_assignments", sa.Column("dedicated_since", sa.DateTime(timezone=True), nullable=True))
    # No index across tenants for "dedicated to one tenant alone" (an answer of such an index would tell one
    # tenant about another's rows): tenants.service.assign_agent decides it under the agent's row lock.
    op.add_column("billing_checkpoints", sa.Column("seats_metered_through", sa.Date(), nullable=True))
    op.add_column("usage_records", sa.Column("outbound_attempts", sa.Integer(), server_default="0", nullable=False))
    op.alter_column("usage_records", "outbound_attempts", server_default=None)
    op.create_table(
        "seat_usage",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("period_id", sa.Uuid(), nullable=False),
        sa.Column("seat_seconds", sa.Numeric(20, 6), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "period_id"],
            ["billing_periods.tenant_id", "billing_periods.id"],
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "agent_id", "day"),
    )
    op.create_index("ix_seat_usage_period", "seat_usage", ["tenant_id", "period_id", "day"])
    # Metered seat time is never changed; DELETE only for the tenant's erasure.
    policies.tenant_table("seat_usage", privileges="SELECT, INSERT, DELETE")


def downgrade() -> None:
    op.drop_table("seat_usage")
    op.drop_column("usage_records", "outbound_attempts")
    op.drop_column("billing_checkpoints", "seats_metered_through")
    op.drop_column("agent_assignments", "dedicated_since")
    op.drop_column("agent_assignments", "dedicated")
