"""Routing engine throughput and decision latency: 2,000 agents, 300 queues, 40 tenants.

`tenline bench routing [--quick] [--json]` runs it. A seeded random stream drives the pure engine the
way the router service would: all agents log in, contacts arrive (Poisson, voice and chat, some with
a language), agents accept most offers after a short delay, reject a few and let a few time out,
contacts end after exponential handle times, callers abandon after exponential patience, agents put
on auto-break come back after a while, and a Tick comes every second. Each `handle()` call is timed
with `perf_counter_ns`; the figures are over engine time only (the generator's own work is excluded).
The load is about 90 % of the pool's voice capacity, with a surge to 130 % over the middle sixth of
the run, so queues build up and both paths are exercised: a contact looking for a free agent, and a
freed agent choosing among waiting contacts across queues and tenants. `peak_waiting` is the most
contacts seen waiting at a once-a-minute sample.

--quick simulates 5 minutes instead of an hour.
"""

from __future__ import annotations

import heapq
import random
import statistics
import time
from typing import Any

from app.routing.engine import (
    AgentAutoBreak,
    AgentConfig,
    AgentLoggedIn,
    AgentState,
    AgentStateChanged,
    Channel,
    ContactAbandoned,
    ContactArrived,
    ContactEnded,
    EngineConfig,
    Event,
    Offer,
    OfferAccepted,
    OfferRejected,
    QueueConfig,
    RelaxationStep,
    RoutingEngine,
    SkillRequirement,
    TenantConfig,
    Tick,
)

AGENTS = 2_000
QUEUES = 300
TENANTS = 40
SKILLS = ("billing", "tech", "sales", "retention", "claims", "general")
LANGUAGES = ("lang:fr", "lang:de", "lang:es")
VOICE_AHT = 180.0
CHAT_AHT = 300.0


def build_config(rng: random.Random) -> EngineConfig:
    tenants = tuple(
        TenantConfig(
            f"tenant-{t:02d}",
            weight=rng.choice((0.5, 1.0, 1.0, 2.0)),
            answer_target_seconds=rng.choice((15.0, 20.0, 30.0, 60.0)),
            service_level_target=rng.choice((0.8, 0.85, 0.9)),
            guaranteed_share=0.01 if t % 4 == 0 else 0.0,
        )
        for t in range(TENANTS)
    )
    queues = []
    for q in range(QUEUES):
        tenant = tenants[q % TENANTS].tenant_id
        skill = rng.choice(SKILLS)
        queues.append(
            QueueConfig(
                f"queue-{q:03d}",
                tenant,
                priority=rng.choice((0, 0, 0, 1, 2)),
                skills=(SkillRequirement(skill, 3),),
                relaxation=(RelaxationStep(20, (SkillRequirement(skill, 1),)), RelaxationStep(60, ())),
                max_wait_seconds=rng.choice((None, 600.0)),
                wrap_up_seconds=rng.choice((0.0, 5.0, 10.0)),
                callback_offer_after_seconds=rng.choice((None, 90.0)),
            )
        )
    for q in range(0, QUEUES, 10):  # some overflow to a sibling queue of the same tenant
        queues[q] = _with_overflow(queues[q], queues[q + TENANTS if q + TENANTS < QUEUES else q - TENANTS])
    agents = []
    for a in range(AGENTS):
        assigned = rng.sample(tenants, rng.choice((1, 2, 2, 3)))
        agents.append(
            AgentConfig(
                f"agent-{a:04d}",
                frozenset(t.tenant_id for t in assigned),
                skills={t.tenant_id: {s: rng.randint(1, 5) for s in rng.sample(SKILLS, 3)} for t in assigned},
                attributes={t.tenant_id: frozenset(rng.sample(LANGUAGES, rng.randint(0, 2))) for t in assigned},
                chat_capacity=rng.choice((0, 2, 3)),
            )
        )
    return EngineConfig(tenants, tuple(queues), tuple(agents), offer_timeout_seconds=15, misses_before_break=3)


def _with_overflow(queue: QueueConfig, target: QueueConfig) -> QueueConfig:
    return QueueConfig(
        queue.queue_id,
        queue.tenant_id,
        priority=queue.priority,
        skills=queue.skills,
        relaxation=queue.relaxation,
        wrap_up_seconds=queue.wrap_up_seconds,
        overflow_to=target.queue_id,
        overflow_after_seconds=45,
    )


def run(quick: bool = False) -> dict[str, Any]:
    rng = random.Random(20_251_125)
    config = build_config(rng)
    engine = RoutingEngine(config)
    duration = 300.0 if quick else 3_600.0
    pending: list[tuple[float, int, Event]] = []
    order = 0

    def later(at: float, event: Event) -> None:
        nonlocal order
        order += 1
        heapq.heappush(pending, (at, order, event))

    for agent in config.agents:
        login = rng.uniform(0, 5)
        later(login, AgentLoggedIn(login, agent.agent_id))
    capacity = len(config.agents) / VOICE_AHT
    channels: dict[str, Channel] = {}
    surge = (duration * 5 / 12, duration * 7 / 12)
    at, n = 0.0, 0
    while at < duration:
        at += rng.expovariate((1.3 if surge[0] <= at < surge[1] else 0.9) * capacity)
        queue = config.queues[rng.randrange(QUEUES)]
        channel = Channel.CHAT if rng.random() < 0.2 else Channel.VOICE
        language = frozenset({rng.choice(LANGUAGES)}) if rng.random() < 0.1 else frozenset()
        contact_id = f"c{n}"
        channels[contact_id] = channel
        later(
            at,
            ContactArrived(
                at, contact_id, queue.tenant_id, queue.queue_id, channel=channel, required_attributes=language
            ),
        )
        if channel is Channel.VOICE:
            gives_up = at + rng.expovariate(1 / 120)
            later(gives_up, ContactAbandoned(gives_up, contact_id))
        n += 1
    for second in range(1, int(duration) + 1):
        later(float(second), Tick(float(second)))

    latencies: list[int] = []
    decisions = 0
    offers = 0
    peak_waiting = 0
    wall = time.perf_counter()
    while pending:
        at, _, event = heapq.heappop(pending)
        started = time.perf_counter_ns()
        out = engine.handle(event)
        latencies.append(time.perf_counter_ns() - started)
        decisions += len(out)
        if isinstance(event, Tick) and event.at % 60 == 0:
            peak_waiting = max(peak_waiting, sum(len(engine.waiting(q.queue_id)) for q in config.queues))
        for decision in out:
            if isinstance(decision, Offer):
                offers += 1
                answer = rng.random()
                answered = at + rng.uniform(0.5, 3)
                if answer < 0.94:
                    later(answered, OfferAccepted(answered, decision.contact_id, decision.agent_id))
                    aht = CHAT_AHT if channels[decision.contact_id] is Channel.CHAT else VOICE_AHT
                    ends = answered + rng.expovariate(1 / aht)
                    later(ends, ContactEnded(ends, decision.contact_id))
                elif answer < 0.98:
                    later(answered, OfferRejected(answered, decision.contact_id, decision.agent_id))
                # else: no answer; the engine's offer timer runs out
            elif isinstance(decision, AgentAutoBreak):
                later(at + 30, AgentStateChanged(at + 30, decision.agent_id, AgentState.AVAILABLE))
    wall = time.perf_counter() - wall
    engine_seconds = sum(latencies) / 1e9
    ordered = sorted(latencies)
    return {
        "agents": AGENTS,
        "queues": QUEUES,
        "tenants": TENANTS,
        "events": len(latencies),
        "contacts": n,
        "offers": offers,
        "peak_waiting": peak_waiting,
        "decisions": decisions,
        "simulated_seconds": duration,
        "engine_seconds": round(engine_seconds, 3),
        "wall_seconds": round(wall, 3),
        "events_per_second": round(len(latencies) / engine_seconds),
        "decisions_per_second": round(decisions / engine_seconds),
        "p50_ms": round(statistics.median(ordered) / 1e6, 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)] / 1e6, 4),
        "max_ms": round(ordered[-1] / 1e6, 3),
    }
