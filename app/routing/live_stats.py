"""The acting tenant's queues now, for its API: the router's live views (Redis) per queue, the agents who may
take each queue's contacts, and the service level so far today from the reporting rollups.

Only what Tenline knows: contacts waiting, on offer and connected and the oldest wait come from the
queue's view (a queue the router has no view of has nothing in it: the router publishes every queue it
routes, and any other that still holds a contact); agents from their views, counted for a queue only
with that queue's contacts (an agent busy for another tenant is not busy here, and shows nothing of it);
the service level from the same figures as the service-level report, or nothing before a contact of the
day is counted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import Mapping, Sequence

import redis.asyncio as aioredis
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import NotFoundError
from app.core.tenancy import require_tenant_id
from app.reporting import schemas as reporting_schemas
from app.reporting import service as reporting
from app.routing import live, schemas
from app.routing.models import AgentAttribute, AgentSkill, Queue, QueueChannel, attribute_token
from tenants.models import Agent
from tenants.service import agent_aliases


@dataclasses.dataclass(frozen=True, slots=True)
class _Agent:
    """One of the tenant's agents now: its presence, the queues of its contacts (the tenant's only) and what
    it holds for the tenant's queues."""

    presence: str
    chat_capacity: int  # 0: voice only
    busy_in: frozenset[uuid.UUID]  # queues of the contacts it has on offer or in hand
    wrap_up_in: uuid.UUID | None  # the queue of the contact it wraps up
    skills: Mapping[str, int]
    attributes: frozenset[str]


def _widest_ring(queue: Queue) -> Mapping[str, int]:
    """The skills of the queue's last relaxation step (rings only widen), or its own without steps."""
    return queue.relaxation[-1]["skills"] if queue.relaxation else queue.skills


def _may_take(agent: _Agent, queue: Queue) -> bool:
    if queue.channel == QueueChannel.CHAT and agent.chat_capacity == 0:
        return False
    required = {attribute_token(a["kind"], a["value"]) for a in queue.required_attributes}
    skills = _widest_ring(queue)
    return required <= agent.attributes and all(agent.skills.get(s, 0) >= level for s, level in skills.items())


async def _agents(session: AsyncSession, redis: aioredis.Redis, pool: str, tenant_id: uuid.UUID) -> list[_Agent]:
    agent_ids = sorted(await agent_aliases(session))
    if not agent_ids:
        return []
    views = await live.agent_views(redis, agent_ids, pool)
    held = [c for view in views for c in (*view.contacts, *([view.wrap_up_contact] if view.wrap_up_contact else []))]
    queue_of = {
        contact.contact_id: contact.queue_id
        for contact in await live.contact_views(redis, held, pool)
        if contact.tenant_id == tenant_id
    }
    skills: dict[uuid.UUID, dict[str, int]] = {}
    for skill in (await session.exec(select(AgentSkill).where(col(AgentSkill.agent_id).in_(agent_ids)))).all():
        skills.setdefault(skill.agent_id, {})[skill.skill] = skill.proficiency
    capacity = dict(
        (await session.exec(select(Agent.id, Agent.chat_capacity).where(col(Agent.id).in_(agent_ids)))).all()
    )
    attributes: dict[uuid.UUID, set[str]] = {}
    valid = or_(col(AgentAttribute.valid_until).is_(None), col(AgentAttribute.valid_until) >= utcnow().date())
    statement = select(AgentAttribute).where(col(AgentAttribute.agent_id).in_(agent_ids), valid)
    for attribute in (await session.exec(statement)).all():
        attributes.setdefault(attribute.agent_id, set()).add(attribute_token(attribute.kind, attribute.value))
    agents = []
    for view in views:
        busy = {queue_of[c] for c in view.contacts if c in queue_of}
        if view.offer is not None and view.offer.tenant_id == tenant_id:
            busy.add(view.offer.queue_id)
        wrap_up = queue_of.get(view.wrap_up_contact) if view.wrap_up_contact and view.presence == "wrap_up" else None
        agents.append(
            _Agent(
                presence=view.presence,
                chat_capacity=capacity.get(view.agent_id, 0),
                busy_in=frozenset(busy),
                wrap_up_in=wrap_up,
                skills=skills.get(view.agent_id, {}),
                attributes=frozenset(attributes.get(view.agent_id, ())),
            )
        )
    return agents


async def _service_levels(
    session: AsyncSession, queue_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, schemas.ServiceLevelToday]:
    """Today's row of the service-level report per queue (the tenant's day; its contract's target if it has one)."""
    first_day, last_day = await reporting.report_days(session, "today", None, None)
    query = reporting_schemas.ReportQuery(first_day=first_day, last_day=last_day, queue_ids=tuple(queue_ids))
    report = await reporting.service_level_report(session, query)
    return {
        row.queue_id: schemas.ServiceLevelToday(
            service_level=row.service_level,
            target_service_level=row.target_service_level,
            answer_target_seconds=row.answer_target_seconds,
            offered=row.offered,
            answered=row.answered,
            answered_within=row.answered_within,
            abandoned=row.abandoned,
            definition=row.definition,
            contract_version=row.contract_version,
        )
        for row in report.rows
    }


async def queues_live(
    session: AsyncSession, redis: aioredis.Redis, pool: str, queue_id: uuid.UUID | None = None
) -> list[schemas.QueueLiveOut]:
    """Every queue of the tenant now, by name; or the one queue (another tenant's: not found)."""
    tenant_id = require_tenant_id()
    statement = select(Queue).order_by(col(Queue.name))
    if queue_id is not None:
        statement = statement.where(Queue.id == queue_id)
    queues = (await session.exec(statement)).all()
    if queue_id is not None and not queues:
        raise NotFoundError("no such queue")
    service_levels = await _service_levels(session, [q.id for q in queues] if queue_id is not None else [])
    views = {view.queue_id: view for view in await live.queue_views(redis, tenant_id, pool)}
    agents = await _agents(session, redis, pool, tenant_id)
    now = time.time()
    as_of = dt.datetime.fromtimestamp(now, dt.UTC)
    found = []
    for queue in queues:
        view = views.get(queue.id)
        oldest = view.oldest_arrived_at if view else None
        found.append(
            schemas.QueueLiveOut(
                queue_id=queue.id,
                name=queue.name,
                channel=queue.channel,
                is_active=queue.is_active,
                waiting=view.waiting if view else 0,
                offered=view.offered if view else 0,
                connected=view.connected if view else 0,
                longest_wait_seconds=max(0.0, now - oldest) if oldest is not None else None,
                agents_available=sum(a.presence == "available" and _may_take(a, queue) for a in agents),
                agents_busy=sum(queue.id in a.busy_in for a in agents),
                agents_wrap_up=sum(a.wrap_up_in == queue.id for a in agents),
                service_level_today=service_levels.get(queue.id),
                as_of=as_of,
            )
        )
    return found
