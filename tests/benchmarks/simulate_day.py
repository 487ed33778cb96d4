"""One simulated day of the reference center through the routing engine, against a plain SimPy model of it.

`tenline bench simulate-day [--quick] [--json]` runs it. `../shared/reference-center.json` (1,500 agents
in 34 shifts and 6 skill groups, 40 tenants, 52 queues, 137,000 contacts expected over 24 h with an
intraday curve) is parsed by `app.telephony.scenario` and run twice in this process, on the same
contacts (`sample_calls` with the same seed: same arrivals, handle times and patience):

1. ours: `app.telephony.simulator.simulate`, the discrete-event loop driving the real `RoutingEngine`
   (SLA-aware contact selection across tenants, best-proficiency agent selection, offers and accepts);
2. SimPy: a straightforward model of the same queues. Each agent is a process working its shift spans
   (the same `Scenario.working` as ours: off during the break and after logout, a call in progress runs
   to its end). Agents with the same queues and proficiencies form a skill group holding its idle
   agents. A caller who arrives goes to the longest-idle agent of the most proficient group with one
   idle, else waits FIFO in its queue until its patience runs out; a freed agent takes the oldest
   waiting contact at the heads of the queues it can serve.

`ratio` = SimPy wall time / ours (above 1: ours is faster). Service level per tenant, for both, is the
contract measure the engine steers by: answered within the tenant's answer target / (answered +
abandoned); `met` compares it with the tenant's target. `engine_events_per_second` is the events our
loop fed the engine per second of our wall time (the loop's own work included). --quick runs the first
2 hours of the day only (a smoke test; the night is quiet).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import random
import time
from collections import deque
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import simpy

from app.routing.engine import AgentConfig, QueueConfig
from app.telephony.scenario import parse_scenario
from app.telephony.simulator import Call, Scenario, sample_calls, simulate

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference-center.json"  # ../shared/reference-center.json
SEED = 20_251_126
QUICK_SECONDS = 7_200.0


def run(quick: bool = False) -> dict[str, Any]:
    scenario = parse_scenario(json.loads(REFERENCE.read_text()))
    if quick:
        scenario = dataclasses.replace(scenario, duration_seconds=QUICK_SECONDS)
    targets = {t.tenant_id: t for t in scenario.engine.tenants}

    gc.collect()
    started = time.perf_counter()
    ours = simulate(scenario, SEED)
    ours_wall = time.perf_counter() - started

    gc.collect()
    started = time.perf_counter()
    baseline = SimpyCenter(scenario, sample_calls(scenario, random.Random(SEED)))
    baseline.run()
    simpy_wall = time.perf_counter() - started

    if baseline.offered != ours.overall.offered:
        raise AssertionError(f"the models saw different traffic: {baseline.offered} vs {ours.overall.offered}")
    tenants: dict[str, dict[str, Any]] = {}
    for tenant_id, tenant in targets.items():
        mine = ours.tenants[tenant_id].contract_service_level
        theirs = baseline.service_level(tenant_id)
        tenants[tenant_id] = {
            "target": tenant.service_level_target,
            "answer_target_seconds": tenant.answer_target_seconds,
            "ours_service_level": round(mine, 4),
            "simpy_service_level": round(theirs, 4),
            "ours_met": mine >= tenant.service_level_target,
            "simpy_met": theirs >= tenant.service_level_target,
        }
    overall = ours.overall
    return {
        "scenario": "reference-center",
        "quick": quick,
        "seed": SEED,
        "simulated_seconds": scenario.duration_seconds,
        "agents": len(scenario.engine.agents),
        "queues": len(scenario.engine.queues),
        "contacts": overall.offered,
        "engine_events": ours.engine_events,
        "engine_events_per_second": round(ours.engine_events / ours_wall),
        "ours_wall_seconds": round(ours_wall, 3),
        "simpy_wall_seconds": round(simpy_wall, 3),
        "ratio": round(simpy_wall / ours_wall, 3),
        "ours": {
            "answered": overall.answered,
            "abandoned": overall.abandoned,
            "service_level": round(overall.contract_service_level, 4),
            "asa_seconds": round(overall.asa_seconds, 2),
            "occupancy": round(overall.occupancy, 4),
            "tenants_met": sum(t["ours_met"] for t in tenants.values()),
        },
        "simpy": {
            "answered": len(baseline.waits),
            "abandoned": len(baseline.abandoned),
            "service_level": round(baseline.service_level(None), 4),
            "asa_seconds": round(math.fsum(baseline.waits.values()) / max(1, len(baseline.waits)), 2),
            "tenants_met": sum(t["simpy_met"] for t in tenants.values()),
        },
        "tenants": tenants,
    }


# --- the SimPy model -----------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Waiting:
    call: Call
    taken: bool = False
    gone: bool = False  # the caller hung up; left in its line until it reaches the head


@dataclass(eq=False, slots=True)
class _Group:
    queues: tuple[str, ...]  # the queues its agents can serve, in configuration order
    idle: dict[_Agent, None] = field(default_factory=dict)  # in the order they became idle


@dataclass(eq=False, slots=True)
class _Agent:
    agent_id: str
    group: _Group
    wake: simpy.Event | None = None


class SimpyCenter:
    def __init__(self, scenario: Scenario, calls: Iterable[Call]) -> None:
        if any(_has_timed_rules(q) for q in scenario.engine.queues):
            raise ValueError("the SimPy baseline models plain queues (no relaxation, overflow, max wait, wrap-up)")
        self.scenario = scenario
        self.env = simpy.Environment()
        self.calls = sorted(calls, key=lambda c: c.arrived_at)
        self.offered = len(self.calls)
        self.lines: dict[str, deque[_Waiting]] = {q.queue_id: deque() for q in scenario.engine.queues}
        self.targets = {t.tenant_id: t.answer_target_seconds for t in scenario.engine.tenants}
        self.tenant_of = {q.queue_id: q.tenant_id for q in scenario.engine.queues}
        self.waits: dict[str, float] = {}  # answered contact -> its wait
        self.abandoned: set[str] = set()
        self.tenant_calls: dict[str, list[Call]] = {t: [] for t in self.targets}
        for call in self.calls:
            self.tenant_calls[call.tenant_id].append(call)

        groups: dict[tuple[tuple[str, int], ...], _Group] = {}
        self.agents: list[_Agent] = []
        for config in scenario.engine.agents:
            skills = tuple(
                (queue.queue_id, _proficiency(config, queue))
                for queue in scenario.engine.queues
                if _can_serve(config, queue)
            )
            group = groups.setdefault(skills, _Group(tuple(queue_id for queue_id, _ in skills)))
            self.agents.append(_Agent(config.agent_id, group))
        # Per queue, the groups that serve it: the most proficient first, then in order of appearance.
        ranked: dict[str, list[tuple[int, int, _Group]]] = {}
        for order, (skills, group) in enumerate(groups.items()):
            for queue_id, level in skills:
                ranked.setdefault(queue_id, []).append((-level, order, group))
        self.serving = {
            queue_id: [group for *_, group in sorted(entries, key=lambda e: (e[0], e[1]))]
            for queue_id, entries in ranked.items()
        }

    def run(self) -> None:
        self.env.process(self._callers())
        for agent in self.agents:
            self.env.process(self._work(agent, self.scenario.working(agent.agent_id)))
        self.env.run()

    def service_level(self, tenant_id: str | None) -> float:
        """Answered within T / (answered + abandoned), for one tenant or (None) all of them."""
        calls = self.calls if tenant_id is None else self.tenant_calls[tenant_id]
        within = sum(
            1 for c in calls if c.contact_id in self.waits and self.waits[c.contact_id] <= self.targets[c.tenant_id]
        )
        handled = sum(1 for c in calls if c.contact_id in self.waits or c.contact_id in self.abandoned)
        return within / handled if handled else 1.0

    def _callers(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        for call in self.calls:
            if call.arrived_at > env.now:
                yield env.timeout(call.arrived_at - env.now)
            agent = self._idle_agent(call.queue_id)
            if agent is not None:
                assert agent.wake is not None
                self._answer(call)
                agent.wake.succeed(call)
                continue
            waiting = _Waiting(call)
            self.lines[call.queue_id].append(waiting)
            if call.abandons_at is not None:
                env.process(self._patience(waiting, call.abandons_at))

    def _patience(self, waiting: _Waiting, abandons_at: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(abandons_at - self.env.now)
        if not waiting.taken:
            waiting.gone = True
            self.abandoned.add(waiting.call.contact_id)

    def _work(self, agent: _Agent, spans: Iterable[tuple[float, float]]) -> Generator[simpy.Event, Any, None]:
        env = self.env
        for start, end in spans:
            if start > env.now:
                yield env.timeout(start - env.now)
            while env.now < end:
                call = self._oldest(agent.group)
                if call is None:
                    wake = agent.wake = env.event()
                    agent.group.idle[agent] = None
                    yield wake if end == math.inf else wake | env.timeout(end - env.now)
                    if not wake.triggered:  # the span is over and nobody came
                        del agent.group.idle[agent]
                        break
                    call = wake.value
                    assert isinstance(call, Call)
                else:
                    self._answer(call)
                yield env.timeout(call.handle_seconds)

    def _idle_agent(self, queue_id: str) -> _Agent | None:
        for group in self.serving.get(queue_id, ()):
            if group.idle:
                agent = next(iter(group.idle))
                del group.idle[agent]
                return agent
        return None

    def _oldest(self, group: _Group) -> Call | None:
        best: deque[_Waiting] | None = None
        for queue_id in group.queues:
            line = self.lines[queue_id]
            while line and line[0].gone:
                line.popleft()
            if line and (best is None or line[0].call.arrived_at < best[0].call.arrived_at):
                best = line
        if best is None:
            return None
        waiting = best.popleft()
        waiting.taken = True
        return waiting.call

    def _answer(self, call: Call) -> None:
        self.waits[call.contact_id] = self.env.now - call.arrived_at


def _has_timed_rules(queue: QueueConfig) -> bool:
    return (
        bool(queue.relaxation)
        or queue.wrap_up_seconds > 0
        or any(
            rule is not None for rule in (queue.max_wait_seconds, queue.overflow_to, queue.callback_offer_after_seconds)
        )
    )


def _can_serve(agent: AgentConfig, queue: QueueConfig) -> bool:
    """The engine's static eligibility: tenant, hard attributes and the queue's (unrelaxed) skills."""
    tenant = queue.tenant_id
    levels: Mapping[str, int] = agent.skills.get(tenant, {})
    return (
        tenant in agent.tenants
        and queue.required_attributes <= agent.attributes.get(tenant, frozenset())
        and all(levels.get(req.skill, 0) >= req.min_proficiency for req in queue.skills)
    )


def _proficiency(agent: AgentConfig, queue: QueueConfig) -> int:
    """As the engine's best-proficiency policy sums it: the agent's levels in the queue's skills."""
    levels = agent.skills.get(queue.tenant_id, {})
    return sum(levels.get(req.skill, 0) for req in queue.skills)
