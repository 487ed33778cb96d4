"""The router service with real PostgreSQL and Redis: commands in, log and interactions out, live state, takeover.

Each test uses a pool of its own (its own stream, lease, log and live keys); the configuration the routers
load is the whole test database's, so agents are told apart by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from app.core.db import get_database
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import acting_as
from app.routing import commands as cmd
from app.routing import live, schemas
from app.routing import service as routing
from app.routing.router import Fenced, Router, RouterSettings, fence_key, lock_key
from tests.conftest import Services, start_process, stop_process
from tests.factories import OPERATOR, make_agent, make_tenant

T = TypeVar("T")


@dataclass
class Setup:
    tenant_id: uuid.UUID
    queue_id: uuid.UUID
    other_queue_id: uuid.UUID
    agents: list[uuid.UUID]


async def make_setup(agents: int, *, wrap_up_seconds: int = 0) -> Setup:
    tenant = await make_tenant("routed")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            queue = await routing.create_queue(
                session, schemas.QueueCreate(name="support", wrap_up_seconds=wrap_up_seconds)
            )
            other = await routing.create_queue(session, schemas.QueueCreate(name="billing"))
    agent_ids = [(await make_agent(tenant.id)).id for _ in range(agents)]
    return Setup(tenant.id, queue.id, other.id, agent_ids)


def pool_name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def running_router(pool: str, **settings: Any) -> AsyncIterator[Router]:
    router = Router(get_database(), get_redis(), RouterSettings(pool=pool, lock_ttl_seconds=2.0, **settings))
    stop = asyncio.Event()
    task = asyncio.create_task(router.run(stop))
    try:
        yield router
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def submit(pool: str, command: cmd.Command) -> None:
    await cmd.submit(get_redis(), command, pool=pool)


async def offer_for(pool: str, agent_id: uuid.UUID) -> live.OfferView:
    async def probe() -> live.OfferView | None:
        view = await live.agent_view(get_redis(), agent_id, pool)
        return view.offer if view else None

    return await eventually(probe, what=f"an offer to {agent_id}")


async def contact_in(pool: str, contact_id: uuid.UUID, state: str) -> live.ContactView:
    async def probe() -> live.ContactView | None:
        view = await live.contact_view(get_redis(), contact_id, pool)
        return view if view and view.state == state else None

    return await eventually(probe, what=f"contact {contact_id} {state}")


async def events_of(contact_id: uuid.UUID, tenant_id: uuid.UUID) -> list[str]:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            rows = await session.execute(
                sa.text("SELECT type FROM interaction_events WHERE interaction_id = :id ORDER BY log_seq, position"),
                {"id": contact_id},
            )
            return [row[0] for row in rows]


async def interaction(contact_id: uuid.UUID, tenant_id: uuid.UUID) -> Any:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            return (
                await session.execute(sa.text("SELECT * FROM interactions WHERE id = :id"), {"id": contact_id})
            ).one()


async def test_a_contact_goes_from_arrival_to_wrap_up() -> None:
    setup = await make_setup(1, wrap_up_seconds=60)
    agent = setup.agents[0]
    pool = pool_name()
    async with running_router(pool):
        await submit(pool, cmd.Reconfigure())
        await submit(pool, cmd.AgentPresence(agent_id=agent, state="available"))
        contact = uuid.uuid4()
        await submit(
            pool,
            cmd.ContactArrive(
                contact_id=contact,
                tenant_id=setup.tenant_id,
                queue_id=setup.queue_id,
                caller="+442071838750",
                context={"menu": "1"},
            ),
        )
        offer = await offer_for(pool, agent)
        assert (offer.contact_id, offer.tenant_id, offer.queue_id) == (contact, setup.tenant_id, setup.queue_id)
        await submit(pool, cmd.OfferAccept(agent_id=agent, contact_id=contact))
        view = await contact_in(pool, contact, "connected")
        assert view.agent_id == agent and view.caller == "+442071838750" and view.context == {"menu": "1"}
        await submit(pool, cmd.ContactHold(agent_id=agent, contact_id=contact, on_hold=True))
        await asyncio.sleep(0.3)
        await submit(pool, cmd.ContactHold(agent_id=agent, contact_id=contact, on_hold=False))
        await submit(pool, cmd.ContactEnd(agent_id=agent, contact_id=contact))
        await contact_in(pool, contact, "ended")

        async def wrapping() -> live.AgentView | None:
            view = await live.agent_view(get_redis(), agent, pool)
            return view if view and view.presence == "wrap_up" and contact in view.pending_dispositions else None

        await eventually(wrapping, what="wrap-up")
        await submit(pool, cmd.WrapUpFinish(agent_id=agent, contact_id=contact, disposition="resolved"))

        async def available() -> live.AgentView | None:
            view = await live.agent_view(get_redis(), agent, pool)
            return view if view and view.presence == "available" and not view.pending_dispositions else None

        await eventually(available, what="the agent available again")

    assert await events_of(contact, setup.tenant_id) == [
        "arrived",
        "offered",
        "answered",
        "held",
        "resumed",
        "ended",
        "wrapped_up",
    ]
    row = await interaction(contact, setup.tenant_id)
    assert row.state == "ended" and row.disposition == "resolved" and row.agent_id == agent
    assert row.hold_seconds >= 0.25
    assert row.answered_at >= row.arrived_at and row.ended_at >= row.answered_at
    async with get_database().session() as session:
        states = [
            r[0]
            for r in await session.execute(
                sa.text("SELECT state FROM agent_state_changes WHERE agent_id = :id ORDER BY log_seq, at"),
                {"id": agent},
            )
        ]
    assert states == ["available", "offered", "on_contact", "wrap_up", "available"]


async def test_an_unanswered_offer_goes_to_another_agent_and_stale_answers_are_dropped() -> None:
    setup = await make_setup(2)
    first, second = setup.agents
    pool = pool_name()
    async with running_router(pool, offer_timeout_seconds=1.0):
        await submit(pool, cmd.Reconfigure())
        await submit(pool, cmd.AgentPresence(agent_id=first, state="available"))
        contact = uuid.uuid4()
        await submit(pool, cmd.ContactArrive(contact_id=contact, tenant_id=setup.tenant_id, queue_id=setup.queue_id))
        assert (await offer_for(pool, first)).contact_id == contact
        await submit(pool, cmd.AgentPresence(agent_id=second, state="available"))
        # The first agent lets the offer run out; it goes to the second.
        assert (await offer_for(pool, second)).contact_id == contact
        # Too late, and from the wrong agent: both dropped.
        await submit(pool, cmd.OfferAccept(agent_id=first, contact_id=contact))
        await submit(pool, cmd.OfferAccept(agent_id=second, contact_id=contact))
        await contact_in(pool, contact, "connected")
    events = await events_of(contact, setup.tenant_id)
    assert events == ["arrived", "offered", "offer_revoked", "offered", "answered"]
    assert (await interaction(contact, setup.tenant_id)).agent_id == second


async def test_a_caller_who_hangs_up_while_waiting_is_abandoned() -> None:
    setup = await make_setup(1)
    pool = pool_name()
    async with running_router(pool):
        await submit(pool, cmd.Reconfigure())
        contact = uuid.uuid4()
        await submit(pool, cmd.ContactArrive(contact_id=contact, tenant_id=setup.tenant_id, queue_id=setup.queue_id))
        await contact_in(pool, contact, "waiting")
        queues = await live.queue_views(get_redis(), setup.tenant_id, pool)
        assert {q.queue_id: q.waiting for q in queues}[setup.queue_id] == 1
        await submit(pool, cmd.ContactAbandon(contact_id=contact))
        await contact_in(pool, contact, "abandoned")
    assert await events_of(contact, setup.tenant_id) == ["arrived", "abandoned"]


async def test_a_transfer_to_another_queue_reaches_an_agent_there() -> None:
    setup = await make_setup(2)
    first, second = setup.agents
    pool = pool_name()
    async with running_router(pool):
        await submit(pool, cmd.Reconfigure())
        await submit(pool, cmd.AgentPresence(agent_id=first, state="available"))
        contact = uuid.uuid4()
        await submit(pool, cmd.ContactArrive(contact_id=contact, tenant_id=setup.tenant_id, queue_id=setup.queue_id))
        await offer_for(pool, first)
        await submit(pool, cmd.OfferAccept(agent_id=first, contact_id=contact))
        await contact_in(pool, contact, "connected")
        await submit(pool, cmd.AgentPresence(agent_id=second, state="available"))
        await submit(pool, cmd.ContactTransfer(agent_id=first, contact_id=contact, to_queue=setup.other_queue_id))
        offer = await offer_for(pool, second)
        assert (offer.contact_id, offer.queue_id) == (contact, setup.other_queue_id)
    assert await events_of(contact, setup.tenant_id) == ["arrived", "offered", "answered", "transferred", "offered"]
    row = await interaction(contact, setup.tenant_id)
    assert row.transfers == 1 and row.queue_id == setup.other_queue_id


async def test_a_router_that_lost_its_lease_cannot_write(services: Services) -> None:
    setup = await make_setup(1)
    pool = pool_name()
    async with running_router(pool) as first:
        await submit(pool, cmd.Reconfigure())
        await submit(pool, cmd.AgentPresence(agent_id=setup.agents[0], state="available"))
        await eventually(lambda: live.agent_view(get_redis(), setup.agents[0], pool), what="the agent's view")
        # A successor takes the lock and claims the pool (as after the first's lock expired while it was paused).
        successor = Router(get_database(), get_redis(), RouterSettings(pool=pool))
        successor.fence = int(await get_redis().incr(fence_key(pool)))
        await get_redis().set(lock_key(pool), f"{successor.fence}:successor", px=60_000)
        await successor._claim()
        assert successor.fence > first.fence
        contact = uuid.uuid4()
        await submit(pool, cmd.ContactArrive(contact_id=contact, tenant_id=setup.tenant_id, queue_id=setup.queue_id))
        await asyncio.sleep(1.0)
    with acting_as(OPERATOR.acting_for(setup.tenant_id)):
        async with get_database().session() as session:
            found = await session.execute(sa.text("SELECT count(*) FROM interactions WHERE id = :id"), {"id": contact})
            assert found.scalar() == 0  # the fenced router wrote nothing
    with pytest.raises(Fenced):
        await Router(get_database(), get_redis(), RouterSettings(pool=pool))._claim()  # fence 0 < the lease's


# --- kill -9 ---------------------------------------------------------------------------------------


def start_router(services: Services, pool: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **services.env,
        "TENLINE_ROUTER_POOL": pool,
        "TENLINE_ROUTER_LOCK_TTL_SECONDS": "1.5",
        "TENLINE_ROUTER_OFFER_TIMEOUT_SECONDS": "5",
        "TENLINE_LOG_LEVEL": "INFO",
    }
    return start_process(["router"], env, log)


async def leader_pid(pool: str, routers: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    async def probe() -> subprocess.Popen[bytes] | None:
        async with get_database().session() as session:
            holder = (
                await session.execute(sa.text("SELECT holder FROM router_leases WHERE pool = :p"), {"p": pool})
            ).scalar()
        for router in routers:
            if holder and f":{router.pid}:" in holder and router.poll() is None:
                return router
        return None

    return await eventually(probe, timeout=30, what="a leading router")


async def test_kill_9_of_the_leading_router_loses_no_contact_and_offers_none_twice(
    services: Services, tmp_path: Path
) -> None:
    setup = await make_setup(6)
    pool = pool_name()
    routers = [start_router(services, pool, tmp_path / f"router-{n}.log") for n in range(2)]
    redis = get_redis()
    contacts: list[uuid.UUID] = []
    ended: set[uuid.UUID] = set()
    connected: dict[uuid.UUID, float] = {}
    killed = False
    try:
        leader = await leader_pid(pool, routers)
        await submit(pool, cmd.Reconfigure())
        for agent in setup.agents:
            await submit(pool, cmd.AgentPresence(agent_id=agent, state="available"))
        deadline = time.monotonic() + 90
        while len(ended) < 60:
            assert time.monotonic() < deadline, f"only {len(ended)} of {len(contacts)} contacts ended"
            if len(contacts) < 60:
                contact = uuid.uuid4()
                contacts.append(contact)
                await submit(
                    pool, cmd.ContactArrive(contact_id=contact, tenant_id=setup.tenant_id, queue_id=setup.queue_id)
                )
            if len(contacts) == 25 and not killed:
                os.kill(leader.pid, signal.SIGKILL)  # mid-traffic: offers out, contacts connected and waiting
                leader.wait()
                killed = True
            # The agents: accept what is offered, end a contact a moment after answering it.
            for view in await live.agent_views(redis, setup.agents, pool):
                if view.offer is not None:
                    await submit(pool, cmd.OfferAccept(agent_id=view.agent_id, contact_id=view.offer.contact_id))
                for contact_id in view.contacts:
                    started = connected.setdefault(contact_id, time.monotonic())
                    if time.monotonic() - started > 0.2:
                        await submit(pool, cmd.ContactEnd(agent_id=view.agent_id, contact_id=contact_id))
            finished = await live.contact_views(redis, contacts, pool)
            ended |= {view.contact_id for view in finished if view.state == "ended"}
            await asyncio.sleep(0.05)
        successor = await leader_pid(pool, routers)
        assert successor is not leader
    finally:
        for router in routers:
            if router.poll() is None:
                router.send_signal(signal.SIGTERM)
                router.wait(timeout=15)
    assert killed
    logs = "".join((tmp_path / f"router-{n}.log").read_text() for n in range(2))
    assert "router.recovered" in logs

    with acting_as(OPERATOR.acting_for(setup.tenant_id)):
        async with get_database().session() as session:
            rows = await session.execute(
                sa.text(
                    "SELECT interaction_id, type, agent_id, log_seq, position FROM interaction_events "
                    "WHERE interaction_id = ANY(:ids) ORDER BY log_seq, position"
                ),
                {"ids": contacts},
            )
            events = rows.all()
            states = dict(
                (
                    await session.execute(
                        sa.text("SELECT id, state FROM interactions WHERE id = ANY(:ids)"), {"ids": contacts}
                    )
                ).all()
            )
    # No contact lost: every one was recorded and ended.
    assert set(states) == set(contacts) and set(states.values()) == {"ended"}
    # None offered twice: an offer is followed by its answer or its revocation before the next one.
    per_contact: dict[uuid.UUID, list[str]] = {}
    for contact_id, kind, _, _, _ in events:
        per_contact.setdefault(contact_id, []).append(kind)
    for contact_id, kinds in per_contact.items():
        assert kinds[0] == "arrived" and kinds[-1] == "ended", (contact_id, kinds)
        assert kinds.count("answered") == 1, (contact_id, kinds)
        offers = [k for k in kinds if k in ("offered", "offer_revoked", "offer_rejected", "answered")]
        for current, following in itertools.pairwise(offers):
            assert not (current == "offered" and following == "offered"), (contact_id, kinds)
    # No agent held two contacts at once, across the takeover.
    holding: dict[uuid.UUID, uuid.UUID] = {}
    for contact_id, kind, agent_id, _, _ in events:
        if kind == "answered":
            assert agent_id not in holding, (agent_id, contact_id)
            holding[agent_id] = contact_id
        elif kind == "ended":
            assert holding.pop(agent_id) == contact_id
    # The log has no gap and was written by both routers, the second with the higher fence.
    async with get_database().session() as session:
        log_rows = (
            await session.execute(
                sa.text("SELECT seq, fence FROM router_log WHERE pool = :p ORDER BY seq"), {"p": pool}
            )
        ).all()
    seqs = [row.seq for row in log_rows]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    fences = [row.fence for row in log_rows]
    assert fences == sorted(fences) and len(set(fences)) == 2


async def test_a_new_agent_reaches_the_running_router_through_the_outbox(
    services: Services, router_process: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """Assigning an agent commits an outbox event; the worker turns it into Reconfigure for the session's pool."""
    pool = get_settings().router_pool
    setup = await make_setup(1)
    await submit(pool, cmd.Reconfigure())
    await eventually(lambda: live.agent_view(get_redis(), setup.agents[0], pool), what="the router loaded the setup")
    worker = start_process(["worker"], {**services.env, "TENLINE_WORKER_THREADS": "1"}, tmp_path / "worker.log")
    try:
        newcomer = (await make_agent(setup.tenant_id)).id  # no Reconfigure from the test this time
        await submit(pool, cmd.AgentPresence(agent_id=newcomer, state="available"))

        async def available() -> live.AgentView | None:
            view = await live.agent_view(get_redis(), newcomer, pool)
            if view is None or view.presence != "available":
                # Refused while the router did not know the agent yet: ask again, as the desktop would.
                await submit(pool, cmd.AgentPresence(agent_id=newcomer, state="available"))
                await asyncio.sleep(0.3)
                return None
            return view

        await eventually(available, timeout=30, what="the new agent available")
    finally:
        stop_process(worker)
    assert router_process.poll() is None


async def test_the_sla_services_attainment_steers_which_tenant_is_served_first() -> None:
    """A tenant far below its target is served before an earlier caller of a tenant that meets it."""
    meeting, missing = await make_setup(0), await make_setup(0)
    agent = (await make_agent(meeting.tenant_id, missing.tenant_id)).id
    pool = pool_name()
    async with running_router(pool):
        await submit(pool, cmd.Reconfigure())
        await submit(
            pool,
            cmd.AttainmentUpdate(tenant_id=meeting.tenant_id, answered=100, answered_within_target=95, abandoned=0),
        )
        await submit(
            pool,
            cmd.AttainmentUpdate(tenant_id=missing.tenant_id, answered=100, answered_within_target=40, abandoned=20),
        )
        first, second = uuid.uuid4(), uuid.uuid4()
        await submit(pool, cmd.ContactArrive(contact_id=first, tenant_id=meeting.tenant_id, queue_id=meeting.queue_id))
        await asyncio.sleep(0.3)
        await submit(pool, cmd.ContactArrive(contact_id=second, tenant_id=missing.tenant_id, queue_id=missing.queue_id))
        await contact_in(pool, second, "waiting")
        await submit(pool, cmd.AgentPresence(agent_id=agent, state="available"))
        assert (await offer_for(pool, agent)).contact_id == second


async def test_the_engine_targets_the_sla_contract_in_force_else_the_strictest_queue() -> None:
    from app.core.db import CROSS_TENANT_READER_ROLE, system_session
    from app.sla import schemas as sla_schemas
    from app.sla import service as sla

    with_contract, without = await make_setup(0), await make_setup(0)
    with acting_as(OPERATOR.acting_for(with_contract.tenant_id)):
        async with get_database().session() as session:
            today = await sla.today(session)
            await sla.create_contract_version(
                session,
                sla_schemas.ContractCreate(
                    effective_from=today,
                    definition="answered",
                    targets=[
                        sla_schemas.TargetIn(measure="abandonment_rate", window="day", maximum=0.05),
                        sla_schemas.TargetIn(measure="service_level", window="30min", minimum=0.9, within_seconds=10),
                    ],
                ),
            )
    async with system_session(CROSS_TENANT_READER_ROLE, read_only=True) as session:
        config = await routing.load_engine_config(session, offer_timeout_seconds=20)
    tenants = {t.tenant_id: t for t in config.tenants}
    contracted = tenants[str(with_contract.tenant_id)]
    assert (contracted.service_level_target, contracted.answer_target_seconds) == (0.9, 10.0)
    defaulted = tenants[str(without.tenant_id)]  # both queues: 80% in 20 s (the queue defaults)
    assert (defaulted.service_level_target, defaulted.answer_target_seconds) == (0.8, 20.0)
