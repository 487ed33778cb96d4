"""Alembic environment: runs as the owner role, compares against every domain's SQLModel tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

import app.server.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from app.core.db import async_url
from app.core.settings import get_settings

config = context.config


def owner_url() -> str:
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_owner_url
    if not url:
        raise SystemExit("TENLINE_DATABASE_OWNER_URL is not set: migrations run as the owner role")
    return async_url(url)


def run_migrations_offline() -> None:
    context.configure(url=owner_url(), target_metadata=SQLModel.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(owner_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=SQLModel.metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
