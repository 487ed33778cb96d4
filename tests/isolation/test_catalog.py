"""The database catalog itself: every tenant table protected, the runtime role powerless to lift it."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import app.server.tables  # noqa: F401
from app.core.models import TenantScoped
from tests.conftest import Services

# Keyed by id alone on purpose: operator-level audit entries belong to no tenant (see tenants/models.py).
COMPOSITE_KEY_EXCEPTIONS = {"audit_log"}
# Operator tables that name a tenant without holding its data: the carrier number registry says which tenant
# each number is provisioned to, and an inbound call reads it before any tenant is known. No RLS; services
# scope tenants' reads (tests/integration/test_entry_points.py) and nobody may rewrite an entry in place.
OPERATOR_TABLES_NAMING_A_TENANT = {"provisioned_numbers"}


def _tenant_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1
        """
    ).fetchall()
    return [r[0] for r in rows if r[0] not in OPERATOR_TABLES_NAMING_A_TENANT]


def test_every_tenant_table_has_forced_rls_and_a_tenant_policy(services: Services) -> None:
    with psycopg.connect(services.owner_url) as conn:
        tables = _tenant_tables(conn)
        assert len(tables) >= 6, tables
        for table in tables:
            enabled, forced = conn.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s AND relnamespace = 'public'::regnamespace",
                (table,),
            ).fetchone()  # type: ignore[misc]
            assert enabled and forced, f"{table}: row-level security must be enabled and forced"
            policies = conn.execute(
                "SELECT coalesce(qual, '') || ' ' || coalesce(with_check, '') FROM pg_policies WHERE tablename = %s",
                (table,),
            ).fetchall()
            assert any("app.tenant_id" in p[0] for p in policies), (
                f"{table}: no policy on current_setting('app.tenant_id')"
            )


def test_tenant_tables_are_keyed_by_tenant_first(services: Services) -> None:
    with psycopg.connect(services.owner_url) as conn:
        for table in _tenant_tables(conn):
            if table in COMPOSITE_KEY_EXCEPTIONS:
                continue
            key = conn.execute(
                """
                SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i
                CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                WHERE i.indrelid = %s::regclass AND i.indisprimary
                """,
                (table,),
            ).fetchone()[0]  # type: ignore[index]
            assert key == ["tenant_id", "id"], f"{table}: primary key {key}, expected (tenant_id, id)"
            uniques = conn.execute(
                """
                SELECT pg_get_indexdef(indexrelid) FROM pg_index
                WHERE indrelid = %s::regclass AND indisunique AND NOT indisprimary
                """,
                (table,),
            ).fetchall()
            for (definition,) in uniques:
                assert "(tenant_id" in definition, f"{table}: unique index not per tenant: {definition}"


def test_models_and_catalog_agree_on_tenant_tables(services: Services) -> None:
    modelled = {
        mapper.class_.__tablename__
        for mapper in SQLModel._sa_registry.mappers  # type: ignore[attr-defined]
        if issubclass(mapper.class_, TenantScoped)
    }
    with psycopg.connect(services.owner_url) as conn:
        assert modelled <= set(_tenant_tables(conn))


def test_runtime_role_owns_nothing_and_cannot_bypass(services: Services) -> None:
    with psycopg.connect(services.app_url) as conn:
        user, superuser, bypass, inherit = conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls, rolinherit FROM pg_roles WHERE rolname = current_user"
        ).fetchone()  # type: ignore[misc]
        assert user == "tenline_app"
        assert not superuser and not bypass
        assert not inherit, "NOINHERIT: the system roles apply only after an explicit SET ROLE"
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = current_user"
        ).fetchone()[0]  # type: ignore[index]
        assert owned == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE tenant_memberships DISABLE ROW LEVEL SECURITY")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET row_security = off; SELECT * FROM tenant_memberships")
        conn.rollback()


def test_operator_tables_naming_a_tenant_are_not_rewritten(services: Services) -> None:
    modelled = {
        mapper.class_.__tablename__
        for mapper in SQLModel._sa_registry.mappers  # type: ignore[attr-defined]
        if issubclass(mapper.class_, TenantScoped)
    }
    assert not modelled & OPERATOR_TABLES_NAMING_A_TENANT
    with psycopg.connect(services.app_url) as conn:
        for table in sorted(OPERATOR_TABLES_NAMING_A_TENANT):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"UPDATE {table} SET tenant_id = tenant_id")  # type: ignore[arg-type]
            conn.rollback()


def test_runtime_role_cannot_alter_the_audit_log(services: Services) -> None:
    with psycopg.connect(services.app_url) as conn:
        conn.execute(
            "INSERT INTO audit_log (id, actor_kind, actor_name, action, object_type, object_id, detail, occurred_at) "
            "VALUES (gen_random_uuid(), 'system', 'test', 'test.append', '', '', '{}', now())"
        )
        conn.commit()
        for statement in ("UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_audit_log_is_append_only_even_for_a_superuser(services: Services) -> None:
    """RLS already hides every row from UPDATE and DELETE; the trigger holds where RLS does not apply."""
    url = make_url(services.admin_url).set(database=services.database).render_as_string(hide_password=False)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] > 0  # type: ignore[index]
        for statement in ("UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
            conn.rollback()


def test_cross_tenant_reader_is_read_only(services: Services) -> None:
    with psycopg.connect(services.app_url) as conn:
        conn.execute("SET ROLE tenline_cross_tenant_reader")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE tenants SET name = 'x'")
        conn.rollback()
        conn.execute("SET ROLE tenline_outbox_relay")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM tenant_memberships")
        conn.rollback()
