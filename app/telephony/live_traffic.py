"""Live simulated traffic: callers and simulated agents working through the real router, in real time.

``tenline traffic`` (started by ``tenline up``) gives the demo something to show from the first minute:

- Callers: on every active voice queue of the active tenants, Poisson arrivals at ``calls_per_minute``
  per queue; each caller hangs up after an exponential patience unless answered (the router ignores a
  hang-up once an agent has answered).
- Simulated agents: the active agents whose employee code starts with ``agent_code_prefix``. They go
  available at start, accept an offer after a uniform delay (now and then they let one ring out),
  talk for a lognormal handle time, then record a disposition after a short wrap-up; an agent put on
  break for missed offers comes back after a while. People signed in as other agents work beside them.

Everything goes through the router's command stream and the live views it publishes, exactly as the
telephony adapter and the agent desktop do; nothing here touches routing state directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import random
import time
import uuid
from collections.abc import Callable

import redis.asyncio as aioredis
import structlog
from sqlmodel import col, select

from app.core.db import CROSS_TENANT_READER_ROLE, system_session
from app.routing import commands as cmd
from app.routing import live
from app.routing.models import Queue, QueueChannel
from app.telephony.simulator import HandleTime
from tenants.models import Agent, Tenant, TenantStatus

log = structlog.get_logger("tenline.traffic")

DISPOSITIONS = ("resolved", "resolved", "resolved", "follow-up", "escalated", "wrong-number")


@dataclasses.dataclass(frozen=True, slots=True)
class TrafficSettings:
    pool: str = cmd.DEFAULT_POOL
    calls_per_minute: float = 2.0  # per queue
    handle: HandleTime = dataclasses.field(default_factory=lambda: HandleTime(45.0, 30.0))
    patience_seconds: float = 90.0
    accept_delay_seconds: tuple[float, float] = (1.0, 4.0)
    ring_out_probability: float = 0.03
    wrap_up_seconds: tuple[float, float] = (2.0, 6.0)
    break_seconds: float = 20.0
    agent_code_prefix: str = "SIM-"
    tenants: frozenset[uuid.UUID] | None = None  # None: every active tenant
    poll_seconds: float = 0.2
    seed: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Traffic:
    queues: tuple[tuple[uuid.UUID, uuid.UUID], ...]  # (tenant, queue)
    agents: tuple[uuid.UUID, ...]


async def load_traffic(agent_code_prefix: str, tenants: frozenset[uuid.UUID] | None = None) -> Traffic:
    """The voice queues of active tenants and the simulated agents (read across tenants, read-only)."""
    async with system_session(CROSS_TENANT_READER_ROLE, read_only=True) as session:
        active = select(Tenant.id).where(col(Tenant.status) == TenantStatus.ACTIVE)
        if tenants is not None:
            active = active.where(col(Tenant.id).in_(tenants))
        queues = (
            await session.exec(
                select(Queue.tenant_id, Queue.id)
                .where(col(Queue.is_active), col(Queue.channel) == QueueChannel.VOICE, col(Queue.tenant_id).in_(active))
                .order_by(col(Queue.tenant_id), col(Queue.id))
            )
        ).all()
        agents = (
            await session.exec(
                select(Agent.id)
                .where(col(Agent.is_active), col(Agent.employee_code).startswith(agent_code_prefix))
                .order_by(col(Agent.employee_code))
            )
        ).all()
    return Traffic(tuple((t, q) for t, q in queues if t is not None), tuple(agents))  # tenant_id is the key


class LiveTraffic:
    def __init__(self, redis: aioredis.Redis, settings: TrafficSettings, clock: Callable[[], float] = time.monotonic):
        self.redis = redis
        self.settings = settings
        self.clock = clock
        self.rng = random.Random(settings.seed)
        self._due: list[tuple[float, int, cmd.Command]] = []
        self._pushed = 0
        self._seen: dict[tuple[str, uuid.UUID], None] = {}  # (what, contact or agent) already scheduled, in order

    def _at(self, delay: float, command: cmd.Command) -> None:
        self._pushed += 1
        heapq.heappush(self._due, (self.clock() + delay, self._pushed, command))

    async def run(self, stop: asyncio.Event) -> None:
        traffic = await load_traffic(self.settings.agent_code_prefix, self.settings.tenants)
        log.info("traffic.started", queues=len(traffic.queues), agents=len(traffic.agents))
        await self._submit(cmd.Reconfigure())
        for agent_id in traffic.agents:
            await self._submit(cmd.AgentPresence(agent_id=agent_id, state="available"))
        rate = self.settings.calls_per_minute / 60.0
        next_arrival = {queue: self.clock() + self.rng.expovariate(rate) for queue in traffic.queues}
        while not stop.is_set():
            now = self.clock()
            for (tenant_id, queue_id), due in next_arrival.items():
                if due <= now:
                    await self._arrive(tenant_id, queue_id)
                    next_arrival[tenant_id, queue_id] = now + self.rng.expovariate(rate)
            await self._play_agents(traffic.agents)
            while self._due and self._due[0][0] <= now:
                await self._submit(heapq.heappop(self._due)[2])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.poll_seconds)
        for agent_id in traffic.agents:
            await self._submit(cmd.AgentPresence(agent_id=agent_id, state="offline"))

    async def _submit(self, command: cmd.Command) -> None:
        await cmd.submit(self.redis, command, pool=self.settings.pool)

    async def _arrive(self, tenant_id: uuid.UUID, queue_id: uuid.UUID) -> None:
        contact_id = uuid.uuid4()
        caller = f"+1555{self.rng.randrange(10**6, 10**7)}"
        await self._submit(
            cmd.ContactArrive(
                contact_id=contact_id,
                tenant_id=tenant_id,
                queue_id=queue_id,
                caller=caller,
                context={"source": "simulated caller"},
            )
        )
        self._at(self.rng.expovariate(1.0 / self.settings.patience_seconds), cmd.ContactAbandon(contact_id=contact_id))

    async def _play_agents(self, agents: tuple[uuid.UUID, ...]) -> None:
        """Each simulated agent reacts once to each new offer, contact, wrap-up and auto-break it shows."""
        settings = self.settings
        for view in await live.agent_views(self.redis, agents, settings.pool):
            agent = view.agent_id
            offer = view.offer
            # Now and then an agent lets an offer ring out (the router re-offers it and counts the miss).
            if offer and self._first("offer", offer.contact_id) and self.rng.random() >= settings.ring_out_probability:
                delay = self.rng.uniform(*settings.accept_delay_seconds)
                self._at(delay, cmd.OfferAccept(agent_id=agent, contact_id=offer.contact_id))
            for contact_id in view.contacts:
                if self._first("talk", contact_id):
                    self._at(settings.handle.sample(self.rng), cmd.ContactEnd(agent_id=agent, contact_id=contact_id))
            for contact_id in view.pending_dispositions:
                if self._first("wrap", contact_id):
                    disposition = self.rng.choice(DISPOSITIONS)
                    self._at(
                        self.rng.uniform(*settings.wrap_up_seconds),
                        cmd.WrapUpFinish(agent_id=agent, contact_id=contact_id, disposition=disposition),
                    )
            if view.presence == "break" and self._first("break", agent, since=view.since):
                self._at(settings.break_seconds, cmd.AgentPresence(agent_id=agent, state="available"))

    def _first(self, what: str, ident: uuid.UUID, since: float = 0.0) -> bool:
        key = (f"{what}:{since}", ident)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > 100_000:  # a long demo: forget the older half at once
            self._seen = dict.fromkeys(list(self._seen)[50_000:])
        return True
