"""billing: issued invoices of erased tenants kept in an operator archive until their retention ends

Revision ID: e3f9a4c2b716
Revises: 7d2e5b8c1a90
Create Date: 2026-11-26 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op

from migrations import policies

revision: str = "e3f9a4c2b716"
down_revision: str | Sequence[str] | None = "7d2e5b8c1a90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archived_invoices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("billed_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("payment_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("lines_csv", sa.LargeBinary(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index("ix_archived_invoices_billed_tenant_id", "archived_invoices", ["billed_tenant_id"])
    op.create_index("ix_archived_invoices_retain_until", "archived_invoices", ["retain_until"])
    # Records are never changed: written by the erasure, deleted by the retention purge only.
    policies.operator_table("archived_invoices", privileges="SELECT, INSERT, DELETE")


def downgrade() -> None:
    op.drop_table("archived_invoices")
