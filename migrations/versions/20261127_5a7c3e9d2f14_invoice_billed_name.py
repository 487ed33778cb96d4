"""billing: the tenant's name fixed on an invoice when it is issued; issued invoices frozen column by exception

Revision ID: 5a7c3e9d2f14
Revises: 8596f3bed157
Create Date: 2026-11-27 13:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op

revision: str = "5a7c3e9d2f14"
down_revision: str | Sequence[str] | None = "8596f3bed157"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What may still change on an issued invoice: its payment and its Stripe twin. Every other column, this one and
# any added later, is frozen by the trigger below (it compares whole rows, less these).
MUTABLE_ONCE_ISSUED = (
    "payment_state",
    "payment_updated_at",
    "stripe_customer_id",
    "stripe_invoice_id",
    "version",
    "updated_at",
)


def upgrade() -> None:
    # Invoices issued before this have none: their documents show the tenant's current name, as they did.
    op.add_column("invoices", sa.Column("billed_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    mutable = ", ".join(f"'{column}'" for column in MUTABLE_ONCE_ISSUED)
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION invoices_frozen_once_issued() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                -- Only the erasure of the whole tenant (tenants.erase_tenant_data) removes issued invoices.
                IF OLD.status <> 'draft' AND NOT tenant_being_erased(OLD.tenant_id) THEN
                    RAISE EXCEPTION 'invoice % is %: it cannot be deleted', OLD.id, OLD.status
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN OLD;
            END IF;
            IF OLD.status <> 'draft'
               AND to_jsonb(NEW) - ARRAY[{mutable}] IS DISTINCT FROM to_jsonb(OLD) - ARRAY[{mutable}] THEN
                RAISE EXCEPTION 'invoice % is %: only its payment state may change', OLD.id, OLD.status
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )


def downgrade() -> None:
    # The function stays as it is: whole rows less the mutable columns hold for the schema without the column too.
    op.drop_column("invoices", "billed_name")
