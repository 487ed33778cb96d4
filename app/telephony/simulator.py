"""The telephony simulator's pure core: seeded traffic and agents driving the real routing engine.

`simulate(scenario, seed)` runs a discrete-event loop (a heap of timed events, ties in push order) over
a `Scenario`: the engine configuration, one `Arrivals` per queue and the agents' behaviour.

- Arrivals: a Poisson process per queue whose rate is piecewise constant, from an intraday curve of
  (interval start, calls in that interval); each segment runs until the next start (the last one until
  the end of the run), and, the process being memoryless, restarting it at each boundary is exact.
  Arrivals stop at `duration_seconds`; the run then drains until every contact is over.
- Handle times: exponential with the given mean, or lognormal with the given mean and standard
  deviation (sigma in seconds, not the log-scale parameter).
- Patience: exponential with the given mean (a `ContactAbandoned` at its expiry unless an agent has
  answered by then, as a telephony layer reports no hang-up in line for a connected call), or none.
- Agents: an agent without a schedule logs in at time 0 and stays; one with `Shift`s logs in at each
  shift's start (at 0 if the shift began before the run), goes on break (`AgentState.BREAK`, reason
  "scheduled break") for `break_seconds` in the middle of the shift and logs out (`OFFLINE`) at its end.
  The engine withdraws an outstanding offer when the agent leaves (and offers the contact elsewhere), but
  a contact in progress, and its wrap-up, run to their end: the agent just takes nothing new. Agents
  answer an offer after a uniform delay and reject it with a probability (the engine then re-offers it);
  a delay at or past the offer timeout is a no-answer. An agent the engine puts on auto-break comes back
  after `break_seconds`, unless its schedule has meanwhile taken it off (break or logout: the schedule
  brings it back). Wrap-up ends at the engine's `WrapUpStarted.until`. Callers do not take callback
  offers. Voice only.
- Ticks: the engine fires its timers only when it gets an event, so the loop sends a `Tick` exactly
  when one of them is due (offer expiry, and each queue's relaxation, overflow, max-wait and callback
  delays) instead of a Tick every second.

Measures, per contact: arrival, whether it queued (no offer at arrival), answer time and agent (wait =
answer - arrival, as the engine counts it, so it includes the agent's accept delay), abandonment or
removal. Per agent: busy time, from an offer (a reserved agent takes nothing else) to the end of its
contact or wrap-up, counted inside [0, duration]. `Figures`: service level = answered within the
tenant's answer target / answered (`contract_service_level` also counts abandoned and removed contacts
against it, as the engine's attainment does); ASA = mean wait of answered contacts; occupancy = busy
time / staffed time, staffed time being agents x duration without schedules, else the time inside
[0, duration] that agents are on shift and not on a scheduled break (per tenant: the share of the
pool's staffed time spent on that tenant); p_wait = share of answered and abandoned contacts that queued.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from app.routing.engine import (
    AgentAutoBreak,
    AgentConfig,
    AgentLoggedIn,
    AgentState,
    AgentStateChanged,
    ContactAbandoned,
    ContactArrived,
    ContactEnded,
    Decision,
    EngineConfig,
    Event,
    Offer,
    OfferAccepted,
    OfferRejected,
    OfferRevoked,
    Overflow,
    QueueConfig,
    RemovalReason,
    Removed,
    RoutingEngine,
    TenantConfig,
    Tick,
    WrapUpEnded,
    WrapUpStarted,
)

PROGRESS_EVERY = 2_000  # loop steps between two progress reports


@dataclass(frozen=True, slots=True)
class HandleTime:
    mean_seconds: float
    sigma_seconds: float | None = None  # None: exponential; else lognormal with this standard deviation

    def __post_init__(self) -> None:
        if not self.mean_seconds > 0:
            raise ValueError("the mean handle time must be > 0")
        if self.sigma_seconds is not None and not self.sigma_seconds > 0:
            raise ValueError("the handle time's sigma must be > 0")

    def sample(self, rng: random.Random) -> float:
        if self.sigma_seconds is None:
            return rng.expovariate(1.0 / self.mean_seconds)
        log_var = math.log1p((self.sigma_seconds / self.mean_seconds) ** 2)
        return rng.lognormvariate(math.log(self.mean_seconds) - log_var / 2, math.sqrt(log_var))


@dataclass(frozen=True, slots=True)
class Arrivals:
    queue_id: str
    curve: tuple[tuple[float, float], ...]  # (interval start in seconds, calls per interval), by start
    interval_seconds: float
    handle: HandleTime
    patience_seconds: float | None = None  # mean of exponential patience; None: callers never hang up

    def __post_init__(self) -> None:
        if not self.interval_seconds > 0:
            raise ValueError("interval_seconds must be > 0")
        starts = [start for start, _ in self.curve]
        if not self.curve or starts != sorted(starts) or starts[0] < 0:
            raise ValueError("the arrival curve needs (start, calls) points with starts >= 0, in order")
        if any(calls < 0 for _, calls in self.curve):
            raise ValueError("calls per interval must be >= 0")
        if self.patience_seconds is not None and not self.patience_seconds > 0:
            raise ValueError("patience_seconds must be > 0")


@dataclass(frozen=True, slots=True)
class AgentBehaviour:
    accept_delay_seconds: tuple[float, float] = (0.0, 0.0)  # uniform between the two
    reject_probability: float = 0.0
    break_seconds: float = 60.0  # back from an auto-break after this

    def __post_init__(self) -> None:
        low, high = self.accept_delay_seconds
        if not 0 <= low <= high:
            raise ValueError("the accept delay must be a range 0 <= low <= high")
        if not 0 <= self.reject_probability < 1:
            raise ValueError("reject_probability must be in [0, 1)")
        if not self.break_seconds > 0:
            raise ValueError("break_seconds must be > 0")


@dataclass(frozen=True, slots=True)
class Shift:
    """On from `start_seconds` (negative: the shift began before the run) for `length_seconds`, with a break
    of `break_seconds` in its middle."""

    start_seconds: float
    length_seconds: float
    break_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not self.length_seconds > 0:
            raise ValueError("a shift's length must be > 0")
        if not 0 <= self.break_seconds < self.length_seconds:
            raise ValueError("a shift's break must be >= 0 and shorter than the shift")

    @property
    def end_seconds(self) -> float:
        return self.start_seconds + self.length_seconds

    def working(self) -> tuple[tuple[float, float], ...]:
        """The (from, to) spans the agent takes work: the shift without its break."""
        if self.break_seconds == 0:
            return ((self.start_seconds, self.end_seconds),)
        break_start = self.start_seconds + (self.length_seconds - self.break_seconds) / 2
        return ((self.start_seconds, break_start), (break_start + self.break_seconds, self.end_seconds))


@dataclass(frozen=True, slots=True)
class Scenario:
    engine: EngineConfig
    arrivals: tuple[Arrivals, ...]
    duration_seconds: float
    behaviour: AgentBehaviour = field(default_factory=AgentBehaviour)
    shifts: Mapping[str, tuple[Shift, ...]] = field(default_factory=dict)  # agent -> its shifts; absent: on from 0

    def __post_init__(self) -> None:
        if not self.duration_seconds > 0:
            raise ValueError("duration_seconds must be > 0")
        queues = {q.queue_id for q in self.engine.queues}
        unknown = sorted({a.queue_id for a in self.arrivals} - queues)
        if unknown:
            raise ValueError(f"arrivals for unknown queues: {', '.join(unknown)}")
        strangers = sorted(self.shifts.keys() - {a.agent_id for a in self.engine.agents})
        if strangers:
            raise ValueError(f"shifts for unknown agents: {', '.join(strangers)}")
        for agent_id, shifts in self.shifts.items():
            ordered = sorted(shifts, key=lambda s: s.start_seconds)
            if any(before.end_seconds > after.start_seconds for before, after in itertools.pairwise(ordered)):
                raise ValueError(f"agent {agent_id}: shifts overlap")

    def working(self, agent_id: str) -> tuple[tuple[float, float], ...]:
        """When the agent takes work, in time order: its shifts without their breaks, or all the time."""
        shifts = self.shifts.get(agent_id)
        if shifts is None:
            return ((0.0, math.inf),)
        return tuple(span for shift in sorted(shifts, key=lambda s: s.start_seconds) for span in shift.working())

    def staffed_seconds(self) -> float:
        """Agents' working time inside [0, duration]: the capacity occupancy is measured against."""
        duration = self.duration_seconds
        return math.fsum(
            max(0.0, min(end, duration) - max(start, 0.0))
            for agent in self.engine.agents
            for start, end in self.working(agent.agent_id)
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One sampled contact: when it arrives, how long it would talk, and when its caller would hang up."""

    contact_id: str
    tenant_id: str
    queue_id: str
    arrived_at: float
    handle_seconds: float
    abandons_at: float | None  # None: the caller never hangs up


@dataclass(frozen=True, slots=True)
class ContactOutcome:
    contact_id: str
    tenant_id: str
    queue_id: str  # where it arrived (it may have overflowed)
    arrived_at: float
    queued: bool  # no offer at arrival
    answered_at: float | None = None
    agent_id: str | None = None
    ended_at: float | None = None  # end of the talk (before any wrap-up)
    left_at: float | None = None  # abandoned or removed
    removal: RemovalReason | None = None

    @property
    def wait(self) -> float | None:
        end = self.answered_at if self.answered_at is not None else self.left_at
        return None if end is None else end - self.arrived_at


@dataclass(frozen=True, slots=True)
class Figures:
    offered: int
    answered: int
    abandoned: int
    removed: int  # taken out by the queue's max wait
    answered_within_target: int
    service_level: float
    asa_seconds: float
    occupancy: float
    p_wait: float

    @property
    def contract_service_level(self) -> float:
        """Answered within T / (answered + abandoned + removed), as the engine counts attainment; 1 when empty."""
        handled = self.answered + self.abandoned + self.removed
        return self.answered_within_target / handled if handled else 1.0


@dataclass(frozen=True, slots=True)
class SimulationResult:
    overall: Figures
    tenants: Mapping[str, Figures]
    contacts: tuple[ContactOutcome, ...]
    busy_seconds: Mapping[str, float]  # per agent, inside [0, duration]
    engine_events: int


def single_queue(
    *,
    agents: int,
    calls_per_interval: float,
    interval_seconds: float,
    aht_seconds: float,
    answer_target_seconds: float,
    duration_seconds: float,
    patience_seconds: float | None = None,
) -> Scenario:
    """One tenant, one queue, `agents` identical agents: the M/M/c(+M) set-up of `tenline simulate`."""
    if agents < 1:
        raise ValueError("agents must be >= 1")
    tenant = TenantConfig("tenant", answer_target_seconds=answer_target_seconds)
    queue = QueueConfig("queue", tenant.tenant_id)
    config = EngineConfig(
        tenants=(tenant,),
        queues=(queue,),
        agents=tuple(AgentConfig(f"agent-{i:05d}", frozenset({tenant.tenant_id})) for i in range(agents)),
    )
    arrivals = Arrivals(
        queue.queue_id,
        ((0.0, calls_per_interval),),
        interval_seconds,
        HandleTime(aht_seconds),
        patience_seconds,
    )
    return Scenario(config, (arrivals,), duration_seconds)


def simulate(scenario: Scenario, seed: int = 0, progress: Callable[[float], None] | None = None) -> SimulationResult:
    """Run the scenario through a fresh `RoutingEngine`; `progress` gets the simulated time now and then."""
    return _Run(scenario, random.Random(seed), progress).run()


def sample_calls(scenario: Scenario, rng: random.Random) -> Iterator[Call]:
    """The scenario's traffic, queue after queue (not in time order), drawn from `rng` as `simulate` draws it.

    `simulate(scenario, seed)` runs exactly `sample_calls(scenario, random.Random(seed))`, so another model
    given the same seed sees the same contacts.
    """
    duration = scenario.duration_seconds
    tenant_of = {q.queue_id: q.tenant_id for q in scenario.engine.queues}
    number = 0
    for arrivals in scenario.arrivals:
        tenant_id = tenant_of[arrivals.queue_id]
        bounds = [start for start, _ in arrivals.curve[1:]] + [duration]
        for (start, calls), end in zip(arrivals.curve, bounds, strict=True):
            rate = calls / arrivals.interval_seconds
            at = start
            while rate > 0:
                at += rng.expovariate(rate)
                if at >= min(end, duration):
                    break
                number += 1
                handle = arrivals.handle.sample(rng)
                patience = arrivals.patience_seconds
                gives_up = None if patience is None else at + rng.expovariate(1.0 / patience)
                yield Call(f"c{number}", tenant_id, arrivals.queue_id, at, handle, gives_up)


# --- the loop ----------------------------------------------------------------------------------------

# Entries: (time, push number, item), taken in that order. Items are engine events, or the loop's own items
# (an arrival, an answer to check, a schedule change, the end of an auto-break) that it turns into events.
# What is known before the loop starts (arrivals, schedules: most entries) is sorted once into a plan; the
# heap holds what the loop pushes, so it stays small. An arrival is planned as its contact id alone (a
# plain tuple the garbage collector soon stops tracking); its event is made, and its abandon pushed, when
# it comes. The abandon keeps the number it was given at planning, so entries keep the order they had.


@dataclass(frozen=True, slots=True)
class _Answer:
    contact_id: str
    agent_id: str
    token: int  # the offer it answers; a revoked or replaced offer makes it stale
    accept: bool


@dataclass(frozen=True, slots=True)
class _Rostered:
    """The agent's schedule changes its state (log in, break, back, log out)."""

    agent_id: str
    state: AgentState


@dataclass(frozen=True, slots=True)
class _BreakOver:
    agent_id: str
    token: int  # the auto-break it ends; a later auto-break makes it stale


_Item = Event | _Answer | _Rostered | _BreakOver | str  # a str: the contact id of an arrival
SCHEDULED_BREAK_REASON = "scheduled break"


@dataclass(slots=True)
class _Contact:
    tenant_id: str
    queue_id: str
    arrived_at: float
    handle_seconds: float
    abandons_at: float | None
    queued: bool = False
    answered_at: float | None = None
    agent_id: str | None = None
    ended_at: float | None = None
    left_at: float | None = None
    removal: RemovalReason | None = None


class _Run:
    def __init__(self, scenario: Scenario, rng: random.Random, progress: Callable[[float], None] | None) -> None:
        self.scenario = scenario
        self.rng = rng
        self.progress = progress
        self.engine = RoutingEngine(scenario.engine)
        self.rule_delays = {q.queue_id: _rule_delays(q) for q in scenario.engine.queues}
        self.plan: list[tuple[float, int, _Item]] = []
        self.heap: list[tuple[float, int, _Item]] = []
        self.running = False
        self.pushes = 0
        self.contacts: dict[str, _Contact] = {}
        self.offers: dict[str, tuple[str, int]] = {}  # contact -> (agent, token) of its outstanding offer
        self.tokens = 0
        self.engaged: dict[str, tuple[float, str]] = {}  # agent -> (since, tenant) while offered, talking, wrapping
        self.busy: dict[str, float] = {a.agent_id: 0.0 for a in scenario.engine.agents}
        self.tenant_busy: dict[str, float] = {t.tenant_id: 0.0 for t in scenario.engine.tenants}
        # What each agent's schedule says it should be now (an auto-break only ends into AVAILABLE).
        self.rostered: dict[str, AgentState] = {}
        self.auto_breaks: dict[str, int] = {}
        self.events = 0

    def push(self, at: float, item: _Item) -> None:
        self.pushes += 1
        if self.running:
            heapq.heappush(self.heap, (at, self.pushes, item))
        else:
            self.plan.append((at, self.pushes, item))

    def run(self) -> SimulationResult:
        for agent in self.scenario.engine.agents:
            self._roster(agent.agent_id)
        self._generate_arrivals()
        plan, heap = self.plan, self.heap
        plan.sort()
        self.running = True
        steps = 0
        planned, plan_end = 0, len(plan)  # the next entry of the plan
        while planned < plan_end or heap:
            if heap and (planned == plan_end or heap[0] < plan[planned]):
                at, number, item = heapq.heappop(heap)
            else:
                at, number, item = plan[planned]
                planned += 1
            match item:
                case str():
                    self._arrive(at, number, item)
                case _Answer():
                    self._answer(at, item)
                case _Rostered():
                    self.rostered[item.agent_id] = item.state
                    reason = SCHEDULED_BREAK_REASON if item.state is AgentState.BREAK else ""
                    self._send(at, AgentStateChanged(at, item.agent_id, item.state, reason))
                case _BreakOver():
                    if (
                        self.auto_breaks[item.agent_id] == item.token
                        and self.rostered[item.agent_id] is AgentState.AVAILABLE
                    ):
                        self._send(at, AgentStateChanged(at, item.agent_id, AgentState.AVAILABLE))
                case ContactAbandoned() if self.contacts[item.contact_id].answered_at is not None:
                    pass  # the caller is talking to an agent: a telephony layer reports no hang-up in line
                case _:
                    self._send(at, item)
            steps += 1
            if self.progress is not None and steps % PROGRESS_EVERY == 0:
                self.progress(min(at, self.scenario.duration_seconds))
        if self.progress is not None:
            self.progress(self.scenario.duration_seconds)
        return self._result()

    def _roster(self, agent_id: str) -> None:
        """Log the agent in at 0 for good, or push its schedule's changes (those before 0 apply at 0)."""
        if agent_id not in self.scenario.shifts:
            self.rostered[agent_id] = AgentState.AVAILABLE
            self.push(0.0, AgentLoggedIn(0.0, agent_id))
            return
        self.rostered[agent_id] = AgentState.OFFLINE
        changes: list[tuple[float, AgentState]] = []  # in time order: shifts do not overlap
        for shift in sorted(self.scenario.shifts[agent_id], key=lambda s: s.start_seconds):
            spans = shift.working()
            for number, (start, end) in enumerate(spans, 1):
                changes.append((start, AgentState.AVAILABLE))
                changes.append((end, AgentState.OFFLINE if number == len(spans) else AgentState.BREAK))
        started = [state for at, state in changes if at <= 0]
        if started and started[-1] is not AgentState.OFFLINE:
            self.push(0.0, _Rostered(agent_id, started[-1]))
        for at, state in changes:
            if at > 0:
                self.push(at, _Rostered(agent_id, state))

    def _generate_arrivals(self) -> None:
        for call in sample_calls(self.scenario, self.rng):
            self.contacts[call.contact_id] = _Contact(
                call.tenant_id, call.queue_id, call.arrived_at, call.handle_seconds, call.abandons_at
            )
            self.push(call.arrived_at, call.contact_id)
            if call.abandons_at is not None:
                self.pushes += 1  # the number of its abandon, pushed when it arrives

    def _arrive(self, at: float, number: int, contact_id: str) -> None:
        contact = self.contacts[contact_id]
        if contact.abandons_at is not None:
            abandon = ContactAbandoned(contact.abandons_at, contact_id)
            heapq.heappush(self.heap, (contact.abandons_at, number + 1, abandon))
        self.events += 1
        decisions = self.engine.handle(ContactArrived(at, contact_id, contact.tenant_id, contact.queue_id))
        # Queued unless offered by this very event; the queue's time rules need ticks when due.
        contact.queued = not any(isinstance(d, Offer) and d.contact_id == contact_id for d in decisions)
        self._tick_rules(at, contact.queue_id)
        self._apply(at, decisions)

    def _send(self, at: float, event: Event) -> None:
        self.events += 1
        decisions = self.engine.handle(event)
        if isinstance(event, ContactEnded):
            contact = self.contacts[event.contact_id]
            assert contact.agent_id is not None
            contact.ended_at = at
            self._release(at, contact.agent_id)  # before a WrapUpStarted engages the agent again
        elif isinstance(event, WrapUpEnded):
            self._release(at, event.agent_id)
        self._apply(at, decisions)

    def _tick_rules(self, at: float, queue_id: str) -> None:
        for delay in self.rule_delays[queue_id]:
            self.push(at + delay, Tick(at + delay))

    def _apply(self, at: float, decisions: list[Decision]) -> None:
        for decision in decisions:
            match decision:
                case Offer():
                    self._offered(at, decision)
                case OfferRevoked():
                    self.offers.pop(decision.contact_id, None)
                    self._release(at, decision.agent_id)
                case Removed():
                    contact = self.contacts[decision.contact_id]
                    contact.left_at, contact.removal = at, decision.reason
                case Overflow():
                    self._tick_rules(at, decision.to_queue)
                case AgentAutoBreak():
                    token = self.auto_breaks.get(decision.agent_id, 0) + 1
                    self.auto_breaks[decision.agent_id] = token
                    self.push(at + self.scenario.behaviour.break_seconds, _BreakOver(decision.agent_id, token))
                case WrapUpStarted():
                    self.engaged[decision.agent_id] = (at, self.contacts[decision.contact_id].tenant_id)
                    self.push(decision.until, WrapUpEnded(decision.until, decision.agent_id))
                case _:
                    pass  # callback offers are declined; wrap-up ends are accounted by WrapUpEnded

    def _offered(self, at: float, offer: Offer) -> None:
        behaviour = self.scenario.behaviour
        self.tokens += 1
        self.offers[offer.contact_id] = (offer.agent_id, self.tokens)
        self.engaged[offer.agent_id] = (at, offer.tenant_id)
        low, high = behaviour.accept_delay_seconds
        delay = self.rng.uniform(low, high) if high > low else low
        answer_at = at + delay
        accept = self.rng.random() >= behaviour.reject_probability if behaviour.reject_probability else True
        if answer_at >= offer.expires_at:
            self.push(offer.expires_at, Tick(offer.expires_at))  # no answer: the engine's timer revokes it
        else:
            self.push(answer_at, _Answer(offer.contact_id, offer.agent_id, self.tokens, accept))

    def _answer(self, at: float, answer: _Answer) -> None:
        if self.offers.get(answer.contact_id) != (answer.agent_id, answer.token):
            return  # revoked (abandoned, timed out) in the meantime
        if not answer.accept:
            del self.offers[answer.contact_id]
            self._release(at, answer.agent_id)
            self._send(at, OfferRejected(at, answer.contact_id, answer.agent_id))
            return
        self._send(at, OfferAccepted(at, answer.contact_id, answer.agent_id))
        if self.offers.get(answer.contact_id) != (answer.agent_id, answer.token):
            return  # an engine timer due at this instant revoked it first
        del self.offers[answer.contact_id]
        contact = self.contacts[answer.contact_id]
        contact.answered_at, contact.agent_id = at, answer.agent_id
        ends = at + contact.handle_seconds
        self.push(ends, ContactEnded(ends, answer.contact_id))

    def _release(self, at: float, agent_id: str) -> None:
        engaged = self.engaged.pop(agent_id, None)
        if engaged is None:
            return
        since, tenant_id = engaged
        duration = self.scenario.duration_seconds
        busy = max(0.0, min(at, duration) - min(since, duration))
        self.busy[agent_id] += busy
        self.tenant_busy[tenant_id] += busy

    def _result(self) -> SimulationResult:
        outcomes = tuple(
            ContactOutcome(
                contact_id,
                c.tenant_id,
                c.queue_id,
                c.arrived_at,
                c.queued,
                c.answered_at,
                c.agent_id,
                c.ended_at,
                c.left_at,
                c.removal,
            )
            for contact_id, c in self.contacts.items()
        )
        targets = {t.tenant_id: t.answer_target_seconds for t in self.scenario.engine.tenants}
        capacity = self.scenario.staffed_seconds()
        by_tenant: dict[str, list[ContactOutcome]] = {tenant_id: [] for tenant_id in self.tenant_busy}
        for outcome in outcomes:
            by_tenant[outcome.tenant_id].append(outcome)
        tenants = {
            tenant_id: _figures(by_tenant[tenant_id], targets, busy, capacity)
            for tenant_id, busy in self.tenant_busy.items()
        }
        overall = _figures(list(outcomes), targets, sum(self.busy.values()), capacity)
        return SimulationResult(overall, tenants, outcomes, dict(self.busy), self.events)


def _rule_delays(queue: QueueConfig) -> tuple[float, ...]:
    """The times in the queue at which one of its rules may apply (relaxation, max wait, overflow, callback)."""
    delays = {step.after_seconds for step in queue.relaxation}
    delays |= {
        d
        for d in (queue.max_wait_seconds, queue.overflow_after_seconds, queue.callback_offer_after_seconds)
        if d is not None
    }
    return tuple(sorted(delays))


def _figures(outcomes: list[ContactOutcome], targets: Mapping[str, float], busy: float, capacity: float) -> Figures:
    """The module docstring's measures; with nobody answered the service level is 0 (1 with no contact), with
    no staffed time the occupancy is 0."""
    answered = [o for o in outcomes if o.answered_at is not None]
    waits = [o.answered_at - o.arrived_at for o in answered if o.answered_at is not None]
    abandoned = sum(1 for o in outcomes if o.removal is RemovalReason.ABANDONED)
    finished = [o for o in outcomes if o.answered_at is not None or o.removal is RemovalReason.ABANDONED]
    within = sum(1 for o, wait in zip(answered, waits, strict=True) if wait <= targets[o.tenant_id])
    return Figures(
        offered=len(outcomes),
        answered=len(answered),
        abandoned=abandoned,
        removed=sum(1 for o in outcomes if o.removal is RemovalReason.MAX_WAIT),
        answered_within_target=within,
        service_level=within / len(answered) if answered else (0.0 if outcomes else 1.0),
        asa_seconds=math.fsum(waits) / len(waits) if waits else 0.0,
        occupancy=busy / capacity if capacity else 0.0,
        p_wait=sum(1 for o in finished if o.queued) / len(finished) if finished else 0.0,
    )
