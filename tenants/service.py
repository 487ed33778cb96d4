"""Tenancy and identity services: the only place that queries these tables.

Tenant data is read and written in the acting tenant's context (the session stamps and filters it).
The operator's reads across tenants go through ``cross_tenant_read``, which writes an audit entry first
and then reads under a read-only role whose policies see every tenant.
"""

from __future__ import annotations

import contextlib
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.db import CROSS_TENANT_READER_ROLE, get_database, system_session
from app.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
)
from app.core.outbox import emit
from app.core.pagination import Page, page_of, paginate
from app.core.tenancy import (
    Principal,
    Role,
    acting_as,
    current_principal,
    require_tenant_id,
)
from tenants import schemas
from tenants.auth import hash_password
from tenants.models import (
    Agent,
    AgentAssignment,
    AuditEntry,
    Operator,
    Tenant,
    TenantMembership,
    TenantStatus,
    User,
)

TENANT_ERASURE_TOPIC = "tenant.erasure_requested"


# --- audit ---------------------------------------------------------------------------------------


async def audit(
    session: AsyncSession,
    action: str,
    *,
    object_type: str = "",
    object_id: object = "",
    detail: dict[str, Any] | None = None,
    tenant_id: uuid.UUID | None = None,
) -> None:
    """Append one audit entry for the acting principal in the caller's transaction."""
    principal = current_principal()
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    entry_tenant = tenant_id if tenant_id is not None else (principal.tenant_id if principal else None)
    entry = AuditEntry(
        tenant_id=entry_tenant,
        actor_kind=principal.kind if principal else "system",
        actor_id=principal.subject_id if principal else None,
        actor_name=principal.display_name if principal else "system",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        detail=detail or {},
        ip=principal.ip if principal else None,
        request_id=request_id,
    )
    # Written under the entry's own tenant, which the database checks against the context.
    with acting_as(_principal_for(entry_tenant) if entry_tenant else principal):
        session.add(entry)
        await session.flush()


@contextlib.asynccontextmanager
async def cross_tenant_read(reason: str, **detail: Any) -> AsyncIterator[AsyncSession]:
    """The operator's one path to read across tenants: audited first, then read-only."""
    database = get_database()
    principal = current_principal()
    with acting_as(principal.acting_for(None) if principal else None):
        async with database.session() as session:
            await audit(
                session,
                "cross_tenant_read",
                object_type="operator",
                detail={"reason": reason, **detail},
            )
    async with system_session(CROSS_TENANT_READER_ROLE, read_only=True) as session:
        yield session


# --- tenants -------------------------------------------------------------------------------------


def _check_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError.for_field("timezone", f"unknown IANA time zone {value!r}") from None


def _check_business_hours(hours: dict[str, list[tuple[str, str]]]) -> None:
    for day, ranges in hours.items():
        for start, end in ranges:
            if start >= end:
                raise InvalidInputError.for_field(f"business_hours.{day}", f"{start}-{end}: start must be before end")


def tenant_out(tenant: Tenant) -> schemas.TenantOut:
    return schemas.TenantOut(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        status=tenant.status,
        timezone=tenant.timezone,
        locale=tenant.locale,
        business_hours=tenant.business_hours,
        holidays=tenant.holidays,
        version=tenant.version,
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
    )


async def the_operator(session: AsyncSession) -> Operator:
    operator = (await session.exec(select(Operator))).first()
    if operator is None:
        raise NotFoundError("the operator organisation is not set up; run `tenline demo seed` or create it")
    return operator


async def ensure_operator(session: AsyncSession, name: str) -> Operator:
    operator = (await session.exec(select(Operator))).first()
    if operator is None:
        operator = Operator(name=name)
        session.add(operator)
        await session.flush()
    return operator


async def create_tenant(session: AsyncSession, data: schemas.TenantCreate) -> Tenant:
    _check_timezone(data.timezone)
    _check_business_hours(data.business_hours)
    if (await session.exec(select(Tenant).where(Tenant.slug == data.slug))).first():
        raise ConflictError(f"a tenant with slug {data.slug!r} exists")
    operator = await the_operator(session)
    tenant = Tenant(
        operator_id=operator.id,
        slug=data.slug,
        name=data.name,
        timezone=data.timezone,
        locale=data.locale,
        business_hours={day: [list(r) for r in ranges] for day, ranges in data.business_hours.items()},
        holidays=list(data.holidays),
    )
    session.add(tenant)
    await session.flush()
    await audit(
        session,
        "tenant.created",
        object_type="tenant",
        object_id=tenant.id,
        detail={"slug": tenant.slug},
        tenant_id=tenant.id,
    )
    return tenant


async def list_tenants(
    session: AsyncSession, *, cursor: str | None, limit: int, status: str | None = None
) -> Page[schemas.TenantOut]:
    statement = select(Tenant)
    if status:
        statement = statement.where(Tenant.status == status)
    rows = (await session.exec(paginate(statement, col(Tenant.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda t: t.id)
    return Page(items=[tenant_out(t) for t in items], next_cursor=next_cursor)


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID, principal: Principal) -> Tenant:
    """Operators see every tenant; anyone else only the tenant they act for."""
    if not principal.is_operator and principal.tenant_id != tenant_id:
        raise NotFoundError("no such tenant")
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None or tenant.status == TenantStatus.DELETED:
        raise NotFoundError("no such tenant")
    return tenant


async def update_tenant(
    session: AsyncSession,
    tenant: Tenant,
    data: schemas.TenantUpdate,
    *,
    if_match: int | None = None,
) -> Tenant:
    if if_match is not None and if_match != tenant.version:
        raise PreconditionFailedError(f"tenant changed since version {if_match}; it is now version {tenant.version}")
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
    if "business_hours" in changes:
        _check_business_hours(changes["business_hours"])
        changes["business_hours"] = {
            day: [list(r) for r in ranges] for day, ranges in changes["business_hours"].items()
        }
    for key, value in changes.items():
        setattr(tenant, key, value)
    tenant.version += 1
    tenant.updated_at = utcnow()
    await audit(
        session,
        "tenant.updated",
        object_type="tenant",
        object_id=tenant.id,
        detail={"fields": sorted(changes)},
        tenant_id=tenant.id,
    )
    return tenant


_TRANSITIONS = {
    "suspend": ({TenantStatus.ACTIVE}, TenantStatus.SUSPENDED),
    "reactivate": ({TenantStatus.SUSPENDED}, TenantStatus.ACTIVE),
    "delete": ({TenantStatus.ACTIVE, TenantStatus.SUSPENDED}, TenantStatus.DELETING),
}


async def change_tenant_status(session: AsyncSession, tenant: Tenant, transition: str) -> Tenant:
    allowed_from, target = _TRANSITIONS[transition]
    if tenant.status not in allowed_from:
        raise ConflictError(f"cannot {transition} a tenant that is {tenant.status}")
    tenant.status = target
    tenant.status_changed_at = utcnow()
    tenant.version += 1
    await audit(
        session,
        f"tenant.{transition}",
        object_type="tenant",
        object_id=tenant.id,
        tenant_id=tenant.id,
    )
    if target == TenantStatus.DELETING:
        # The erasure runs as a background job; the event is in this transaction so it cannot be lost.
        with acting_as(_principal_for(tenant.id)):
            await emit(session, TENANT_ERASURE_TOPIC, {"tenant_id": str(tenant.id)})
    return tenant


def _principal_for(tenant_id: uuid.UUID) -> Principal:
    principal = current_principal()
    return principal.acting_for(tenant_id) if principal else Principal(kind="system", tenant_id=tenant_id)


# --- users ---------------------------------------------------------------------------------------


async def _user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.exec(select(User).where(User.email == email.lower()))).first()


async def find_login(session: AsyncSession, email: str) -> User | None:
    return await _user_by_email(session, email)


async def create_tenant_user(session: AsyncSession, data: schemas.TenantUserCreate) -> schemas.TenantUserOut:
    require_tenant_id()
    user = await _user_by_email(session, data.email)
    if user is None:
        user = User(
            email=data.email.lower(),
            display_name=data.display_name,
            password_hash=hash_password(data.password) if data.password else None,
        )
        session.add(user)
        await session.flush()
    elif user.platform_role:
        raise ConflictError("that email belongs to operator staff; operator staff act in tenants without membership")
    existing = (await session.exec(select(TenantMembership).where(TenantMembership.user_id == user.id))).first()
    if existing:
        raise ConflictError(f"{data.email} is already a user of this tenant")
    membership = TenantMembership(user_id=user.id, role=data.role)
    session.add(membership)
    await session.flush()
    await audit(
        session,
        "user.created",
        object_type="user",
        object_id=user.id,
        detail={"role": data.role, "email": user.email},
    )
    return _tenant_user_out(user, membership)


def _tenant_user_out(user: User, membership: TenantMembership) -> schemas.TenantUserOut:
    return schemas.TenantUserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=membership.role,
        is_active=user.is_active,
        created_at=membership.created_at,
    )


async def list_tenant_users(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.TenantUserOut]:
    statement = select(TenantMembership, User).join(User, col(User.id) == col(TenantMembership.user_id))
    rows = (await session.exec(paginate(statement, col(TenantMembership.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row[0].id)
    return Page(
        items=[_tenant_user_out(user, membership) for membership, user in items],
        next_cursor=next_cursor,
    )


async def _membership(session: AsyncSession, user_id: uuid.UUID) -> tuple[TenantMembership, User]:
    row = (
        await session.exec(
            select(TenantMembership, User)
            .join(User, col(User.id) == col(TenantMembership.user_id))
            .where(TenantMembership.user_id == user_id)
        )
    ).first()
    if row is None:
        raise NotFoundError("no such user")
    return row[0], row[1]


async def get_tenant_user(session: AsyncSession, user_id: uuid.UUID) -> schemas.TenantUserOut:
    membership, user = await _membership(session, user_id)
    return _tenant_user_out(user, membership)


async def update_tenant_user(
    session: AsyncSession, user_id: uuid.UUID, data: schemas.TenantUserUpdate
) -> schemas.TenantUserOut:
    membership, user = await _membership(session, user_id)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if "role" in changes:
        membership.role = changes["role"]
    if "display_name" in changes:
        user.display_name = changes["display_name"]
    if "is_active" in changes:
        # Deactivating a person who also works elsewhere only removes them here.
        memberships_elsewhere = await _memberships_count(session, user.id)
        if memberships_elsewhere <= 1 and not user.platform_role:
            user.is_active = changes["is_active"]
        elif not changes["is_active"]:
            raise ConflictError("this person also works for other tenants; remove them from this tenant instead")
    await audit(
        session,
        "user.updated",
        object_type="user",
        object_id=user.id,
        detail={"fields": sorted(changes)},
    )
    return _tenant_user_out(user, membership)


async def _memberships_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    table = TenantMembership.__table__  # type: ignore[attr-defined]
    # Core query on purpose: the "own memberships" policy lets the database count across tenants
    # only for the signed-in user; for anyone else it counts this tenant's row alone.
    result = await session.execute(sa.select(sa.func.count()).select_from(table).where(table.c.user_id == user_id))
    return int(result.scalar_one())


async def remove_tenant_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    membership, user = await _membership(session, user_id)
    await session.delete(membership)
    await audit(session, "user.removed", object_type="user", object_id=user.id)


async def memberships_of(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The signed-in user's own memberships across tenants, by the "own memberships" RLS policy."""
    table = TenantMembership.__table__  # type: ignore[attr-defined]
    result = await session.execute(sa.select(table.c.tenant_id, table.c.role).where(table.c.user_id == user_id))
    return [(row.tenant_id, row.role) for row in result]


# --- operator staff ------------------------------------------------------------------------------


def _staff_out(user: User) -> schemas.StaffOut:
    return schemas.StaffOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.platform_role or "",
        is_active=user.is_active,
        created_at=user.created_at,
    )


async def create_staff(session: AsyncSession, data: schemas.StaffCreate) -> schemas.StaffOut:
    if await _user_by_email(session, data.email):
        raise ConflictError(f"{data.email} already has a login")
    user = User(
        email=data.email.lower(),
        display_name=data.display_name,
        password_hash=hash_password(data.password),
        platform_role=data.role,
    )
    session.add(user)
    await session.flush()
    await audit(
        session,
        "staff.created",
        object_type="user",
        object_id=user.id,
        detail={"role": data.role},
    )
    return _staff_out(user)


async def list_staff(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.StaffOut]:
    statement = select(User).where(col(User.platform_role).in_([Role.OPERATOR_ADMIN, Role.OPS_MANAGER]))
    rows = (await session.exec(paginate(statement, col(User.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda u: u.id)
    return Page(items=[_staff_out(u) for u in items], next_cursor=next_cursor)


# --- agents --------------------------------------------------------------------------------------


async def create_agent(session: AsyncSession, data: schemas.AgentCreate) -> schemas.AgentOut:
    if await _user_by_email(session, data.email):
        raise ConflictError(f"{data.email} already has a login")
    if (await session.exec(select(Agent).where(Agent.employee_code == data.employee_code))).first():
        raise ConflictError(f"employee code {data.employee_code} is taken")
    user = User(
        email=data.email.lower(),
        display_name=data.display_name,
        password_hash=hash_password(data.password),
        platform_role=Role.AGENT,
    )
    session.add(user)
    await session.flush()
    agent = Agent(user_id=user.id, employee_code=data.employee_code, site=data.site)
    session.add(agent)
    await session.flush()
    await audit(
        session,
        "agent.created",
        object_type="agent",
        object_id=agent.id,
        detail={"employee_code": agent.employee_code},
    )
    return _agent_out(agent, user, [])


def _agent_out(agent: Agent, user: User, assignments: Sequence[tuple[uuid.UUID, str]]) -> schemas.AgentOut:
    return schemas.AgentOut(
        id=agent.id,
        email=user.email,
        display_name=user.display_name,
        employee_code=agent.employee_code,
        site=agent.site,
        is_active=agent.is_active and user.is_active,
        assignments=[schemas.AssignmentOut(tenant_id=t, alias=a) for t, a in assignments],
    )


async def list_agents(*, cursor: str | None, limit: int) -> Page[schemas.AgentOut]:
    """The shared pool with every tenant assignment: a cross-tenant read, so audited."""
    async with cross_tenant_read("list agents of the shared pool") as session:
        statement = select(Agent, User).join(User, col(User.id) == col(Agent.user_id))
        rows = (await session.exec(paginate(statement, col(Agent.id), cursor, limit))).all()
        items, next_cursor = page_of(rows, limit, lambda row: row[0].id)
        agent_ids = [agent.id for agent, _ in items]
        assignments: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
        if agent_ids:
            for assignment in (
                await session.exec(select(AgentAssignment).where(col(AgentAssignment.agent_id).in_(agent_ids)))
            ).all():
                assignments.setdefault(assignment.agent_id, []).append((assignment.tenant_id, assignment.alias))  # type: ignore[arg-type]
    return Page(
        items=[_agent_out(a, u, assignments.get(a.id, [])) for a, u in items],
        next_cursor=next_cursor,
    )


async def get_agent(session: AsyncSession, agent_id: uuid.UUID) -> tuple[Agent, User]:
    row = (
        await session.exec(
            select(Agent, User).join(User, col(User.id) == col(Agent.user_id)).where(Agent.id == agent_id)
        )
    ).first()
    if row is None:
        raise NotFoundError("no such agent")
    return row[0], row[1]


async def assign_agent(session: AsyncSession, agent_id: uuid.UUID, data: schemas.AgentAssign) -> schemas.AssignmentOut:
    agent, _ = await get_agent(session, agent_id)
    tenant = await session.get(Tenant, data.tenant_id)
    if tenant is None or tenant.status in (TenantStatus.DELETING, TenantStatus.DELETED):
        raise NotFoundError("no such tenant")
    with acting_as(_principal_for(tenant.id)):
        existing = (await session.exec(select(AgentAssignment).where(AgentAssignment.agent_id == agent.id))).first()
        if existing:
            existing.alias = data.alias
        else:
            session.add(AgentAssignment(agent_id=agent.id, alias=data.alias))
        await session.flush()
        await audit(
            session,
            "agent.assigned",
            object_type="agent",
            object_id=agent.id,
            detail={"alias": data.alias},
        )
    return schemas.AssignmentOut(tenant_id=tenant.id, alias=data.alias)


async def unassign_agent(session: AsyncSession, agent_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
    agent, _ = await get_agent(session, agent_id)
    if await session.get(Tenant, tenant_id) is None:
        raise NotFoundError("no such tenant")
    with acting_as(_principal_for(tenant_id)):
        assignment = (await session.exec(select(AgentAssignment).where(AgentAssignment.agent_id == agent.id))).first()
        if assignment is None:
            raise NotFoundError("the agent is not assigned to that tenant")
        await session.delete(assignment)
        await session.flush()
        await audit(session, "agent.unassigned", object_type="agent", object_id=agent.id)


def _tenant_agent_out(assignment: AgentAssignment) -> schemas.TenantAgentOut:
    return schemas.TenantAgentOut(
        id=assignment.id,
        agent_id=assignment.agent_id,
        alias=assignment.alias,
        assigned_at=assignment.created_at,
    )


async def list_tenant_agents(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.TenantAgentOut]:
    rows = (await session.exec(paginate(select(AgentAssignment), col(AgentAssignment.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda a: a.id)
    return Page(items=[_tenant_agent_out(a) for a in items], next_cursor=next_cursor)


async def get_tenant_agent(session: AsyncSession, assignment_id: uuid.UUID) -> schemas.TenantAgentOut:
    assignment = (await session.exec(select(AgentAssignment).where(AgentAssignment.id == assignment_id))).first()
    if assignment is None:
        raise NotFoundError("no such agent")
    return _tenant_agent_out(assignment)


# --- audit log -----------------------------------------------------------------------------------


def _audit_out(entry: AuditEntry) -> schemas.AuditEntryOut:
    return schemas.AuditEntryOut(
        id=entry.id,
        tenant_id=entry.tenant_id,
        actor_kind=entry.actor_kind,
        actor_id=entry.actor_id,
        actor_name=entry.actor_name,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        detail=entry.detail,
        ip=entry.ip,
        request_id=entry.request_id,
        occurred_at=entry.occurred_at,
    )


def _audit_query(action: str | None) -> Any:
    statement = select(AuditEntry)
    if action:
        statement = statement.where(AuditEntry.action == action)
    return statement


async def list_tenant_audit(
    session: AsyncSession, *, cursor: str | None, limit: int, action: str | None = None
) -> Page[schemas.AuditEntryOut]:
    """The acting tenant's own entries (the database policy shows no other)."""
    tenant_id = require_tenant_id()
    statement = _audit_query(action).where(AuditEntry.tenant_id == tenant_id)
    rows = (await session.exec(paginate(statement, col(AuditEntry.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda e: e.id)
    return Page(items=[_audit_out(e) for e in items], next_cursor=next_cursor)


async def list_all_audit(
    *,
    cursor: str | None,
    limit: int,
    action: str | None = None,
    tenant_id: uuid.UUID | None = None,
) -> Page[schemas.AuditEntryOut]:
    async with cross_tenant_read("read the audit log", tenant_filter=str(tenant_id) if tenant_id else None) as session:
        statement = _audit_query(action)
        if tenant_id:
            statement = statement.where(AuditEntry.tenant_id == tenant_id)
        rows = (await session.exec(paginate(statement, col(AuditEntry.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda e: e.id)
    return Page(items=[_audit_out(e) for e in items], next_cursor=next_cursor)
