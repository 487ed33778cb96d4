"""stripe events: the Stripe webhook events received, by event id (deduplication)

Revision ID: 1bf9ee8b3894
Revises: 6f37701be31a
Create Date: 2026-11-26 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op

from migrations import policies

revision: str = "1bf9ee8b3894"
down_revision: str | Sequence[str] | None = "6f37701be31a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("object_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The operator's Stripe account's events, no tenant's: plain grants. Append-only for the runtime role.
    policies.operator_table("stripe_events", privileges="SELECT, INSERT")


def downgrade() -> None:
    op.drop_table("stripe_events")
