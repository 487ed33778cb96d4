"""Tenancy and identity services: the only place that queries these tables.

Tenant data is read and written in the acting tenant's context (the session stamps and filters it).
The operator's reads across tenants go through ``cross_tenant_read``, which writes an audit entry first
and then reads under a read-only role whose policies see every tenant.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
import structlog
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import crypto
from app.core.clock import utcnow
from app.core.db import CROSS_TENANT_READER_ROLE, get_database, system_session
from app.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from app.core.models import TenantScoped
from app.core.outbox import emit
from app.core.pagination import Page, page_of, paginate
from app.core.rows import select_fields, structs_from_rows, to_struct
from app.core.tenancy import (
    Principal,
    Role,
    acting_as,
    current_principal,
    require_tenant_id,
)
from app.core.versioning import apply_changes, check_version, given_fields
from tenants import credentials, oidc, schemas
from tenants.auth import hash_password
from tenants.models import (
    Agent,
    AgentAssignment,
    ApiClient,
    ApiClientStatus,
    AuditEntry,
    Operator,
    SsoConnection,
    Tenant,
    TenantMembership,
    TenantStatus,
    User,
)
from tenants.permissions import KNOWN_SCOPES

TENANT_ERASURE_TOPIC = "tenant.erasure_requested"
# Routing reloads its configuration when an agent joins or leaves a tenant, or its chat capacity or active
# state changes (after the commit).
AGENT_ASSIGNMENTS_TOPIC = "tenant.agent_assignments_changed"


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


def _check_business_hours(hours: Mapping[schemas.Weekday, list[tuple[str, str]]]) -> None:
    for day, ranges in hours.items():
        for start, end in ranges:
            if start >= end:
                raise InvalidInputError.for_field(f"business_hours.{day}", f"{start}-{end}: start must be before end")


def tenant_out(tenant: Tenant) -> schemas.TenantOut:
    return to_struct(schemas.TenantOut, tenant)


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
    check_version("tenant", tenant, if_match)
    changes = given_fields(data)
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
    if "business_hours" in changes:
        _check_business_hours(changes["business_hours"])
        changes["business_hours"] = {
            day: [list(r) for r in ranges] for day, ranges in changes["business_hours"].items()
        }
    apply_changes(tenant, changes)
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
    return to_struct(schemas.TenantUserOut, user, role=membership.role, created_at=membership.created_at)


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
    changes = given_fields(data)
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
    return to_struct(schemas.StaffOut, user, role=user.platform_role or "")


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
    agent = Agent(user_id=user.id, employee_code=data.employee_code, site=data.site, chat_capacity=data.chat_capacity)
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


def _agent_out(agent: Agent, user: User, assignments: Sequence[schemas.AssignmentOut]) -> schemas.AgentOut:
    return to_struct(
        schemas.AgentOut,
        agent,
        email=user.email,
        display_name=user.display_name,
        is_active=agent.is_active and user.is_active,
        assignments=list(assignments),
    )


async def list_agents(*, cursor: str | None, limit: int) -> Page[schemas.AgentOut]:
    """The shared pool with every tenant assignment: a cross-tenant read, so audited."""
    async with cross_tenant_read("list agents of the shared pool") as session:
        statement = select(Agent, User).join(User, col(User.id) == col(Agent.user_id))
        rows = (await session.exec(paginate(statement, col(Agent.id), cursor, limit))).all()
        items, next_cursor = page_of(rows, limit, lambda row: row[0].id)
        assignments = await _assignments_by_agent(session, [agent.id for agent, _ in items])
    return Page(
        items=[_agent_out(a, u, assignments.get(a.id, [])) for a, u in items],
        next_cursor=next_cursor,
    )


async def _assignments_by_agent(
    reader: AsyncSession, agent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.AssignmentOut]]:
    """Each agent's tenants, read in a ``cross_tenant_read`` session (no tenant filter applies)."""
    assignments: dict[uuid.UUID, list[schemas.AssignmentOut]] = {}
    if agent_ids:
        statement = select(AgentAssignment).where(col(AgentAssignment.agent_id).in_(agent_ids))
        for assignment in (await reader.exec(statement)).all():
            assignments.setdefault(assignment.agent_id, []).append(
                schemas.AssignmentOut(
                    tenant_id=assignment.tenant_id,  # type: ignore[arg-type]
                    alias=assignment.alias,
                    dedicated=assignment.dedicated,
                )
            )
    return assignments


async def get_agent(session: AsyncSession, agent_id: uuid.UUID, *, lock: bool = False) -> tuple[Agent, User]:
    statement = select(Agent, User).join(User, col(User.id) == col(Agent.user_id)).where(Agent.id == agent_id)
    if lock:
        statement = statement.with_for_update(of=Agent)
    row = (await session.exec(statement)).first()
    if row is None:
        raise NotFoundError("no such agent")
    return row[0], row[1]


# What the router holds of an agent besides its assignments (``app.routing.service.load_engine_config``).
_ROUTED_AGENT_FIELDS = frozenset({"chat_capacity", "is_active"})


async def update_agent(session: AsyncSession, agent_id: uuid.UUID, data: schemas.AgentUpdate) -> schemas.AgentOut:
    """Site, chat capacity, active state; deactivating keeps the assignments (routing skips inactive agents)."""
    agent, user = await get_agent(session, agent_id)
    changes = {name: value for name, value in given_fields(data).items() if getattr(agent, name) != value}
    for name, value in changes.items():
        setattr(agent, name, value)
    if changes:
        await session.flush()
        await audit(
            session,
            "agent.updated",
            object_type="agent",
            object_id=agent.id,
            detail={"fields": sorted(changes)},
        )
    async with cross_tenant_read("tenants of an edited agent", agent_id=str(agent.id)) as reader:
        assignments = (await _assignments_by_agent(reader, [agent.id])).get(agent.id, [])
    if _ROUTED_AGENT_FIELDS & changes.keys():
        # Outbox rows belong to a tenant: one event in each tenant the agent works for reloads the router.
        for assignment in assignments:
            with acting_as(_principal_for(assignment.tenant_id)):
                await emit(session, AGENT_ASSIGNMENTS_TOPIC, {"agent_id": str(agent.id)})
    return _agent_out(agent, user, assignments)


async def _check_dedication(agent: Agent, tenant_id: uuid.UUID, dedicated: bool) -> None:
    """A dedicated agent works for its tenant alone: refuses dedicating an agent that works for another tenant,
    and assigning one dedicated elsewhere. The caller holds the agent's row lock (every assignment is made here),
    so assignments of one agent are decided one after another; no unique index across tenants backs this, as
    its violations would tell one tenant of another's rows."""
    async with cross_tenant_read("assignments of an agent being assigned", agent_id=str(agent.id)) as reader:
        others = [
            a for a in (await _assignments_by_agent(reader, [agent.id])).get(agent.id, []) if a.tenant_id != tenant_id
        ]
        if not others:
            return
        names = await tenant_names(reader, [other.tenant_id for other in others])
    listed = ", ".join(sorted(names.get(other.tenant_id, str(other.tenant_id)) for other in others))
    if dedicated:
        raise ConflictError(f"a dedicated agent works for one tenant only, and this one also works for {listed}")
    if dedicated_to := [other for other in others if other.dedicated]:
        raise ConflictError(f"the agent is dedicated to {names.get(dedicated_to[0].tenant_id, 'another tenant')}")


async def assign_agent(session: AsyncSession, agent_id: uuid.UUID, data: schemas.AgentAssign) -> schemas.AssignmentOut:
    agent, _ = await get_agent(session, agent_id, lock=True)
    tenant = await session.get(Tenant, data.tenant_id)
    if tenant is None or tenant.status in (TenantStatus.DELETING, TenantStatus.DELETED):
        raise NotFoundError("no such tenant")
    await _check_dedication(agent, tenant.id, data.dedicated)
    with acting_as(_principal_for(tenant.id)):
        existing = (await session.exec(select(AgentAssignment).where(AgentAssignment.agent_id == agent.id))).first()
        assignment = existing or AgentAssignment(agent_id=agent.id, alias=data.alias)
        if data.dedicated != assignment.dedicated:
            assignment.dedicated_since = utcnow() if data.dedicated else None
        assignment.alias, assignment.dedicated = data.alias, data.dedicated
        session.add(assignment)
        await session.flush()
        await audit(
            session,
            "agent.assigned",
            object_type="agent",
            object_id=agent.id,
            detail={"alias": data.alias, "dedicated": data.dedicated},
        )
        await emit(session, AGENT_ASSIGNMENTS_TOPIC, {"agent_id": str(agent.id)})
    return schemas.AssignmentOut(tenant_id=tenant.id, alias=data.alias, dedicated=data.dedicated)


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
        await emit(session, AGENT_ASSIGNMENTS_TOPIC, {"agent_id": str(agent.id)})


def _tenant_agent_out(assignment: AgentAssignment) -> schemas.TenantAgentOut:
    return to_struct(schemas.TenantAgentOut, assignment, assigned_at=assignment.created_at)


async def list_tenant_agents(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.TenantAgentOut]:
    statement = select_fields(schemas.TenantAgentOut, AgentAssignment, assigned_at="created_at")
    rows = (await session.exec(paginate(statement, col(AgentAssignment.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=structs_from_rows(schemas.TenantAgentOut, items), next_cursor=next_cursor)


async def get_tenant_agent(session: AsyncSession, assignment_id: uuid.UUID) -> schemas.TenantAgentOut:
    assignment = (await session.exec(select(AgentAssignment).where(AgentAssignment.id == assignment_id))).first()
    if assignment is None:
        raise NotFoundError("no such agent")
    return _tenant_agent_out(assignment)


async def is_agent_assigned(session: AsyncSession, agent_id: uuid.UUID) -> bool:
    """Whether the agent works for the acting tenant (other domains ask this instead of reading assignments)."""
    statement = select(AgentAssignment.id).where(AgentAssignment.agent_id == agent_id)
    return (await session.exec(statement)).first() is not None


async def dedicated_agents(session: AsyncSession) -> dict[uuid.UUID, dt.datetime]:
    """Agent id -> since when, of the agents dedicated to the acting tenant (billing meters their seat time)."""
    statement = select(AgentAssignment.agent_id, AgentAssignment.dedicated_since).where(
        col(AgentAssignment.dedicated), col(AgentAssignment.dedicated_since).is_not(None)
    )
    return {agent_id: since for agent_id, since in (await session.exec(statement)).all() if since is not None}


async def agent_aliases(session: AsyncSession, agent_ids: Sequence[uuid.UUID] | None = None) -> dict[uuid.UUID, str]:
    """Agent id -> alias of the acting tenant's agents (those of ``agent_ids`` that work for it, or all): how
    the tenant names agents, never with the operator's personal data."""
    statement = select(AgentAssignment.agent_id, AgentAssignment.alias)
    if agent_ids is not None:
        statement = statement.where(col(AgentAssignment.agent_id).in_(list(agent_ids)))
    return {agent_id: alias for agent_id, alias in (await session.exec(statement)).all()}


# --- audit log -----------------------------------------------------------------------------------


def _audit_query(action: str | None) -> Any:
    statement = select_fields(schemas.AuditEntryOut, AuditEntry)
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
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=structs_from_rows(schemas.AuditEntryOut, items), next_cursor=next_cursor)


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
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=structs_from_rows(schemas.AuditEntryOut, items), next_cursor=next_cursor)


# --- names for pickers (web UI) ------------------------------------------------------------------


async def tenant_choices(session: AsyncSession) -> list[schemas.TenantOut]:
    """Every tenant an operator can act for (none being deleted), by name: the tenant switcher's list."""
    statement = (
        select(Tenant)
        .where(col(Tenant.status).in_([TenantStatus.ACTIVE, TenantStatus.SUSPENDED]))
        .order_by(col(Tenant.name), col(Tenant.slug))
    )
    return [tenant_out(t) for t in (await session.exec(statement)).all()]


async def tenant_names(session: AsyncSession, tenant_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Display names of the given tenants (operator-level data, no tenant rows read)."""
    if not tenant_ids:
        return {}
    rows = (await session.exec(select(Tenant.id, Tenant.name).where(col(Tenant.id).in_(set(tenant_ids))))).all()
    return {tenant_id: name for tenant_id, name in rows}


async def assignments_of(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The signed-in agent's own assignments (tenant id, alias) in every tenant, by the "own assignments" policy."""
    assignments = AgentAssignment.__table__  # type: ignore[attr-defined]
    agents = Agent.__table__  # type: ignore[attr-defined]
    # Core query on purpose (like memberships_of): the ORM would add the acting tenant's filter.
    result = await session.execute(
        sa.select(assignments.c.tenant_id, assignments.c.alias)
        .join(agents, agents.c.id == assignments.c.agent_id)
        .where(agents.c.user_id == user_id)
        .order_by(assignments.c.alias)
    )
    return [(row.tenant_id, row.alias) for row in result]


# --- API clients ---------------------------------------------------------------------------------

# last_used_at is a hint for admins, not a log: written at most this often per client.
API_CLIENT_USE_RESOLUTION = dt.timedelta(minutes=1)


def _check_scopes(scopes: Sequence[str]) -> list[str]:
    unknown = sorted(set(scopes) - KNOWN_SCOPES)
    if unknown:
        raise InvalidInputError.for_field(
            "scopes", f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_SCOPES))}"
        )
    return sorted(set(scopes))


async def create_api_client(session: AsyncSession, data: schemas.ApiClientCreate) -> tuple[schemas.ApiClientOut, str]:
    """A new client for the acting tenant; returns it with its secret, which is never shown again."""
    tenant_id = require_tenant_id()
    scopes = _check_scopes(data.scopes)
    if (await session.exec(select(ApiClient).where(ApiClient.name == data.name))).first():
        raise ConflictError(f"an API client named {data.name!r} exists")
    secret = credentials.new_client_secret()
    client = ApiClient(
        name=data.name,
        client_id=credentials.new_client_id(tenant_id),
        secret_hash=credentials.hash_secret(secret),
        scopes=scopes,
    )
    session.add(client)
    await session.flush()
    await audit(
        session,
        "api_client.created",
        object_type="api_client",
        object_id=client.id,
        detail={"name": client.name, "client_id": client.client_id, "scopes": scopes},
    )
    return to_struct(schemas.ApiClientOut, client), secret


async def list_api_clients(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.ApiClientOut]:
    rows = (await session.exec(paginate(select(ApiClient), col(ApiClient.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda c: c.id)
    return Page(items=[to_struct(schemas.ApiClientOut, c) for c in items], next_cursor=next_cursor)


async def _api_client(session: AsyncSession, api_client_id: uuid.UUID) -> ApiClient:
    client = (await session.exec(select(ApiClient).where(ApiClient.id == api_client_id))).first()
    if client is None:
        raise NotFoundError("no such API client")
    return client


async def get_api_client(session: AsyncSession, api_client_id: uuid.UUID) -> schemas.ApiClientOut:
    return to_struct(schemas.ApiClientOut, await _api_client(session, api_client_id))


async def rotate_api_client_secret(
    session: AsyncSession, api_client_id: uuid.UUID, *, overlap_seconds: int
) -> tuple[schemas.ApiClientOut, str]:
    """A new secret; the current one keeps working for ``overlap_seconds`` (0: stops at once)."""
    client = await _api_client(session, api_client_id)
    if client.status != ApiClientStatus.ACTIVE:
        raise ConflictError("a revoked API client cannot get a new secret; create a new client")
    now = utcnow()
    secret = credentials.new_client_secret()
    if overlap_seconds > 0:
        client.previous_secret_hash = client.secret_hash
        client.previous_secret_expires_at = now + dt.timedelta(seconds=overlap_seconds)
    else:
        client.previous_secret_hash = None
        client.previous_secret_expires_at = None
    client.secret_hash = credentials.hash_secret(secret)
    client.rotated_at = now
    await audit(
        session,
        "api_client.secret_rotated",
        object_type="api_client",
        object_id=client.id,
        detail={"overlap_seconds": overlap_seconds},
    )
    return to_struct(schemas.ApiClientOut, client), secret


async def revoke_api_client(session: AsyncSession, api_client_id: uuid.UUID) -> schemas.ApiClientOut:
    """Stops the client for good: no new tokens, and its issued tokens fail from the next request."""
    client = await _api_client(session, api_client_id)
    if client.status == ApiClientStatus.REVOKED:
        return to_struct(schemas.ApiClientOut, client)
    client.status = ApiClientStatus.REVOKED
    client.revoked_at = utcnow()
    client.previous_secret_hash = None
    client.previous_secret_expires_at = None
    await audit(session, "api_client.revoked", object_type="api_client", object_id=client.id)
    return to_struct(schemas.ApiClientOut, client)


async def api_client_for_authentication(session: AsyncSession, client_id: str) -> ApiClient | None:
    """The active client with this client id, if its tenant is active too; in that tenant's context."""
    statement = (
        select(ApiClient)
        .join(Tenant, col(Tenant.id) == col(ApiClient.tenant_id))
        .where(
            ApiClient.client_id == client_id,
            ApiClient.status == ApiClientStatus.ACTIVE,
            col(ApiClient.suspended_at).is_(None),
            Tenant.status == TenantStatus.ACTIVE,
        )
    )
    return (await session.exec(statement)).first()


async def suspend_api_clients(session: AsyncSession, *, by: str) -> int:
    """Suspends the acting tenant's active, unsuspended API clients on behalf of ``by`` (reversible with
    ``resume_api_clients``); their tokens stop working at once. Returns how many were suspended."""
    clients = (
        await session.exec(
            select(ApiClient).where(ApiClient.status == ApiClientStatus.ACTIVE, col(ApiClient.suspended_at).is_(None))
        )
    ).all()
    now = utcnow()
    for client in clients:
        client.suspended_at = now
        client.suspended_by = by
        await audit(session, "api_client.suspended", object_type="api_client", object_id=client.id, detail={"by": by})
    return len(clients)


async def resume_api_clients(session: AsyncSession, *, by: str) -> int:
    """Lifts the suspensions ``by`` made of the acting tenant's API clients (another domain's stay); returns how
    many were lifted."""
    clients = (await session.exec(select(ApiClient).where(ApiClient.suspended_by == by))).all()
    for client in clients:
        client.suspended_at = None
        client.suspended_by = None
        await audit(session, "api_client.resumed", object_type="api_client", object_id=client.id, detail={"by": by})
    return len(clients)


def note_api_client_use(client: ApiClient) -> None:
    """Records a use on the caller's transaction, unless one was recorded within the last minute."""
    now = utcnow()
    if client.last_used_at is None or now - client.last_used_at >= API_CLIENT_USE_RESOLUTION:
        client.last_used_at = now


async def record_access_token_revoked(session: AsyncSession, client: ApiClient, jti: str) -> None:
    """Audit of an RFC 7009 revocation (the token itself is refused through the revocation list)."""
    await audit(
        session,
        "api_client.token_revoked",
        object_type="api_client",
        object_id=client.id,
        detail={"jti": jti},
    )


# --- SSO ---


def _sso_secret_purpose(tenant_id: uuid.UUID) -> str:
    # Bound to the tenant: a ciphertext copied into another tenant's row does not decrypt there.
    return f"sso-client-secret:{tenant_id}"


def sso_client_secret(connection: SsoConnection) -> str:
    """The connection's client secret in clear, for the token request (raises crypto.DecryptionError)."""
    assert connection.tenant_id is not None
    return crypto.decrypt(connection.client_secret_encrypted, purpose=_sso_secret_purpose(connection.tenant_id))


async def _sso_connection(session: AsyncSession) -> SsoConnection | None:
    return (await session.exec(select(SsoConnection))).first()


async def _sso_out(session: AsyncSession, connection: SsoConnection) -> schemas.SsoConnectionOut:
    tenant = await session.get(Tenant, connection.tenant_id)
    assert tenant is not None
    return to_struct(
        schemas.SsoConnectionOut, connection, redirect_uri=oidc.callback_url(), login_url=oidc.start_url(tenant.slug)
    )


async def get_sso_connection(session: AsyncSession) -> schemas.SsoConnectionOut:
    """The acting tenant's connection (404 when it has none)."""
    connection = await _sso_connection(session)
    if connection is None:
        raise NotFoundError("this tenant has no SSO connection")
    return await _sso_out(session, connection)


async def _checked_issuer(issuer: str) -> str:
    """The issuer, once its discovery document has been read and found usable (fresh, not cached)."""
    problem = oidc.provider_url_problem(issuer)
    if problem:
        raise InvalidInputError.for_field("issuer", problem)
    try:
        await oidc.discover(issuer, refresh=True)
    except oidc.ProviderError as exc:
        raise InvalidInputError.for_field("issuer", f"no usable OpenID configuration: {exc}") from None
    return issuer


async def put_sso_connection(
    session: AsyncSession, data: schemas.SsoConnectionIn
) -> tuple[schemas.SsoConnectionOut, bool]:
    """Creates or replaces the acting tenant's connection; returns it and whether it was created."""
    tenant_id = require_tenant_id()
    issuer = await _checked_issuer(data.issuer.strip())
    connection = await _sso_connection(session)
    rebinds = connection is None or (connection.issuer, connection.client_id) != (issuer, data.client_id)
    if data.client_secret is None and rebinds:
        # A kept secret belongs to the old client registration; a new one needs its own.
        reason = "required for a new connection" if connection is None else "required when issuer or client_id changes"
        raise InvalidInputError.for_field("client_secret", reason)
    values = {
        "issuer": issuer,
        "client_id": data.client_id,
        "allowed_email_domains": sorted({d.lower() for d in data.allowed_email_domains}),
        "provision_role": data.provision_role,
        "enabled": data.enabled,
    }
    secret = crypto.encrypt(data.client_secret, purpose=_sso_secret_purpose(tenant_id)) if data.client_secret else None
    created = connection is None
    if connection is None:
        assert secret is not None
        connection = SsoConnection(issuer=issuer, client_id=data.client_id, client_secret_encrypted=secret)
        changed = sorted(values)
    else:
        changed = sorted(k for k, v in values.items() if getattr(connection, k) != v)
    for key, value in values.items():
        setattr(connection, key, value)
    if secret is not None:
        connection.client_secret_encrypted = secret
        changed.append("client_secret")
    session.add(connection)
    await session.flush()
    await audit(
        session,
        "sso.connection_created" if created else "sso.connection_updated",
        object_type="sso_connection",
        object_id=connection.id,
        detail={"issuer": issuer, "client_id": data.client_id, "fields": changed},
    )
    return await _sso_out(session, connection), created


async def delete_sso_connection(session: AsyncSession) -> None:
    connection = await _sso_connection(session)
    if connection is None:
        raise NotFoundError("this tenant has no SSO connection")
    await session.delete(connection)
    await session.flush()
    await audit(
        session,
        "sso.connection_deleted",
        object_type="sso_connection",
        object_id=connection.id,
        detail={"issuer": connection.issuer, "client_id": connection.client_id},
    )


async def tenant_for_sign_in(
    session: AsyncSession, *, slug: str | None = None, tenant_id: uuid.UUID | None = None
) -> Tenant | None:
    """An active tenant by slug or id (operator-level table: no tenant context needed)."""
    condition = Tenant.slug == slug if slug is not None else Tenant.id == tenant_id
    tenant = (await session.exec(select(Tenant).where(condition))).first()
    return tenant if tenant is not None and tenant.status == TenantStatus.ACTIVE else None


async def enabled_sso_connection(session: AsyncSession) -> SsoConnection | None:
    """The acting tenant's connection when it is enabled."""
    connection = await _sso_connection(session)
    return connection if connection is not None and connection.enabled else None


async def sso_account(
    session: AsyncSession, connection: SsoConnection, *, email: str, display_name: str
) -> tuple[User, str, bool]:
    """The acting tenant's member the provider vouched for: (user, role, provisioned just now).

    A login that exists without a membership here is never attached because this tenant's provider
    says so, and operator staff and agents (the operator's people) never sign in through a tenant's
    provider: either would let one tenant's identity provider speak for people it does not own.
    """
    user = await _user_by_email(session, email)
    if user is not None:
        if user.platform_role:
            raise oidc.SignInRefused(oidc.SignInError.NO_ACCOUNT, "the email belongs to operator staff or an agent")
        membership = (await session.exec(select(TenantMembership).where(TenantMembership.user_id == user.id))).first()
        if membership is None:
            raise oidc.SignInRefused(oidc.SignInError.NO_ACCOUNT, "a login exists but is not a member of this tenant")
        if not user.is_active:
            raise oidc.SignInRefused(oidc.SignInError.ACCOUNT_DISABLED, "the login is deactivated")
        return user, membership.role, False
    if not connection.provision_role:
        raise oidc.SignInRefused(oidc.SignInError.NO_ACCOUNT, "unknown person and provisioning is off")
    user = User(email=email, display_name=display_name[:200] or email)
    session.add(user)
    await session.flush()
    membership = TenantMembership(user_id=user.id, role=connection.provision_role)
    session.add(membership)
    await session.flush()
    await audit(
        session,
        "user.provisioned",
        object_type="user",
        object_id=user.id,
        detail={"role": membership.role, "email": email, "via": "sso", "issuer": connection.issuer},
    )
    return user, membership.role, True


# --- background maintenance (tenants/actors.py) --------------------------------------------------

# An erased tenant keeps its row, so the audit log and the reserved slug still point somewhere.
ERASED_TENANT_NAME = "(erased)"


async def live_tenant_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Tenants periodic per-tenant jobs run for: active and suspended ones."""
    statement = select(Tenant.id).where(col(Tenant.status).in_([TenantStatus.ACTIVE, TenantStatus.SUSPENDED]))
    return list((await session.exec(statement)).all())


async def clear_expired_previous_secrets(session: AsyncSession) -> int:
    """Forget the acting tenant's previous API-client secrets whose rotation overlap has ended."""
    table = ApiClient.__table__  # type: ignore[attr-defined]
    result = await session.exec(
        sa.update(table)
        .where(table.c.tenant_id == require_tenant_id(), table.c.previous_secret_expires_at <= utcnow())
        .values(previous_secret_hash=None, previous_secret_expires_at=None)
    )
    return result.rowcount


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    direct_subclasses: list[type] = cls.__subclasses__()
    for direct in direct_subclasses:
        found += [direct, *_subclasses(direct)]
    return found


def tenant_tables_children_first() -> list[sa.Table]:
    """Every table of a loaded ``TenantScoped`` model, each after the tables whose rows point at it."""
    tenant_tables = {getattr(sub, "__table__", None) for sub in _subclasses(TenantScoped)} - {None}
    return [table for table in reversed(SQLModel.metadata.sorted_tables) if table in tenant_tables]


ErasureStep = Callable[[AsyncSession, Tenant], Awaitable[None]]
# Work of other domains in the erasure's transaction, before the tenant's rows go: billing archives the issued
# invoices the operator must keep. Each registers at import (``before_erasure``); tenancy imports none of them.
_BEFORE_ERASURE: list[ErasureStep] = []


def before_erasure(step: ErasureStep) -> ErasureStep:
    _BEFORE_ERASURE.append(step)
    return step


async def erase_tenant_data(
    session: AsyncSession, tenant_id: uuid.UUID, *, event_id: uuid.UUID
) -> dict[str, int] | None:
    """Delete every row the acting tenant owns, mark it deleted, and audit it; None when already erased.

    One transaction, so a crash erases nothing and the redelivered event starts over; the tenant row is
    locked first, so a duplicate delivery waits, then finds the tenant deleted and does nothing. The
    tenant's outbox rows go too (their payloads are its data), and the audit log stays: it is append-only
    and keeps the record that the erasure happened. Steps registered with ``before_erasure`` run first. The tenant row stays with its slug reserved and its
    name scrubbed. People (users, agents) belong to the operator and are not erased here; only their
    memberships and assignments in this tenant are.
    """
    if require_tenant_id() != tenant_id:
        raise NotFoundError("no such tenant")
    tenant = (await session.exec(select(Tenant).where(Tenant.id == tenant_id).with_for_update())).first()
    if tenant is None:
        raise NotFoundError("no such tenant")
    if tenant.status == TenantStatus.DELETED:
        return None
    if tenant.status != TenantStatus.DELETING:
        raise ConflictError(f"tenant {tenant.slug} is {tenant.status}, not being deleted")
    for step in _BEFORE_ERASURE:
        await step(session, tenant)
    counts: dict[str, int] = {}
    for table in tenant_tables_children_first():
        result = await session.exec(sa.delete(table).where(table.c.tenant_id == tenant_id))
        counts[table.name] = result.rowcount
    tenant.status = TenantStatus.DELETED
    tenant.status_changed_at = utcnow()
    tenant.name = ERASED_TENANT_NAME
    tenant.version += 1
    await audit(
        session,
        "tenant.erased",
        object_type="tenant",
        object_id=tenant.id,
        detail={"rows": counts, "event_id": str(event_id)},
        tenant_id=tenant.id,
    )
    return counts
