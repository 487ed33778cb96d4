"""billing: invoices and credit notes, their lines (frozen once final), gapless number counters

Revision ID: c4e1a7b93f20
Revises: 510cc2c8aa9d
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate writes sqlmodel.sql.sqltypes.AutoString
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations import policies

revision: str = "c4e1a7b93f20"
down_revision: str | Sequence[str] | None = "510cc2c8aa9d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A final or void invoice keeps what it says; only its payment state and Stripe references move on.
FROZEN_INVOICE_COLUMNS = (
    "tenant_id",
    "kind",
    "corrects_invoice_id",
    "period_start",
    "period_end",
    "number",
    "currency",
    "subtotal_minor",
    "credits_minor",
    "adjustments_minor",
    "tax_minor",
    "total_minor",
    "sla_attainment",
    "issued_at",
    "finalised_by",
)


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("corrects_invoice_id", sa.Uuid(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("subtotal_minor", sa.BigInteger(), nullable=False),
        sa.Column("credits_minor", sa.BigInteger(), nullable=False),
        sa.Column("adjustments_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("sla_attainment", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finalised_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("stripe_customer_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("stripe_invoice_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("payment_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("payment_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('invoice', 'credit_note')", name="ck_invoices_kind"),
        sa.CheckConstraint("status IN ('draft', 'final', 'void')", name="ck_invoices_status"),
        sa.CheckConstraint(
            "payment_state IN ('unpaid', 'paid', 'failed', 'uncollectible')", name="ck_invoices_payment_state"
        ),
        sa.CheckConstraint("(status = 'final') = (number IS NOT NULL)", name="ck_invoices_numbered_when_final"),
        sa.CheckConstraint(
            "(kind = 'credit_note') = (corrects_invoice_id IS NOT NULL)", name="ck_invoices_credit_note_corrects"
        ),
        sa.CheckConstraint(
            "total_minor = subtotal_minor + credits_minor + adjustments_minor + tax_minor", name="ck_invoices_total"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "corrects_invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "number"),
    )
    op.create_index(
        "uq_invoices_period",
        "invoices",
        ["tenant_id", "period_start"],
        unique=True,
        postgresql_where=sa.text("kind = 'invoice' AND status <> 'void'"),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("charge_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "invoice_id", "position"),
    )
    op.create_table(
        "invoice_counters",
        sa.Column("series", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series", "year"),
    )
    policies.tenant_table("invoices")
    policies.tenant_table("invoice_lines")
    # Numbers only ever go up: no DELETE for the runtime role.
    policies.operator_table("invoice_counters", privileges="SELECT, INSERT, UPDATE")

    op.execute(
        """
        CREATE FUNCTION tenant_being_erased(tenant uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
            SELECT EXISTS (SELECT 1 FROM tenants WHERE id = tenant AND status = 'deleting')
        $$
        """
    )
    changed = " OR ".join(f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in FROZEN_INVOICE_COLUMNS)
    op.execute(
        f"""
        CREATE FUNCTION invoices_frozen_once_issued() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                -- Only the erasure of the whole tenant (tenants.erase_tenant_data) removes issued invoices.
                IF OLD.status <> 'draft' AND NOT tenant_being_erased(OLD.tenant_id) THEN
                    RAISE EXCEPTION 'invoice % is %: it cannot be deleted', OLD.id, OLD.status
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN OLD;
            END IF;
            IF OLD.status <> 'draft' AND (NEW.status IS DISTINCT FROM OLD.status OR {changed}) THEN
                RAISE EXCEPTION 'invoice % is %: only its payment state may change', OLD.id, OLD.status
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER invoices_frozen BEFORE UPDATE OR DELETE ON invoices "
        "FOR EACH ROW EXECUTE FUNCTION invoices_frozen_once_issued()"
    )
    op.execute(
        """
        CREATE FUNCTION invoice_lines_frozen_once_issued() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            invoice_status text;
        BEGIN
            SELECT status INTO invoice_status FROM invoices
            WHERE tenant_id = COALESCE(NEW.tenant_id, OLD.tenant_id) AND id = COALESCE(NEW.invoice_id, OLD.invoice_id);
            -- No invoice: it is being deleted (a draft, or its tenant), and its lines with it.
            IF invoice_status IS NOT NULL AND invoice_status <> 'draft'
               AND NOT (TG_OP = 'DELETE' AND tenant_being_erased(OLD.tenant_id)) THEN
                RAISE EXCEPTION 'the lines of a % invoice cannot change', invoice_status
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN COALESCE(NEW, OLD);
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER invoice_lines_frozen BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines "
        "FOR EACH ROW EXECUTE FUNCTION invoice_lines_frozen_once_issued()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS invoice_lines_frozen ON invoice_lines")
    op.execute("DROP FUNCTION IF EXISTS invoice_lines_frozen_once_issued()")
    op.execute("DROP TRIGGER IF EXISTS invoices_frozen ON invoices")
    op.execute("DROP FUNCTION IF EXISTS invoices_frozen_once_issued()")
    op.execute("DROP FUNCTION IF EXISTS tenant_being_erased(uuid)")
    op.drop_table("invoice_counters")
    op.drop_table("invoice_lines")
    op.drop_index(
        "uq_invoices_period", table_name="invoices", postgresql_where=sa.text("kind = 'invoice' AND status <> 'void'")
    )
    op.drop_table("invoices")
