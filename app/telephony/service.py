"""Entry points (a tenant's inbound programs), the operator's number registry, and where a dialled number goes.

Entry points are tenant data: everything runs in the acting tenant's context, and a queue of another
tenant is refused like a missing one. The registry is operator data: operators provision and release
numbers; anyone else reads only the numbers provisioned to their own tenant. ``resolve_line`` is the
telephony adapters' way in: it finds the tenant through the registry (no tenant context needed) and
reads the rest in that tenant's context.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from app.core.pagination import Page, page_of, paginate
from app.core.rows import to_struct
from app.core.tenancy import Principal, acting_as, require_tenant_id, system_principal
from app.core.versioning import apply_changes, check_version, given_fields
from app.routing import service as routing
from app.routing.models import PhoneNumber, Queue, QueueChannel
from app.telephony import schemas
from app.telephony.models import EntryPoint, ProvisionedNumber
from tenants.models import Tenant, TenantStatus
from tenants.service import audit, cross_tenant_read

# --- entry points --------------------------------------------------------------------------------


def entry_point_out(entry_point: EntryPoint) -> schemas.EntryPointOut:
    return to_struct(schemas.EntryPointOut, entry_point)


def _stored(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Request values in the form the columns hold: options as plain JSON, language tags in lower case."""
    stored = dict(changes)
    if "language_options" in stored:
        stored["language_options"] = [
            {"digit": o.digit, "language": o.language.lower(), "prompt": o.prompt} for o in stored["language_options"]
        ]
    if "menu_options" in stored:
        stored["menu_options"] = [
            {"digit": o.digit, "queue_id": str(o.queue_id), "prompt": o.prompt} for o in stored["menu_options"]
        ]
    return stored


def _check_digits(entry_point: EntryPoint) -> None:
    for field in ("language_options", "menu_options"):
        seen: set[str] = set()
        for index, option in enumerate(getattr(entry_point, field)):
            if option["digit"] in seen:
                raise InvalidInputError.for_field(f"{field}[{index}].digit", f"{option['digit']} is already taken")
            seen.add(option["digit"])


async def _check_queues(session: AsyncSession, entry_point: EntryPoint) -> None:
    """The default queue and every menu choice are voice queues of this tenant."""
    wanted = [("default_queue_id", entry_point.default_queue_id)] + [
        (f"menu_options[{index}].queue_id", uuid.UUID(option["queue_id"]))
        for index, option in enumerate(entry_point.menu_options)
    ]
    statement = select(Queue.id, Queue.channel).where(col(Queue.id).in_({queue_id for _, queue_id in wanted}))
    channel_of = dict((await session.exec(statement)).all())
    for field, queue_id in wanted:
        if queue_id not in channel_of:
            raise InvalidInputError.for_field(field, "no such queue")
        if channel_of[queue_id] != QueueChannel.VOICE:
            raise InvalidInputError.for_field(field, "an entry point takes calls: it needs a voice queue")


async def _checked(session: AsyncSession, entry_point: EntryPoint) -> None:
    _check_digits(entry_point)
    # The checks read the table: a pending change must not be flushed (and hit a constraint) first.
    with session.no_autoflush:
        await _check_queues(session, entry_point)
        statement = select(EntryPoint.id).where(EntryPoint.name == entry_point.name, EntryPoint.id != entry_point.id)
        if (await session.exec(statement)).first() is not None:
            message = f"an entry point named {entry_point.name!r} exists"
            raise ConflictError(f"name: {message}", errors=[FieldError(field="name", message=message, source="body")])


async def create_entry_point(session: AsyncSession, data: schemas.EntryPointCreate) -> EntryPoint:
    entry_point = EntryPoint(**_stored(msgspec.structs.asdict(data)))
    await _checked(session, entry_point)
    session.add(entry_point)
    await session.flush()
    await audit(
        session,
        "entry_point.created",
        object_type="entry_point",
        object_id=entry_point.id,
        detail={"name": entry_point.name},
    )
    return entry_point


async def list_entry_points(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.EntryPointOut]:
    rows = (await session.exec(paginate(select(EntryPoint), col(EntryPoint.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[entry_point_out(row) for row in items], next_cursor=next_cursor)


async def get_entry_point(session: AsyncSession, entry_point_id: uuid.UUID) -> EntryPoint:
    entry_point = (await session.exec(select(EntryPoint).where(EntryPoint.id == entry_point_id))).first()
    if entry_point is None:
        raise NotFoundError("no such entry point")
    return entry_point


async def update_entry_point(
    session: AsyncSession, entry_point_id: uuid.UUID, data: schemas.EntryPointUpdate, *, if_match: int | None = None
) -> EntryPoint:
    entry_point = await get_entry_point(session, entry_point_id)
    check_version("entry point", entry_point, if_match)
    changes = _stored(given_fields(data))
    apply_changes(entry_point, changes)
    await _checked(session, entry_point)
    await session.flush()
    await audit(
        session,
        "entry_point.updated",
        object_type="entry_point",
        object_id=entry_point.id,
        detail={"fields": sorted(changes)},
    )
    return entry_point


async def delete_entry_point(session: AsyncSession, entry_point_id: uuid.UUID, *, if_match: int | None = None) -> None:
    """Refused while a phone number sends its calls here."""
    entry_point = await get_entry_point(session, entry_point_id)
    check_version("entry point", entry_point, if_match)
    numbers = (await session.exec(select(PhoneNumber.number).where(PhoneNumber.entry_point_id == entry_point.id))).all()
    if numbers:
        raise ConflictError(f"phone numbers {', '.join(sorted(numbers))} send calls here; point them elsewhere first")
    await session.delete(entry_point)
    await session.flush()
    await audit(
        session,
        "entry_point.deleted",
        object_type="entry_point",
        object_id=entry_point.id,
        detail={"name": entry_point.name},
    )


# --- the operator's number registry --------------------------------------------------------------


def _registry_visible_to(statement: Any, principal: Principal) -> Any:
    """Operators see every provisioned number; anyone else only their own tenant's."""
    if principal.is_operator:
        return statement
    return statement.where(ProvisionedNumber.tenant_id == require_tenant_id())


async def provision_number(
    session: AsyncSession, data: schemas.ProvisionedNumberCreate
) -> schemas.ProvisionedNumberOut:
    number = routing.normalise_e164(data.number)
    tenant = await session.get(Tenant, data.tenant_id)
    if tenant is None or tenant.status in (TenantStatus.DELETING, TenantStatus.DELETED):
        raise InvalidInputError.for_field("tenant_id", "no such tenant")
    if (await session.exec(select(ProvisionedNumber.id).where(ProvisionedNumber.number == number))).first():
        message = f"{number} is already provisioned"
        raise ConflictError(f"number: {message}", errors=[FieldError(field="number", message=message, source="body")])
    provisioned = ProvisionedNumber(number=number, tenant_id=tenant.id, provider=data.provider)
    session.add(provisioned)
    await session.flush()
    await audit(
        session,
        "provisioned_number.created",
        object_type="provisioned_number",
        object_id=provisioned.id,
        detail={"number": number, "provider": data.provider},
        tenant_id=tenant.id,
    )
    return to_struct(schemas.ProvisionedNumberOut, provisioned)


async def list_provisioned_numbers(
    session: AsyncSession, principal: Principal, *, cursor: str | None, limit: int, tenant_id: uuid.UUID | None = None
) -> Page[schemas.ProvisionedNumberOut]:
    statement = _registry_visible_to(select(ProvisionedNumber), principal)
    if tenant_id is not None:
        statement = statement.where(ProvisionedNumber.tenant_id == tenant_id)
    rows = (await session.exec(paginate(statement, col(ProvisionedNumber.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[to_struct(schemas.ProvisionedNumberOut, row) for row in items], next_cursor=next_cursor)


async def mapped_numbers(numbers: Sequence[schemas.ProvisionedNumberOut]) -> set[uuid.UUID]:
    """Which of these provisioned numbers their tenants have mapped: the operator's registry page (an audited
    read across tenants, since the mappings are the tenants' data)."""
    if not numbers:
        return set()
    async with cross_tenant_read("number registry: which provisioned numbers are mapped") as session:
        statement = select(PhoneNumber.tenant_id, PhoneNumber.number).where(
            col(PhoneNumber.number).in_({provisioned.number for provisioned in numbers})
        )
        mapped = set((await session.exec(statement)).all())
    return {provisioned.id for provisioned in numbers if (provisioned.tenant_id, provisioned.number) in mapped}


async def _provisioned(session: AsyncSession, principal: Principal, number_id: uuid.UUID) -> ProvisionedNumber:
    statement = _registry_visible_to(select(ProvisionedNumber).where(ProvisionedNumber.id == number_id), principal)
    row: ProvisionedNumber | None = (await session.exec(statement)).first()
    if row is None:
        raise NotFoundError("no such provisioned number")
    return row


async def get_provisioned_number(
    session: AsyncSession, principal: Principal, number_id: uuid.UUID
) -> schemas.ProvisionedNumberOut:
    return to_struct(schemas.ProvisionedNumberOut, await _provisioned(session, principal, number_id))


async def release_number(session: AsyncSession, principal: Principal, number_id: uuid.UUID) -> None:
    """Takes the number back from its tenant; the tenant's mapping of it goes too (audited in the tenant)."""
    provisioned = await _provisioned(session, principal, number_id)
    with acting_as(principal.acting_for(provisioned.tenant_id)):
        statement = select(PhoneNumber.id).where(PhoneNumber.number == provisioned.number)
        for phone_number_id in (await session.exec(statement)).all():
            await routing.delete_phone_number(session, phone_number_id)
    await session.delete(provisioned)
    await session.flush()
    await audit(
        session,
        "provisioned_number.released",
        object_type="provisioned_number",
        object_id=provisioned.id,
        detail={"number": provisioned.number, "provider": provisioned.provider},
        tenant_id=provisioned.tenant_id,
    )


# --- where an inbound call goes ------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A dialled number's tenant, what its calls go to (an entry point or a queue), and the tenant's hours."""

    tenant_id: uuid.UUID
    locale: str
    timezone: str
    business_hours: dict[str, Any]
    holidays: list[str]
    entry_point: EntryPoint | None
    queue_id: uuid.UUID | None


async def resolve_line(session: AsyncSession, number: str, *, provider: str) -> Line | None:
    """The line behind a number of the provider's, or None: not provisioned, tenant not active, not mapped."""
    statement = select(ProvisionedNumber.tenant_id).where(
        ProvisionedNumber.number == number, ProvisionedNumber.provider == provider
    )
    tenant_id = (await session.exec(statement)).first()
    tenant = await session.get(Tenant, tenant_id) if tenant_id is not None else None
    if tenant is None or tenant.status != TenantStatus.ACTIVE:
        return None
    with acting_as(system_principal(tenant.id)):
        phone_number = (await session.exec(select(PhoneNumber).where(PhoneNumber.number == number))).first()
        if phone_number is None:
            return None
        entry_point = (
            await get_entry_point(session, phone_number.entry_point_id) if phone_number.entry_point_id else None
        )
    return Line(
        tenant_id=tenant.id,
        locale=tenant.locale,
        timezone=tenant.timezone,
        business_hours=tenant.business_hours,
        holidays=tenant.holidays,
        entry_point=entry_point,
        queue_id=phone_number.queue_id,
    )
