"""Routing configuration services: the only code that reads and writes the routing tables.

Everything runs in the acting tenant's context (the session filters and stamps the tenant). Whether an
agent works for the tenant is asked of the tenants domain (``tenants.service.is_agent_assigned``).
A reference to an object the tenant cannot see (missing, or another tenant's) is refused with the same
answer either way, so ids leak nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import phonenumbers
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import ConflictError, FieldError, InvalidInputError, NotFoundError, PreconditionFailedError
from app.core.pagination import Page, page_of, paginate
from app.core.rows import to_struct
from app.routing import schemas
from app.routing.models import AgentAttribute, AgentSkill, PhoneNumber, Queue, QueueChannel
from tenants.service import audit, is_agent_assigned

_OutT = TypeVar("_OutT", bound=msgspec.Struct)
_RowT = TypeVar("_RowT", bound=SQLModel)


async def _page(
    session: AsyncSession, statement: Any, model: type[Any], struct_type: type[_OutT], cursor: str | None, limit: int
) -> Page[_OutT]:
    rows = (await session.exec(paginate(statement, col(model.id), cursor, limit))).all()
    items, next_cursor = page_of(rows, limit, lambda row: row.id)
    return Page(items=[to_struct(struct_type, row) for row in items], next_cursor=next_cursor)


async def _one(session: AsyncSession, model: type[_RowT], object_id: uuid.UUID, what: str) -> _RowT:
    row = (await session.exec(select(model).where(model.id == object_id))).first()  # type: ignore[attr-defined]
    if row is None:
        raise NotFoundError(f"no such {what}")
    return row


def _conflict(field: str, message: str) -> ConflictError:
    return ConflictError(f"{field}: {message}", errors=[FieldError(field=field, message=message, source="body")])


# --- queues --------------------------------------------------------------------------------------


def queue_out(queue: Queue) -> schemas.QueueOut:
    return to_struct(schemas.QueueOut, queue)


def _attributes(attributes: Sequence[schemas.Attribute]) -> list[dict[str, str]]:
    """Unique and sorted, values in lower case: the same attribute always reads the same."""
    return [{"kind": k, "value": v} for k, v in sorted({(a.kind, a.value.lower()) for a in attributes})]


def _relaxation(steps: Sequence[schemas.RelaxationStepIn]) -> list[dict[str, Any]]:
    return [{"after_seconds": s.after_seconds, "skills": dict(sorted(s.skills.items()))} for s in steps]


def _stored(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Request values in the form the columns hold."""
    stored = dict(changes)
    if "skills" in stored:
        stored["skills"] = dict(sorted(stored["skills"].items()))
    if "relaxation" in stored:
        stored["relaxation"] = _relaxation(stored["relaxation"])
    if "required_attributes" in stored:
        stored["required_attributes"] = _attributes(stored["required_attributes"])
    return stored


def _check_rings(queue: Queue) -> None:
    """Each relaxation step comes later and asks no more than the ring before it (bullseye rings widen)."""
    previous_after, previous = 0, queue.skills
    for index, step in enumerate(queue.relaxation):
        field = f"relaxation[{index}]"
        if step["after_seconds"] <= previous_after:
            raise InvalidInputError.for_field(f"{field}.after_seconds", "steps must come later one after another")
        tighter = sorted(s for s, level in step["skills"].items() if level > previous.get(s, 0))
        if tighter:
            raise InvalidInputError.for_field(
                f"{field}.skills",
                f"a step may only drop skills or lower proficiencies; {', '.join(tighter)} asks more than before",
            )
        previous_after, previous = step["after_seconds"], step["skills"]


def _check_timers(queue: Queue) -> None:
    if (queue.overflow_queue_id is None) != (queue.overflow_after_seconds is None):
        missing = "overflow_after_seconds" if queue.overflow_after_seconds is None else "overflow_queue_id"
        raise InvalidInputError.for_field(missing, "overflow needs both a target queue and a time")
    if queue.max_wait_seconds is None:
        return
    for name in ("overflow_after_seconds", "callback_offer_after_seconds"):
        value = getattr(queue, name)
        if value is not None and value >= queue.max_wait_seconds:
            raise InvalidInputError.for_field(name, "must be shorter than max_wait_seconds, or it never happens")


async def _check_overflow(session: AsyncSession, queue: Queue) -> None:
    """The target is another queue of this tenant on the same channel, and following overflows never loops."""
    rows = (await session.exec(select(Queue.id, Queue.channel, Queue.overflow_queue_id))).all()
    channel_of = {queue_id: channel for queue_id, channel, _ in rows}
    next_of = {queue_id: target for queue_id, _, target in rows}
    next_of[queue.id] = queue.overflow_queue_id
    channel_of[queue.id] = queue.channel
    feeders = sorted(str(q) for q, target in next_of.items() if target == queue.id and channel_of[q] != queue.channel)
    if feeders:
        raise InvalidInputError.for_field("channel", f"queues {', '.join(feeders)} overflow here on another channel")
    target = queue.overflow_queue_id
    if target is None:
        return
    if target not in channel_of or target == queue.id:
        raise InvalidInputError.for_field("overflow_queue_id", "no such queue (or the queue itself)")
    if channel_of[target] != queue.channel:
        raise InvalidInputError.for_field("overflow_queue_id", "the target queue serves another channel")
    seen = {queue.id}
    while target is not None:
        if target in seen:
            raise InvalidInputError.for_field("overflow_queue_id", "overflowing there would come back to this queue")
        seen.add(target)
        target = next_of.get(target)


async def _check_name(session: AsyncSession, queue: Queue) -> None:
    statement = select(Queue.id).where(Queue.name == queue.name, Queue.id != queue.id)
    if (await session.exec(statement)).first() is not None:
        raise _conflict("name", f"a queue named {queue.name!r} exists")


async def _check_numbers(session: AsyncSession, queue: Queue) -> None:
    if queue.channel == QueueChannel.VOICE:
        return
    if (await session.exec(select(PhoneNumber.id).where(PhoneNumber.queue_id == queue.id))).first() is not None:
        raise InvalidInputError.for_field("channel", "phone numbers route calls here: it must stay a voice queue")


async def _checked(session: AsyncSession, queue: Queue) -> Queue:
    _check_rings(queue)
    _check_timers(queue)
    # The checks read the table: a pending change must not be flushed (and hit a constraint) first.
    with session.no_autoflush:
        await _check_name(session, queue)
        await _check_overflow(session, queue)
        await _check_numbers(session, queue)
    return queue


async def create_queue(session: AsyncSession, data: schemas.QueueCreate) -> Queue:
    queue = Queue(**_stored(msgspec.structs.asdict(data)))
    await _checked(session, queue)
    session.add(queue)
    await session.flush()
    await audit(session, "queue.created", object_type="queue", object_id=queue.id, detail={"name": queue.name})
    return queue


async def list_queues(
    session: AsyncSession, *, cursor: str | None, limit: int, channel: str | None = None, is_active: bool | None = None
) -> Page[schemas.QueueOut]:
    statement = select(Queue)
    if channel is not None:
        statement = statement.where(Queue.channel == channel)
    if is_active is not None:
        statement = statement.where(Queue.is_active == is_active)
    return await _page(session, statement, Queue, schemas.QueueOut, cursor, limit)


async def get_queue(session: AsyncSession, queue_id: uuid.UUID) -> Queue:
    return await _one(session, Queue, queue_id, "queue")


def _check_version(queue: Queue, if_match: int | None) -> None:
    if if_match is not None and if_match != queue.version:
        raise PreconditionFailedError(f"queue changed since version {if_match}; it is now version {queue.version}")


async def update_queue(
    session: AsyncSession, queue_id: uuid.UUID, data: schemas.QueueUpdate, *, if_match: int | None = None
) -> Queue:
    queue = await get_queue(session, queue_id)
    _check_version(queue, if_match)
    changes = _stored({k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET})
    for key, value in changes.items():
        setattr(queue, key, value)
    await _checked(session, queue)
    queue.version += 1
    queue.updated_at = utcnow()
    await session.flush()
    await audit(session, "queue.updated", object_type="queue", object_id=queue.id, detail={"fields": sorted(changes)})
    return queue


async def delete_queue(session: AsyncSession, queue_id: uuid.UUID, *, if_match: int | None = None) -> None:
    """Refused while a phone number or another queue's overflow points at the queue."""
    queue = await get_queue(session, queue_id)
    _check_version(queue, if_match)
    numbers = (await session.exec(select(PhoneNumber.number).where(PhoneNumber.queue_id == queue.id))).all()
    if numbers:
        raise ConflictError(f"phone numbers {', '.join(sorted(numbers))} route to this queue; move them first")
    feeders = (await session.exec(select(Queue.name).where(Queue.overflow_queue_id == queue.id))).all()
    if feeders:
        raise ConflictError(f"queues {', '.join(sorted(feeders))} overflow to this queue; change them first")
    await session.delete(queue)
    await session.flush()
    await audit(session, "queue.deleted", object_type="queue", object_id=queue.id, detail={"name": queue.name})


# --- phone numbers -------------------------------------------------------------------------------


def normalise_e164(raw: str) -> str:
    """The number in E.164 form; raises InvalidInputError naming ``number`` when it is not a valid one."""
    message = "not a valid phone number in international form (E.164), e.g. +442071838750"
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise InvalidInputError.for_field("number", message) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInputError.for_field("number", message)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


async def create_phone_number(session: AsyncSession, data: schemas.PhoneNumberCreate) -> schemas.PhoneNumberOut:
    number = normalise_e164(data.number)
    queue = (await session.exec(select(Queue).where(Queue.id == data.queue_id))).first()
    if queue is None:
        raise InvalidInputError.for_field("queue_id", "no such queue")
    if queue.channel != QueueChannel.VOICE:
        raise InvalidInputError.for_field("queue_id", "a phone number routes calls: it needs a voice queue")
    if (await session.exec(select(PhoneNumber.id).where(PhoneNumber.number == number))).first() is not None:
        raise _conflict("number", f"{number} is already mapped")
    phone_number = PhoneNumber(number=number, queue_id=queue.id, label=data.label)
    session.add(phone_number)
    await session.flush()
    await audit(
        session,
        "phone_number.created",
        object_type="phone_number",
        object_id=phone_number.id,
        detail={"number": number, "queue_id": str(queue.id)},
    )
    return to_struct(schemas.PhoneNumberOut, phone_number)


async def list_phone_numbers(
    session: AsyncSession, *, cursor: str | None, limit: int, queue_id: uuid.UUID | None = None
) -> Page[schemas.PhoneNumberOut]:
    statement = select(PhoneNumber)
    if queue_id is not None:
        statement = statement.where(PhoneNumber.queue_id == queue_id)
    return await _page(session, statement, PhoneNumber, schemas.PhoneNumberOut, cursor, limit)


async def get_phone_number(session: AsyncSession, phone_number_id: uuid.UUID) -> schemas.PhoneNumberOut:
    return to_struct(schemas.PhoneNumberOut, await _one(session, PhoneNumber, phone_number_id, "phone number"))


async def delete_phone_number(session: AsyncSession, phone_number_id: uuid.UUID) -> None:
    phone_number = await _one(session, PhoneNumber, phone_number_id, "phone number")
    await session.delete(phone_number)
    await session.flush()
    await audit(
        session,
        "phone_number.deleted",
        object_type="phone_number",
        object_id=phone_number.id,
        detail={"number": phone_number.number},
    )


# --- agents' skills and hard attributes ----------------------------------------------------------


async def _require_assigned(session: AsyncSession, agent_id: uuid.UUID) -> None:
    if not await is_agent_assigned(session, agent_id):
        raise InvalidInputError.for_field("agent_id", "no agent working for this tenant has this id")


async def _upsert(
    session: AsyncSession, model: type[_RowT], key: Mapping[str, Any], values: Mapping[str, Any], action: str
) -> tuple[_RowT, bool]:
    """Creates the row with ``key`` or replaces its ``values``; audits it; returns it and whether it is new."""
    statement = select(model).where(*(getattr(model, name) == value for name, value in key.items()))
    row = (await session.exec(statement)).first()
    created = row is None
    if row is None:
        row = model(**key, **values)
        session.add(row)
    else:
        previous = {name: getattr(row, name) for name in values}
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
    await session.flush()
    detail = {**key, **values} | ({} if created else {"previous": previous})
    await audit(
        session,
        action,
        object_type=model.__tablename__,  # type: ignore[arg-type]
        object_id=row.id,  # type: ignore[attr-defined]
        detail=msgspec.to_builtins(detail),
    )
    return row, created


async def _delete(session: AsyncSession, model: type[_RowT], object_id: uuid.UUID, what: str, action: str) -> None:
    row = await _one(session, model, object_id, what)
    detail = row.model_dump(mode="json", exclude={"tenant_id", "id"})
    await session.delete(row)
    await session.flush()
    await audit(
        session,
        action,
        object_type=model.__tablename__,  # type: ignore[arg-type]
        object_id=object_id,
        detail=detail,
    )


async def set_agent_skill(session: AsyncSession, data: schemas.AgentSkillIn) -> tuple[schemas.AgentSkillOut, bool]:
    await _require_assigned(session, data.agent_id)
    row, created = await _upsert(
        session,
        AgentSkill,
        {"agent_id": data.agent_id, "skill": data.skill},
        {"proficiency": data.proficiency},
        "agent_skill.set",
    )
    return to_struct(schemas.AgentSkillOut, row), created


async def list_agent_skills(
    session: AsyncSession,
    *,
    cursor: str | None,
    limit: int,
    agent_id: uuid.UUID | None = None,
    skill: str | None = None,
) -> Page[schemas.AgentSkillOut]:
    statement = select(AgentSkill)
    if agent_id is not None:
        statement = statement.where(AgentSkill.agent_id == agent_id)
    if skill is not None:
        statement = statement.where(AgentSkill.skill == skill)
    return await _page(session, statement, AgentSkill, schemas.AgentSkillOut, cursor, limit)


async def delete_agent_skill(session: AsyncSession, agent_skill_id: uuid.UUID) -> None:
    await _delete(session, AgentSkill, agent_skill_id, "agent skill", "agent_skill.deleted")


async def set_agent_attribute(
    session: AsyncSession, data: schemas.AgentAttributeIn
) -> tuple[schemas.AgentAttributeOut, bool]:
    await _require_assigned(session, data.agent_id)
    row, created = await _upsert(
        session,
        AgentAttribute,
        {"agent_id": data.agent_id, "kind": data.kind, "value": data.value.lower()},
        {"valid_until": data.valid_until},
        "agent_attribute.set",
    )
    return to_struct(schemas.AgentAttributeOut, row), created


async def list_agent_attributes(
    session: AsyncSession,
    *,
    cursor: str | None,
    limit: int,
    agent_id: uuid.UUID | None = None,
    kind: str | None = None,
) -> Page[schemas.AgentAttributeOut]:
    statement = select(AgentAttribute)
    if agent_id is not None:
        statement = statement.where(AgentAttribute.agent_id == agent_id)
    if kind is not None:
        statement = statement.where(AgentAttribute.kind == kind)
    return await _page(session, statement, AgentAttribute, schemas.AgentAttributeOut, cursor, limit)


async def delete_agent_attribute(session: AsyncSession, agent_attribute_id: uuid.UUID) -> None:
    await _delete(session, AgentAttribute, agent_attribute_id, "agent attribute", "agent_attribute.deleted")
