"""customers

Revision ID: 98448ea21455
Revises: 28ac57b8e0e4
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations import policies

revision: str = "98448ea21455"
down_revision: str | Sequence[str] | None = "28ac57b8e0e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("phone_numbers", postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "external_id"),
    )
    op.create_index("ix_customers_updated", "customers", ["tenant_id", "updated_at", "id"], unique=False)
    op.create_index("ix_customers_name", "customers", ["tenant_id", "name", "id"], unique=False)
    # A row per number for finding callers: a GIN index on the array is unusable under row-level security
    # (array containment is not leakproof; see app/customers/models.py).
    op.create_table(
        "customer_phone_numbers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"], ["customers.tenant_id", "customers.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "customer_id", "number"),
    )
    op.create_index("ix_customer_phone_numbers_number", "customer_phone_numbers", ["tenant_id", "number"], unique=False)
    for table in ("customers", "customer_phone_numbers"):
        policies.tenant_table(table)


def downgrade() -> None:
    op.drop_index("ix_customer_phone_numbers_number", table_name="customer_phone_numbers")
    op.drop_table("customer_phone_numbers")
    op.drop_index("ix_customers_name", table_name="customers")
    op.drop_index("ix_customers_updated", table_name="customers")
    op.drop_table("customers")
