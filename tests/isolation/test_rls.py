"""Tenant A's context sees nothing of tenant B; no context raises in the services and sees nothing in the database."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlmodel import select

from app.core.db import TenantMismatch, get_database
from app.core.tenancy import Principal, TenantContextMissing, acting_as
from tenants import service
from tenants.models import AgentAssignment, TenantMembership
from tests.conftest import Services
from tests.factories import make_agent, make_tenant, make_tenant_user


def _as_tenant(tenant_id: uuid.UUID) -> Principal:
    return Principal(kind="system", tenant_id=tenant_id)


@pytest.fixture(scope="module")
async def two_tenants() -> tuple[uuid.UUID, uuid.UUID]:
    a, b = await make_tenant("rls-a"), await make_tenant("rls-b")
    for tenant in (a, b):
        await make_tenant_user(tenant.id, "tenant_admin")
        await make_tenant_user(tenant.id, "supervisor")
    await make_agent(a.id, b.id)
    return a.id, b.id


async def test_a_context_sees_only_a_rows_through_services(two_tenants: tuple[uuid.UUID, uuid.UUID]) -> None:
    a, _ = two_tenants
    with acting_as(_as_tenant(a)):
        async with get_database().session() as session:
            users = await service.list_tenant_users(session, cursor=None, limit=200)
            memberships = (await session.exec(select(TenantMembership))).all()
    assert len(users.items) == 2
    assert {m.tenant_id for m in memberships} == {a}


async def test_a_context_sees_no_b_rows_even_without_the_orm_filter(two_tenants: tuple[uuid.UUID, uuid.UUID]) -> None:
    a, b = two_tenants
    with acting_as(_as_tenant(a)):
        async with get_database().session() as session:
            # Plain SQL skips the session's filter: only row-level security stands between A and B here.
            rows = (await session.execute(sa.text("SELECT DISTINCT tenant_id FROM tenant_memberships"))).all()
            explicit_b = (
                await session.execute(sa.text("SELECT count(*) FROM agent_assignments WHERE tenant_id = :b"), {"b": b})
            ).scalar_one()
    assert [r[0] for r in rows] == [a]
    assert explicit_b == 0


async def test_writes_with_b_tenant_id_fail(two_tenants: tuple[uuid.UUID, uuid.UUID]) -> None:
    a, b = two_tenants
    with acting_as(_as_tenant(a)), pytest.raises(TenantMismatch):
        async with get_database().session() as session:
            session.add(AgentAssignment(tenant_id=b, agent_id=uuid.uuid4(), alias="forged"))
            await session.flush()
    with acting_as(_as_tenant(a)), pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        async with get_database().session() as session:
            await session.execute(
                sa.text(
                    "INSERT INTO outbox (tenant_id, id, topic, payload, created_at) VALUES (:b, :id, 'forged', '{}', now())"
                ),
                {"b": b, "id": uuid.uuid4()},
            )
    with acting_as(_as_tenant(a)):
        async with get_database().session() as session:
            updated = await session.execute(
                sa.text("UPDATE tenant_memberships SET role = 'tenant_admin' WHERE tenant_id = :b"), {"b": b}
            )
    assert updated.rowcount == 0  # type: ignore[attr-defined]


async def test_no_context_raises_in_the_service_layer(two_tenants: tuple[uuid.UUID, uuid.UUID]) -> None:
    with acting_as(None):
        async with get_database().session() as session:
            with pytest.raises(TenantContextMissing):
                await session.exec(select(TenantMembership))
            with pytest.raises(TenantContextMissing):
                # A select of bare columns is scoped like a select of rows.
                await session.exec(select(AgentAssignment.alias))
            with pytest.raises(TenantContextMissing):
                await service.list_tenant_users(session, cursor=None, limit=10)
    with acting_as(Principal(kind="user", subject_id=uuid.uuid4())), pytest.raises(TenantContextMissing):
        async with get_database().session() as session:
            session.add(AgentAssignment(agent_id=uuid.uuid4(), alias="no tenant"))
            await session.flush()


async def test_no_context_returns_nothing_at_the_database_layer(
    services: Services, two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    with psycopg.connect(services.app_url) as conn:
        for table in ("tenant_memberships", "agent_assignments", "api_clients", "outbox", "audit_log"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table  # type: ignore[index]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO tenant_memberships (tenant_id, id, user_id, role, created_at) VALUES (%s, gen_random_uuid(), gen_random_uuid(), 'x', now())",
                (two_tenants[0],),
            )


async def test_the_setting_is_transaction_local(services: Services, two_tenants: tuple[uuid.UUID, uuid.UUID]) -> None:
    a, _ = two_tenants
    with acting_as(_as_tenant(a)):
        async with get_database().session() as session:
            inside = (await session.execute(sa.text("SELECT current_setting('app.tenant_id', true)"))).scalar_one()
            connection = await session.connection()
            raw = await connection.get_raw_connection()
    assert inside == str(a)
    # The pooled connection that served A now carries no tenant.
    async with get_database().engine.connect() as conn:
        after = (
            await conn.execute(sa.text("SELECT coalesce(current_setting('app.tenant_id', true), '')"))
        ).scalar_one()
    assert after == ""
    assert raw is not None


async def test_operator_cross_tenant_read_is_audited_and_read_only(two_tenants: tuple[uuid.UUID, uuid.UUID]) -> None:
    a, b = two_tenants
    operator = Principal(kind="user", subject_id=uuid.uuid4(), display_name="Olivia")
    with acting_as(operator):
        async with service.cross_tenant_read("isolation test") as session:
            seen = {
                row[0]
                for row in (await session.execute(sa.text("SELECT DISTINCT tenant_id FROM tenant_memberships"))).all()
            }
            with pytest.raises(sa.exc.InternalError, match="read-only"):
                await session.execute(sa.text("DELETE FROM tenant_memberships"))
    assert {a, b} <= seen
    with acting_as(operator):
        entries = await service.list_all_audit(cursor=None, limit=50, action="cross_tenant_read")
    assert any(e.actor_id == operator.subject_id and e.detail.get("reason") == "isolation test" for e in entries.items)
