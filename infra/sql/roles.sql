-- Tenline database roles. Run once per PostgreSQL cluster as a superuser (or a role with CREATEROLE);
-- `tenline db bootstrap` runs this same file. Set passwords separately, e.g.
--   ALTER ROLE tenline_owner PASSWORD '...';  ALTER ROLE tenline_app PASSWORD '...';
--
-- tenline_owner  owns the schema and runs migrations (grants and RLS policies live in the migrations).
-- tenline_app    the runtime role: owns nothing, not superuser, no BYPASSRLS, NOINHERIT so the two
--                system roles below apply only inside the named code paths that SET LOCAL ROLE to them.
-- tenline_cross_tenant_reader  read-only, sees every tenant's rows: the operator's audited read path.
-- tenline_outbox_relay         may read and mark rows of the outbox table only.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenline_owner') THEN
        CREATE ROLE tenline_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenline_app') THEN
        CREATE ROLE tenline_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenline_cross_tenant_reader') THEN
        CREATE ROLE tenline_cross_tenant_reader NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenline_outbox_relay') THEN
        CREATE ROLE tenline_outbox_relay NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    -- Another bootstrap created them concurrently: nothing left to do.
    NULL;
END
$roles$;

GRANT tenline_cross_tenant_reader TO tenline_app;
GRANT tenline_outbox_relay TO tenline_app;
