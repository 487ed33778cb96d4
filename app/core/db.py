"""Database engine and sessions, with the tenant scoping that makes the data layer fail closed.

Three things happen on every session, whoever opens it:
- at transaction begin the acting tenant is written with ``set_config('app.tenant_id', ..., true)``,
  so PostgreSQL's row-level security sees it (and forgets it at commit);
- an ORM query that touches a tenant table with no tenant in context raises ``TenantContextMissing``,
  and otherwise gets an explicit ``tenant_id`` filter (RLS alone does not prune distributed shards);
- a new tenant row is stamped with the context's tenant; a row for another tenant is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.models import TenantScoped
from app.core.tenancy import (
    TenantContextMissing,
    current_principal,
    require_tenant_id,
)

# Database roles (created by infra/sql/roles.sql; grants and policies live in the migrations).
OWNER_ROLE = "tenline_owner"
APP_ROLE = "tenline_app"
CROSS_TENANT_READER_ROLE = "tenline_cross_tenant_reader"
OUTBOX_RELAY_ROLE = "tenline_outbox_relay"


class TenantMismatch(TenantContextMissing):
    """A write named a tenant other than the one in context."""


def async_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=1800,
        )
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed when the block ends, rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


_database: Database | None = None


def configure_database(url: str, *, pool_size: int = 10) -> Database:
    global _database
    _database = Database(url, pool_size=pool_size)
    return _database


def get_database() -> Database:
    if _database is None:
        raise RuntimeError("database not configured: call configure_database() at start")
    return _database


async def reset_database() -> None:
    global _database
    if _database is not None:
        await _database.dispose()
    _database = None


@event.listens_for(Session, "after_begin")
def _set_transaction_context(session: Session, transaction: Any, connection: sa.Connection) -> None:
    if session.info.get("role"):
        # Named system paths run under a narrower role with its own policies (see migrations).
        if session.info.get("read_only"):
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        connection.exec_driver_sql(f"SET LOCAL ROLE {session.info['role']}")
    session.info.pop("context", None)
    _sync_context(session, connection)


def _sync_context(session: Session, connection: sa.Connection | None = None) -> None:
    """Write the acting tenant into the transaction when it differs from what the database has.

    Usually once per transaction; again only when code switches tenant mid-transaction (``acting_as``),
    as the operator does when it creates a tenant or assigns an agent.
    """
    principal = current_principal()
    context = (
        str(principal.tenant_id) if principal and principal.tenant_id else "",
        # Only people's ids reach policies (their own memberships); programs' are left out.
        str(principal.subject_id) if principal and principal.subject_id and principal.kind == "user" else "",
    )
    if session.info.get("context") == context:
        return
    session.info["context"] = context
    (connection or session.connection()).execute(
        sa.text("SELECT set_config('app.tenant_id', :tenant, true), set_config('app.subject_id', :subject, true)"),
        {"tenant": context[0], "subject": context[1]},
    )


def _tenant_classes(state: ORMExecuteState) -> list[type[TenantScoped]]:
    return [mapper.class_ for mapper in state.all_mappers if issubclass(mapper.class_, TenantScoped)]


@event.listens_for(Session, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    if state.session.in_transaction():
        _sync_context(state.session)
    if not (state.is_select or state.is_update or state.is_delete) or state.session.info.get("role"):
        return
    classes = _tenant_classes(state)
    if not classes:
        return
    tenant_id = require_tenant_id()
    state.statement = state.statement.options(
        *(with_loader_criteria(cls, col(cls.tenant_id) == tenant_id, include_aliases=True) for cls in classes)
    )


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session: Session, flush_context: Any, instances: Any) -> None:
    _sync_context(session)
    for obj in session.new:
        if isinstance(obj, TenantScoped):
            expected = require_tenant_id()
            if obj.tenant_id is None:
                obj.tenant_id = expected
            elif obj.tenant_id != expected:
                raise TenantMismatch(f"row for tenant {obj.tenant_id} written in the context of {expected}")
    for obj in session.dirty:
        if isinstance(obj, TenantScoped) and obj.tenant_id != require_tenant_id():
            raise TenantMismatch("row of another tenant modified")


@contextlib.asynccontextmanager
async def system_session(role: str, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
    """A transaction under one of the narrow system roles (cross-tenant reader, outbox relay).

    Only named, reviewed paths call this; the roles' policies say exactly what each may touch.
    """
    database = get_database()
    async with database.sessionmaker() as session:
        session.info["role"] = role
        session.info["read_only"] = read_only
        async with session.begin():
            yield session
