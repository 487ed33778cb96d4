"""The demo's live traffic against a real router: simulated callers and agents complete contacts end to end."""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa

from app.core.db import get_database
from app.core.redis import get_redis
from app.core.tenancy import acting_as
from app.routing import live
from app.telephony.live_traffic import DISPOSITIONS, LiveTraffic, TrafficSettings
from app.telephony.simulator import HandleTime
from tenants import schemas, service
from tests.factories import OPERATOR, PASSWORD
from tests.integration.test_router import make_setup, pool_name, running_router


async def simulated_agents(tenant_id: uuid.UUID, prefix: str, count: int) -> list[uuid.UUID]:
    ids = []
    with acting_as(OPERATOR):
        async with get_database().session() as session:
            for n in range(count):
                agent = await service.create_agent(
                    session,
                    schemas.AgentCreate(
                        email=f"{prefix.lower()}{n}@sim.example",
                        display_name=f"Sim {n}",
                        employee_code=f"{prefix}{n}",
                        password=PASSWORD,
                    ),
                )
                await service.assign_agent(session, agent.id, schemas.AgentAssign(tenant_id=tenant_id, alias=f"S{n}"))
                ids.append(agent.id)
    return ids


async def test_simulated_callers_and_agents_complete_contacts_through_the_router() -> None:
    setup = await make_setup(0)
    prefix = f"T{uuid.uuid4().hex[:6].upper()}-"
    agents = await simulated_agents(setup.tenant_id, prefix, 3)
    pool = pool_name()
    settings = TrafficSettings(
        pool=pool,
        calls_per_minute=240,
        handle=HandleTime(0.4, 0.2),
        patience_seconds=30,
        accept_delay_seconds=(0.05, 0.2),
        wrap_up_seconds=(0.05, 0.1),
        agent_code_prefix=prefix,
        tenants=frozenset({setup.tenant_id}),
        poll_seconds=0.05,
        seed=3,
    )
    stop = asyncio.Event()
    async with running_router(pool):
        traffic = asyncio.create_task(LiveTraffic(get_redis(), settings).run(stop))
        await asyncio.sleep(6)
        stop.set()
        await asyncio.wait_for(traffic, 10)
        await asyncio.sleep(0.5)  # the last commands (agents going offline) are applied
        views = await live.agent_views(get_redis(), agents, pool)
    assert {view.presence for view in views} <= {"offline", "on_contact", "wrap_up"}
    with acting_as(OPERATOR.acting_for(setup.tenant_id)):
        async with get_database().session() as session:
            rows = (
                await session.execute(
                    sa.text("SELECT queue_id, state, disposition, agent_id FROM interactions WHERE tenant_id = :t"),
                    {"t": setup.tenant_id},
                )
            ).all()
    handled = [row for row in rows if row.state == "ended" and row.disposition]
    # Both queues get callers (4 a second in all); the three agents finish contacts and record codes.
    assert len(handled) >= 5, rows
    assert {row.queue_id for row in rows} == {setup.queue_id, setup.other_queue_id}
    assert {row.disposition for row in handled} <= set(DISPOSITIONS)
    assert {row.agent_id for row in handled} <= set(agents)
