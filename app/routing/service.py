"""Routing configuration services: the only code that reads and writes the routing tables.

Everything runs in the acting tenant's context (the session filters and stamps the tenant). Whether an
agent works for the tenant is asked of the tenants domain (``tenants.service.is_agent_assigned``).
A reference to an object the tenant cannot see (missing, or another tenant's) is refused with the same
answer either way, so ids leak nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import phonenumbers
from sqlmodel import SQLModel, col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from app.core.outbox import emit
from app.core.pagination import Page, page_of, paginate
from app.core.rows import select_fields, structs_from_rows, to_struct
from app.core.tenancy import acting_as, require_tenant_id, system_principal
from app.core.versioning import apply_changes, check_version, given_fields
from app.routing import schemas
from app.routing.dispositions import active_choices as active_disposition_codes
from app.routing.engine import AgentConfig, EngineConfig, QueueConfig, RelaxationStep, SkillRequirement, TenantConfig
from app.routing.models import (
    AgentAttribute,
    AgentSkill,
    Interaction,
    PhoneNumber,
    Queue,
    QueueChannel,
    attribute_token,
)
from app.sla.models import SlaContractVersion, SlaTarget
from app.telephony.models import EntryPoint, ProvisionedNumber
from tenants.models import Agent, AgentAssignment, Tenant, TenantStatus, User
from tenants.service import assignments_of, audit, is_agent_assigned, tenant_names

CONFIGURATION_CHANGED_TOPIC = "routing.configuration_changed"
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


async def configuration_changed(session: AsyncSession) -> None:
    """Tell the router, once this transaction commits, to reload the routing configuration."""
    await emit(session, CONFIGURATION_CHANGED_TOPIC, {})


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


async def _entry_points_using(session: AsyncSession, queue_id: uuid.UUID) -> list[str]:
    """Names of the entry points that send calls to the queue, as their default or a menu choice."""
    in_menu = col(EntryPoint.menu_options).contains([{"queue_id": str(queue_id)}])
    statement = select(EntryPoint.name).where(or_(EntryPoint.default_queue_id == queue_id, in_menu))
    return sorted((await session.exec(statement)).all())


async def _check_numbers(session: AsyncSession, queue: Queue) -> None:
    if queue.channel == QueueChannel.VOICE:
        return
    if (await session.exec(select(PhoneNumber.id).where(PhoneNumber.queue_id == queue.id))).first() is not None:
        raise InvalidInputError.for_field("channel", "phone numbers route calls here: it must stay a voice queue")
    if await _entry_points_using(session, queue.id):
        raise InvalidInputError.for_field("channel", "entry points send calls here: it must stay a voice queue")


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
    await configuration_changed(session)
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


async def queue_choices(session: AsyncSession) -> list[tuple[uuid.UUID, str, str]]:
    """Every queue of the tenant as (id, name, channel), by name: for pickers, and to name references."""
    rows = (await session.exec(select(Queue.id, Queue.name, Queue.channel).order_by(col(Queue.name)))).all()
    return [(queue_id, name, channel) for queue_id, name, channel in rows]


async def update_queue(
    session: AsyncSession, queue_id: uuid.UUID, data: schemas.QueueUpdate, *, if_match: int | None = None
) -> Queue:
    queue = await get_queue(session, queue_id)
    check_version("queue", queue, if_match)
    changes = _stored(given_fields(data))
    apply_changes(queue, changes)
    await _checked(session, queue)
    await session.flush()
    await audit(session, "queue.updated", object_type="queue", object_id=queue.id, detail={"fields": sorted(changes)})
    await configuration_changed(session)
    return queue


async def delete_queue(session: AsyncSession, queue_id: uuid.UUID, *, if_match: int | None = None) -> None:
    """Refused while a phone number or another queue's overflow points at the queue."""
    queue = await get_queue(session, queue_id)
    check_version("queue", queue, if_match)
    numbers = (await session.exec(select(PhoneNumber.number).where(PhoneNumber.queue_id == queue.id))).all()
    if numbers:
        raise ConflictError(f"phone numbers {', '.join(sorted(numbers))} route to this queue; move them first")
    feeders = (await session.exec(select(Queue.name).where(Queue.overflow_queue_id == queue.id))).all()
    if feeders:
        raise ConflictError(f"queues {', '.join(sorted(feeders))} overflow to this queue; change them first")
    entry_points = await _entry_points_using(session, queue.id)
    if entry_points:
        raise ConflictError(f"entry points {', '.join(entry_points)} send calls to this queue; change them first")
    await session.delete(queue)
    await session.flush()
    await audit(session, "queue.deleted", object_type="queue", object_id=queue.id, detail={"name": queue.name})
    await configuration_changed(session)


# --- phone numbers -------------------------------------------------------------------------------


def normalise_e164(raw: str, *, field: str = "number", region: str | None = None) -> str:
    """The number in E.164 form; raises InvalidInputError naming ``field`` when it is not a valid one.

    ``region`` (ISO 3166 code, e.g. "GB") reads national numbers ("020 7183 8750") as that country's;
    without one, only international numbers (+...) are taken.
    """
    message = "not a valid phone number in international form (E.164), e.g. +442071838750"
    if region is not None:
        message = f"not a valid phone number of {region}, nor in international form (E.164), e.g. +442071838750"
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidInputError.for_field(field, message) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInputError.for_field(field, message)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


async def _voice_queue(session: AsyncSession, queue_id: uuid.UUID) -> Queue:
    """The queue a phone number may route to: one of the tenant's voice queues."""
    queue = (await session.exec(select(Queue).where(Queue.id == queue_id))).first()
    if queue is None:
        raise InvalidInputError.for_field("queue_id", "no such queue")
    if queue.channel != QueueChannel.VOICE:
        raise InvalidInputError.for_field("queue_id", "a phone number routes calls: it needs a voice queue")
    return queue


async def _check_target(session: AsyncSession, queue_id: uuid.UUID | None, entry_point_id: uuid.UUID | None) -> None:
    """A number sends its calls to exactly one of: a voice queue, an entry point, of this tenant."""
    if (queue_id is None) == (entry_point_id is None):
        raise InvalidInputError.for_field("entry_point_id", "give either queue_id or entry_point_id, not both")
    if queue_id is not None:
        await _voice_queue(session, queue_id)
    elif (await session.exec(select(EntryPoint.id).where(EntryPoint.id == entry_point_id))).first() is None:
        raise InvalidInputError.for_field("entry_point_id", "no such entry point")


async def _check_provisioned(session: AsyncSession, number: str) -> None:
    """The operator's registry must give the number to this tenant; held by another tenant reads the same."""
    statement = select(ProvisionedNumber.id).where(
        ProvisionedNumber.number == number, ProvisionedNumber.tenant_id == require_tenant_id()
    )
    if (await session.exec(statement)).first() is None:
        raise InvalidInputError.for_field(
            "number", "not provisioned to this tenant: the operator provisions carrier numbers to tenants"
        )


async def create_phone_number(session: AsyncSession, data: schemas.PhoneNumberCreate) -> schemas.PhoneNumberOut:
    number = normalise_e164(data.number)
    await _check_target(session, data.queue_id, data.entry_point_id)
    await _check_provisioned(session, number)
    if (await session.exec(select(PhoneNumber.id).where(PhoneNumber.number == number))).first() is not None:
        raise _conflict("number", f"{number} is already mapped")
    phone_number = PhoneNumber(
        number=number, queue_id=data.queue_id, entry_point_id=data.entry_point_id, label=data.label
    )
    session.add(phone_number)
    await session.flush()
    await audit(
        session,
        "phone_number.created",
        object_type="phone_number",
        object_id=phone_number.id,
        detail=msgspec.to_builtins(
            {"number": number, "queue_id": data.queue_id, "entry_point_id": data.entry_point_id}
        ),
    )
    return to_struct(schemas.PhoneNumberOut, phone_number)


async def list_phone_numbers(
    session: AsyncSession,
    *,
    cursor: str | None,
    limit: int,
    queue_id: uuid.UUID | None = None,
    entry_point_id: uuid.UUID | None = None,
) -> Page[schemas.PhoneNumberOut]:
    statement = select(PhoneNumber)
    if queue_id is not None:
        statement = statement.where(PhoneNumber.queue_id == queue_id)
    if entry_point_id is not None:
        statement = statement.where(PhoneNumber.entry_point_id == entry_point_id)
    return await _page(session, statement, PhoneNumber, schemas.PhoneNumberOut, cursor, limit)


async def get_phone_number(session: AsyncSession, phone_number_id: uuid.UUID) -> schemas.PhoneNumberOut:
    return to_struct(schemas.PhoneNumberOut, await _one(session, PhoneNumber, phone_number_id, "phone number"))


async def update_phone_number(
    session: AsyncSession, phone_number_id: uuid.UUID, data: schemas.PhoneNumberUpdate
) -> schemas.PhoneNumberOut:
    """Points a number at another voice queue or entry point (the other is cleared), and/or relabels it."""
    phone_number = await _one(session, PhoneNumber, phone_number_id, "phone number")
    changes = given_fields(data)
    if "queue_id" in changes or "entry_point_id" in changes:
        target = {"queue_id": changes.get("queue_id"), "entry_point_id": changes.get("entry_point_id")}
        await _check_target(session, **target)
        changes |= target
    previous = {name: getattr(phone_number, name) for name in changes}
    for name, value in changes.items():
        setattr(phone_number, name, value)
    await session.flush()
    await audit(
        session,
        "phone_number.updated",
        object_type="phone_number",
        object_id=phone_number.id,
        detail=msgspec.to_builtins({"number": phone_number.number, **changes, "previous": previous}),
    )
    return to_struct(schemas.PhoneNumberOut, phone_number)


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
    await configuration_changed(session)
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
    await configuration_changed(session)


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


def _filtered(model: type[_RowT], **equal_to: Any) -> Any:
    """``SELECT model`` where each given (not None) column equals its value: a list endpoint's filters."""
    statement = select(model)
    for name, value in equal_to.items():
        if value is not None:
            statement = statement.where(getattr(model, name) == value)
    return statement


async def list_agent_skills(
    session: AsyncSession,
    *,
    cursor: str | None,
    limit: int,
    agent_id: uuid.UUID | None = None,
    skill: str | None = None,
) -> Page[schemas.AgentSkillOut]:
    statement = _filtered(AgentSkill, agent_id=agent_id, skill=skill)
    return await _page(session, statement, AgentSkill, schemas.AgentSkillOut, cursor, limit)


async def _by_agent(
    session: AsyncSession, model: type[SQLModel], struct_type: type[_OutT], agent_ids: Sequence[uuid.UUID], *order: str
) -> dict[uuid.UUID, list[_OutT]]:
    """The rows of ``model`` for each of ``agent_ids`` (an agent with none is absent), in ``order``."""
    if not agent_ids:
        return {}
    agent_id = col(model.agent_id)  # type: ignore[attr-defined]
    statement = select_fields(struct_type, model).where(agent_id.in_(agent_ids))
    rows = (await session.exec(statement.order_by(*(getattr(model, name) for name in order)))).all()
    found: dict[uuid.UUID, list[_OutT]] = {}
    for item in structs_from_rows(struct_type, rows):
        found.setdefault(item.agent_id, []).append(item)  # type: ignore[attr-defined]
    return found


async def skills_of_agents(
    session: AsyncSession, agent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.AgentSkillOut]]:
    """Each agent's skills for the tenant, by skill name: a whole page of agents in one query."""
    return await _by_agent(session, AgentSkill, schemas.AgentSkillOut, agent_ids, "skill")


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
    statement = _filtered(AgentAttribute, agent_id=agent_id, kind=kind)
    return await _page(session, statement, AgentAttribute, schemas.AgentAttributeOut, cursor, limit)


async def attributes_of_agents(
    session: AsyncSession, agent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.AgentAttributeOut]]:
    """Each agent's hard attributes for the tenant, by kind and value: a whole page of agents in one query."""
    return await _by_agent(session, AgentAttribute, schemas.AgentAttributeOut, agent_ids, "kind", "value")


async def delete_agent_attribute(session: AsyncSession, agent_attribute_id: uuid.UUID) -> None:
    await _delete(session, AgentAttribute, agent_attribute_id, "agent attribute", "agent_attribute.deleted")


# --- the engine's configuration ------------------------------------------------------------------


def _requirements(skills: Mapping[str, int]) -> tuple[SkillRequirement, ...]:
    return tuple(SkillRequirement(skill, level) for skill, level in sorted(skills.items()))


def _queue_config(queue: Queue) -> QueueConfig:
    return QueueConfig(
        queue_id=str(queue.id),
        tenant_id=str(queue.tenant_id),
        priority=queue.priority,
        skills=_requirements(queue.skills),
        relaxation=tuple(
            RelaxationStep(float(step["after_seconds"]), _requirements(step["skills"])) for step in queue.relaxation
        ),
        required_attributes=frozenset(attribute_token(a["kind"], a["value"]) for a in queue.required_attributes),
        max_wait_seconds=queue.max_wait_seconds,
        overflow_to=str(queue.overflow_queue_id) if queue.overflow_queue_id else None,
        overflow_after_seconds=queue.overflow_after_seconds,
        wrap_up_seconds=float(queue.wrap_up_seconds),
        callback_offer_after_seconds=queue.callback_offer_after_seconds,
    )


def _tenant_config(tenant_id: str, queues: Sequence[Queue], contract: tuple[float, float] | None) -> TenantConfig:
    """The tenant's service-level target (X, T): its SLA contract's in force, else the strictest of its queues'."""
    if contract is not None:
        service_level, answer_target = contract
    else:
        service_level = max((q.target_service_level for q in queues), default=0.8)
        answer_target = float(min((q.answer_target_seconds for q in queues), default=20))
    return TenantConfig(tenant_id=tenant_id, answer_target_seconds=answer_target, service_level_target=service_level)


async def _contract_targets(session: AsyncSession, tenants: Sequence[Tenant]) -> dict[str, tuple[float, float]]:
    """Per tenant, the (X, T) of the first service-level target of the SLA contract version in force today.

    The same target the SLA service evaluates and reports to the router as attainment, so the engine's
    deficit is measured against the contract, not against a queue setting.
    """
    today = {str(t.id): utcnow().astimezone(zoneinfo.ZoneInfo(t.timezone)).date() for t in tenants}
    in_force: dict[str, SlaContractVersion] = {}
    for version in (await session.exec(select(SlaContractVersion))).all():
        tenant = str(version.tenant_id)
        if tenant not in today or version.effective_from > today[tenant]:
            continue
        current = in_force.get(tenant)
        if current is None or (version.effective_from, version.version) > (current.effective_from, current.version):
            in_force[tenant] = version
    if not in_force:
        return {}
    statement = (
        select(SlaTarget)
        .where(
            col(SlaTarget.contract_version_id).in_([v.id for v in in_force.values()]),
            SlaTarget.measure == "service_level",
        )
        .order_by(col(SlaTarget.position))
    )
    found: dict[str, tuple[float, float]] = {}
    for target in (await session.exec(statement)).all():
        tenant = str(target.tenant_id)
        if tenant not in found and target.minimum is not None and target.within_seconds is not None:
            found[tenant] = (target.minimum, float(target.within_seconds))
    return found


async def load_engine_config(session: AsyncSession, *, offer_timeout_seconds: float) -> EngineConfig:
    """The whole pool's routing configuration, read across tenants (``session`` runs as the reader role).

    Active tenants and their active queues; active agents with their assignments, skills and the hard
    attributes still valid today. Overflow to an inactive queue is dropped (the contact stays in line).
    """
    active_tenants = (await session.exec(select(Tenant).where(col(Tenant.status) == TenantStatus.ACTIVE))).all()
    tenant_ids = {str(t.id) for t in active_tenants}
    contracts = await _contract_targets(session, active_tenants)
    rows = [q for q in (await session.exec(select(Queue).where(col(Queue.is_active)))).all()]
    queues = sorted((q for q in rows if str(q.tenant_id) in tenant_ids), key=lambda q: str(q.id))
    active_queues = {str(q.id) for q in queues}
    queue_configs = []
    for queue in queues:
        config = _queue_config(queue)
        if config.overflow_to not in active_queues:
            config = dataclasses.replace(config, overflow_to=None, overflow_after_seconds=None)
        queue_configs.append(config)
    by_tenant: dict[str, list[Queue]] = {}
    for queue in queues:
        by_tenant.setdefault(str(queue.tenant_id), []).append(queue)

    agents = {a.id: a for a in (await session.exec(select(Agent).where(col(Agent.is_active)))).all()}
    tenants_of: dict[uuid.UUID, set[str]] = {a: set() for a in agents}
    for assignment in (await session.exec(select(AgentAssignment))).all():
        if assignment.agent_id in agents and str(assignment.tenant_id) in tenant_ids:
            tenants_of[assignment.agent_id].add(str(assignment.tenant_id))
    skills: dict[uuid.UUID, dict[str, dict[str, int]]] = {a: {} for a in agents}
    for skill in (await session.exec(select(AgentSkill))).all():
        if skill.agent_id in agents:
            skills[skill.agent_id].setdefault(str(skill.tenant_id), {})[skill.skill] = skill.proficiency
    attributes: dict[uuid.UUID, dict[str, set[str]]] = {a: {} for a in agents}
    today = utcnow().date()
    for attribute in (await session.exec(select(AgentAttribute))).all():
        if attribute.agent_id in agents and (attribute.valid_until is None or attribute.valid_until >= today):
            tokens = attributes[attribute.agent_id].setdefault(str(attribute.tenant_id), set())
            tokens.add(attribute_token(attribute.kind, attribute.value))
    agent_configs = tuple(
        AgentConfig(
            agent_id=str(agent_id),
            tenants=frozenset(tenants_of[agent_id]),
            skills={
                t: dict(sorted(s.items())) for t, s in sorted(skills[agent_id].items()) if t in tenants_of[agent_id]
            },
            attributes={t: frozenset(a) for t, a in sorted(attributes[agent_id].items()) if t in tenants_of[agent_id]},
            chat_capacity=agent.chat_capacity,
        )
        for agent_id, agent in sorted(agents.items(), key=lambda item: str(item[0]))
    )
    return EngineConfig(
        tenants=tuple(_tenant_config(t, by_tenant.get(t, []), contracts.get(t)) for t in sorted(tenant_ids)),
        queues=tuple(queue_configs),
        agents=agent_configs,
        offer_timeout_seconds=offer_timeout_seconds,
    )


# --- names for the agent desktop and the live boards ----------------------------------------------
# The router publishes ids (``app.routing.live``); people read names, scripts and aliases.


class DeskQueue(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    script: str
    channel: str
    is_active: bool


class DeskTenant(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant the agent works for: what its contacts show, and where they may be transferred."""

    name: str
    alias: str  # the agent's own name in this tenant
    queues: dict[uuid.UUID, DeskQueue]
    colleagues: dict[uuid.UUID, str]  # the tenant's other agents: agent id -> alias
    dispositions: tuple[tuple[str, str], ...]  # the codes its contacts may end with now: (code, label)


async def agent_of_user(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    """The active pool agent a signed-in person is, if any."""
    return (await session.exec(select(Agent.id).where(Agent.user_id == user_id, col(Agent.is_active)))).first()


async def desk_tenants(session: AsyncSession, user_id: uuid.UUID, agent_id: uuid.UUID) -> dict[uuid.UUID, DeskTenant]:
    """The tenants the signed-in agent is assigned to, each read in its own context once the assignment is found.

    An agent has no tenant context of its own; its assignments are read by the "own assignments" policy.
    """
    assignments = await assignments_of(session, user_id)
    names = await tenant_names(session, [tenant_id for tenant_id, _ in assignments])
    desk: dict[uuid.UUID, DeskTenant] = {}
    for tenant_id, alias in assignments:
        with acting_as(system_principal(tenant_id)):
            queues = (await session.exec(select(Queue).order_by(col(Queue.name)))).all()
            colleagues = (
                await session.exec(
                    select(AgentAssignment.agent_id, AgentAssignment.alias)
                    .where(AgentAssignment.agent_id != agent_id)
                    .order_by(col(AgentAssignment.alias))
                )
            ).all()
            codes = await active_disposition_codes(session)
        desk[tenant_id] = DeskTenant(
            name=names.get(tenant_id, ""),
            alias=alias,
            queues={
                q.id: DeskQueue(name=q.name, script=q.script, channel=q.channel, is_active=q.is_active) for q in queues
            },
            colleagues=dict(colleagues),
            dispositions=codes,
        )
    return desk


class LiveQueue(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: uuid.UUID
    name: str
    is_active: bool


async def _live_queues(session: AsyncSession) -> dict[uuid.UUID, LiveQueue]:
    rows = (await session.exec(select(Queue.id, Queue.tenant_id, Queue.name, Queue.is_active))).all()
    return {
        queue_id: LiveQueue(tenant_id=tenant_id, name=name, is_active=is_active)  # type: ignore[arg-type]
        for queue_id, tenant_id, name, is_active in rows
    }


async def tenant_live_names(session: AsyncSession) -> tuple[dict[uuid.UUID, LiveQueue], dict[uuid.UUID, str]]:
    """The acting tenant's queues and its agents' aliases (its live board names nothing else)."""
    agents = (await session.exec(select(AgentAssignment.agent_id, AgentAssignment.alias))).all()
    return await _live_queues(session), dict(agents)


class PoolLiveNames(msgspec.Struct, frozen=True, kw_only=True):
    """What the operator's board names: every tenant's queues, the pool's agents, the tenants each agent serves."""

    queues: dict[uuid.UUID, LiveQueue]
    agents: dict[uuid.UUID, str]
    tenants_of: dict[uuid.UUID, tuple[uuid.UUID, ...]]


async def pool_live_names(reader: AsyncSession) -> PoolLiveNames:
    """Names for the operator's board; ``reader`` is a ``tenants.service.cross_tenant_read`` session."""
    agents = (
        await reader.exec(select(Agent.id, User.display_name).join(User, col(User.id) == col(Agent.user_id)))
    ).all()
    tenants_of: dict[uuid.UUID, tuple[uuid.UUID, ...]] = {}
    for agent_id, tenant_id in (await reader.exec(select(AgentAssignment.agent_id, AgentAssignment.tenant_id))).all():
        tenants_of[agent_id] = (*tenants_of.get(agent_id, ()), tenant_id)  # type: ignore[arg-type]
    return PoolLiveNames(queues=await _live_queues(reader), agents=dict(agents), tenants_of=tenants_of)


# --- returning callers ---------------------------------------------------------------------------

LAST_AGENT_LOOKBACK = dt.timedelta(days=7)
LAST_AGENT_WINDOW_SECONDS = 20.0  # how long the last agent is waited for before anyone else may answer


async def last_agent_of(session: AsyncSession, caller: str) -> uuid.UUID | None:
    """The agent who last answered this caller for the acting tenant in the past week, if any."""
    if not caller:
        return None
    statement = (
        select(Interaction.agent_id)
        .where(
            Interaction.caller == caller,
            col(Interaction.answered_at).is_not(None),
            col(Interaction.arrived_at) >= utcnow() - LAST_AGENT_LOOKBACK,
        )
        .order_by(col(Interaction.arrived_at).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()
