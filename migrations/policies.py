"""Row-level security and grants, applied by migrations so the schema and its protection move together.

Every table with ``tenant_id`` gets RLS enabled and forced (the owner is subject to it too) and one
policy on ``current_setting('app.tenant_id', true)``, which the application sets per transaction with
``set_config(..., true)``. With no setting the expression is NULL and no row matches: fail closed.
"""

from __future__ import annotations

from alembic import op

CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
CURRENT_SUBJECT = "NULLIF(current_setting('app.subject_id', true), '')::uuid"
APP = "tenline_app"
READER = "tenline_cross_tenant_reader"
RELAY = "tenline_outbox_relay"


def tenant_table(table: str, *, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )
    op.execute(f"CREATE POLICY cross_tenant_read ON {table} FOR SELECT TO {READER} USING (true)")
    op.execute(f"GRANT {privileges} ON {table} TO {APP}")
    op.execute(f"GRANT SELECT ON {table} TO {READER}")


def operator_table(table: str, *, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    """A table of the operator's own (no tenant_id): plain grants; services guard who may use it."""
    op.execute(f"GRANT {privileges} ON {table} TO {APP}")
    op.execute(f"GRANT SELECT ON {table} TO {READER}")


def drop_tenant_table_policies(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"DROP POLICY IF EXISTS cross_tenant_read ON {table}")
