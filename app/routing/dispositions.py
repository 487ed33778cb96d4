"""Disposition codes: how the tenant's contacts ended, in the tenant's own words. Agents choose one of the
active codes at wrap-up; interactions and reports keep the code, so a code never changes once created.

Defaults. A tenant starts with ``DEFAULT_CODES``, written on its first use of the codes (any call below but
``disposition_labels``, which only reads) rather than when the tenant is created: the tenants domain
creates tenants and sits below this one (it cannot call it), and the tenants that existed before codes
were tenant data get theirs the same way, with no copy of the defaults in a migration. An empty table
must then mean "never used", never "all deleted": so a tenant keeps at least one active code (agents
need one to wrap up), and the last one can be neither deactivated nor deleted.

Order. Agents' lists and the API list codes by ``sort_order``, equal ones in the order they were created.
"""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import ConflictError, FieldError, NotFoundError
from app.core.models import new_id
from app.core.pagination import Page, paginate_sorted, sort_orders, sorted_page_of
from app.core.rows import to_struct
from app.core.tenancy import require_tenant_id
from app.core.versioning import apply_changes, check_version, given_fields
from app.routing import schemas
from app.routing.models import DispositionCode, Interaction
from tenants.service import audit

# What the agent desktop offered before codes were tenant data; every tenant starts with them.
DEFAULT_CODES: tuple[tuple[str, str], ...] = (
    ("resolved", "Resolved"),
    ("follow-up", "Follow-up needed"),
    ("escalated", "Escalated"),
    ("no-answer", "No answer"),
    ("wrong-number", "Wrong number"),
)
AGENTS_ORDER = sort_orders(sort_order=col(DispositionCode.sort_order))["sort_order"]
LAST_ACTIVE = "agents need an active disposition code to wrap up: activate another one first"


def code_out(row: DispositionCode) -> schemas.DispositionCodeOut:
    return to_struct(schemas.DispositionCodeOut, row)


async def ensure_defaults(session: AsyncSession) -> None:
    """Writes the defaults for a tenant that has never had a code (two first uses at once write them once)."""
    if (await session.exec(select(DispositionCode.id).limit(1))).first() is not None:
        return
    tenant_id, now = require_tenant_id(), utcnow()
    rows = [
        {
            "tenant_id": tenant_id,
            "id": new_id(),  # time-ordered: the defaults list in this order
            "code": code,
            "label": label,
            "description": "",
            "is_active": True,
            "sort_order": 0,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for code, label in DEFAULT_CODES
    ]
    table = DispositionCode.__table__  # type: ignore[attr-defined]
    await session.execute(pg_insert(table).values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "code"]))


async def list_codes(
    session: AsyncSession, *, cursor: str | None, limit: int, is_active: bool | None = None
) -> Page[schemas.DispositionCodeOut]:
    await ensure_defaults(session)
    statement = select(DispositionCode)
    if is_active is not None:
        statement = statement.where(DispositionCode.is_active == is_active)
    rows = (await session.exec(paginate_sorted(statement, AGENTS_ORDER, col(DispositionCode.id), cursor, limit))).all()
    items, next_cursor = sorted_page_of(rows, limit, AGENTS_ORDER, lambda row: (row.sort_order, row.id))
    return Page(items=[code_out(row) for row in items], next_cursor=next_cursor)


async def get_code(session: AsyncSession, code_id: uuid.UUID) -> DispositionCode:
    row = (await session.exec(select(DispositionCode).where(DispositionCode.id == code_id))).first()
    if row is None:
        raise NotFoundError("no such disposition code")
    return row


async def create_code(session: AsyncSession, data: schemas.DispositionCodeCreate) -> DispositionCode:
    await ensure_defaults(session)
    if (await session.exec(select(DispositionCode.id).where(DispositionCode.code == data.code))).first():
        message = f"{data.code} exists: change or reactivate it instead"
        raise ConflictError(f"code: {message}", errors=[FieldError(field="code", message=message, source="body")])
    row = DispositionCode(
        code=data.code,
        label=data.label,
        description=data.description,
        is_active=data.is_active,
        sort_order=data.sort_order,
    )
    session.add(row)
    await session.flush()
    await audit(
        session, "disposition_code.created", object_type="disposition_code", object_id=row.id, detail={"code": row.code}
    )
    return row


async def _other_active(session: AsyncSession, row: DispositionCode) -> bool:
    statement = select(DispositionCode.id).where(col(DispositionCode.is_active), DispositionCode.id != row.id)
    return (await session.exec(statement.limit(1))).first() is not None


async def update_code(
    session: AsyncSession, code_id: uuid.UUID, data: schemas.DispositionCodeUpdate, *, if_match: int | None = None
) -> DispositionCode:
    row = await get_code(session, code_id)
    check_version("disposition code", row, if_match)
    changes = given_fields(data)
    if changes.get("is_active") is False and row.is_active and not await _other_active(session, row):
        raise ConflictError(
            f"is_active: {LAST_ACTIVE}", errors=[FieldError(field="is_active", message=LAST_ACTIVE, source="body")]
        )
    apply_changes(row, changes)
    await session.flush()
    await audit(
        session,
        "disposition_code.updated",
        object_type="disposition_code",
        object_id=row.id,
        detail={"code": row.code, "fields": sorted(changes)},
    )
    return row


async def delete_code(session: AsyncSession, code_id: uuid.UUID, *, if_match: int | None = None) -> None:
    """Only a code no contact has: one that was used stays for the history (deactivate it instead)."""
    row = await get_code(session, code_id)
    check_version("disposition code", row, if_match)
    used = select(Interaction.id).where(Interaction.disposition == row.code).limit(1)
    if (await session.exec(used)).first() is not None:
        raise ConflictError(f"contacts ended with {row.code}: deactivate it instead, so their history keeps it")
    if row.is_active and not await _other_active(session, row):
        raise ConflictError(LAST_ACTIVE)
    await session.delete(row)
    await session.flush()
    await audit(
        session, "disposition_code.deleted", object_type="disposition_code", object_id=row.id, detail={"code": row.code}
    )


async def active_choices(session: AsyncSession) -> tuple[tuple[str, str], ...]:
    """The codes agents may choose now, as (code, label), in the agents' order."""
    statement = select(DispositionCode.code, DispositionCode.label).where(col(DispositionCode.is_active))
    statement = statement.order_by(*AGENTS_ORDER.order_by(col(DispositionCode.id)))
    rows = (await session.exec(statement)).all()
    if not rows:  # a tenant always keeps an active code once it has codes: none means none yet
        await ensure_defaults(session)
        rows = (await session.exec(statement)).all()
    return tuple((code, label) for code, label in rows)


async def disposition_labels(session: AsyncSession) -> dict[str, str]:
    """Every code's label, active or not (the defaults' for a tenant that never used codes). Only reads, so
    a read-only session (a report in an audited cross-tenant read) may call it."""
    rows = (await session.exec(select(DispositionCode.code, DispositionCode.label))).all()
    return dict(rows) if rows else dict(DEFAULT_CODES)
