"""Staffing plans: agents and staff per 15-minute interval, for one queue and for the shared pool. Pure.

One queue. For each interval's forecast (contacts, AHT) the agents are the fewest whose service level
within the queue's T reaches its target (Erlang C; Erlang A when a mean patience is given), and the staff
are those agents after shrinkage (`app.workforce.erlang.required_staff`). An interval with no contacts
forecast needs nobody; any contact at all needs one agent at least.

The shared pool, where agents serve several queues (of several tenants). The standard multi-skill
approximation: queues are joined into one **pool** when some agent can serve both (transitively: the
connected components of the agent-queue graph), each pool's contacts and workload are summed per
interval, and the pool is sized with Erlang on the pooled load (AHT = the contact-weighted mean) against
the strictest target of its queues (the shortest T, the highest share). The **skill groups** inside a
pool are its agents grouped by the exact set of its queues they can serve, with their headcount.

What the approximation assumes, and where it is wrong:
- It takes every agent of a pool as able to take every contact of it. Where skills only overlap in part,
  some free agents cannot take the waiting contact, so the real need lies between the pooled figure (a
  lower bound: full flexibility) and the sum of each queue sized alone (`dedicated_agents`, an upper
  bound: no sharing at all); both are given.
- Routing priorities and SLA-aware choice shift service between queues; the pool is sized for its
  strictest target, so a queue with a looser one is served better than it needs.
- Chat concurrency, overflow and callbacks are not modelled (one contact holds one agent), and Erlang's
  assumptions hold throughout (Poisson arrivals, exponential handle times, steady state per interval).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from app.workforce.erlang import Workload, evaluate, required_agents, required_staff
from app.workforce.forecast import INTERVAL_SECONDS


@dataclass(frozen=True, slots=True)
class Target:
    answer_target_seconds: float  # T
    service_level: float  # the share to answer within T, in (0, 1)
    patience_seconds: float | None = None  # Erlang A when given

    def __post_init__(self) -> None:
        if not (self.answer_target_seconds >= 0 and math.isfinite(self.answer_target_seconds)):
            raise ValueError("answer_target_seconds must be >= 0")
        if not (0 < self.service_level < 1):
            raise ValueError("service_level must be a fraction between 0 and 1, both excluded")


def strictest(targets: Iterable[Target]) -> Target:
    """The target a pool is sized for: the shortest T, the highest share, the longest patience (the closest to
    Erlang C, where nobody gives up; None, Erlang C itself, when any queue has no patience)."""
    chosen = list(targets)
    if not chosen:
        raise ValueError("no targets")
    patience = [t.patience_seconds for t in chosen]
    return Target(
        answer_target_seconds=min(t.answer_target_seconds for t in chosen),
        service_level=max(t.service_level for t in chosen),
        patience_seconds=None if None in patience else max(p for p in patience if p is not None),
    )


@dataclass(frozen=True, slots=True)
class Demand:
    """What one interval brings: contacts and their mean handle time."""

    start: dt.datetime
    calls: float
    aht_seconds: float


@dataclass(frozen=True, slots=True)
class IntervalPlan:
    start: dt.datetime
    calls: float
    aht_seconds: float
    load_erlangs: float
    agents: int  # working contacts
    staff: int  # scheduled: agents after shrinkage
    service_level: float  # at `agents`
    asa_seconds: float
    occupancy: float


def plan_interval(demand: Demand, target: Target, shrinkage: float) -> IntervalPlan:
    if demand.calls <= 0:
        return IntervalPlan(demand.start, 0.0, demand.aht_seconds, 0.0, 0, 0, 1.0, 0.0, 0.0)
    workload = Workload(demand.calls, INTERVAL_SECONDS, demand.aht_seconds, target.patience_seconds)
    agents = required_agents(workload, target.answer_target_seconds, target.service_level)
    figures = evaluate(workload, agents, target.answer_target_seconds)
    return IntervalPlan(
        start=demand.start,
        calls=demand.calls,
        aht_seconds=demand.aht_seconds,
        load_erlangs=workload.load,
        agents=agents,
        staff=required_staff(agents, shrinkage),
        service_level=figures.service_level,
        asa_seconds=figures.asa_seconds,
        occupancy=figures.occupancy,
    )


def plan_queue(demand: Sequence[Demand], target: Target, shrinkage: float) -> tuple[IntervalPlan, ...]:
    """One queue's plan, interval by interval."""
    return tuple(plan_interval(d, target, shrinkage) for d in demand)


# --- the shared pool -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SkillGroup:
    queues: frozenset[str]  # every queue its agents can serve
    agents: int  # headcount


@dataclass(frozen=True, slots=True)
class Pool:
    queues: tuple[str, ...]  # sorted
    skill_groups: tuple[SkillGroup, ...]  # largest first
    agents: int  # headcount of the skill groups


def pools(queues: Iterable[str], eligibility: Mapping[str, frozenset[str]]) -> tuple[Pool, ...]:
    """Queues joined wherever an agent can serve both (agent -> the queues it can serve); a queue nobody
    serves is a pool of its own with no agents. Pools come largest workforce first, then by first queue."""
    parent = {queue: queue for queue in queues}

    def root(queue: str) -> str:
        while parent[queue] != queue:
            parent[queue] = parent[parent[queue]]
            queue = parent[queue]
        return queue

    for served in eligibility.values():
        known = sorted(q for q in served if q in parent)
        for other in known[1:]:
            parent[root(other)] = root(known[0])
    members: dict[str, list[str]] = {}
    for queue in parent:
        members.setdefault(root(queue), []).append(queue)
    headcount: dict[frozenset[str], int] = {}
    for served in eligibility.values():
        known_set = frozenset(q for q in served if q in parent)
        if known_set:
            headcount[known_set] = headcount.get(known_set, 0) + 1
    found = []
    for queue_list in members.values():
        inside = set(queue_list)
        groups = sorted(
            (SkillGroup(served, count) for served, count in headcount.items() if served <= inside),
            key=lambda group: (-group.agents, sorted(group.queues)),
        )
        found.append(Pool(tuple(sorted(queue_list)), tuple(groups), sum(g.agents for g in groups)))
    return tuple(sorted(found, key=lambda pool: (-pool.agents, pool.queues)))


@dataclass(frozen=True, slots=True)
class PoolIntervalPlan:
    start: dt.datetime
    calls: float
    aht_seconds: float  # contact-weighted mean of the pool's queues
    load_erlangs: float
    agents: int  # pooled: the pool sized as one queue (full flexibility, a lower bound)
    staff: int
    dedicated_agents: int  # each queue sized alone and summed (no sharing, an upper bound)
    dedicated_staff: int


def plan_pool(
    pool: Pool,
    demand: Mapping[str, Sequence[Demand]],
    targets: Mapping[str, Target],
    shrinkage: float,
) -> tuple[PoolIntervalPlan, ...]:
    """The pool's plan per interval: ``demand`` gives every queue of the pool the same intervals."""
    series = [demand[queue] for queue in pool.queues]
    if not series:
        return ()
    count = len(series[0])
    if any(len(s) != count for s in series):
        raise ValueError("every queue of a pool needs the same intervals")
    target = strictest(targets[queue] for queue in pool.queues)
    plans = []
    for i in range(count):
        parts = [s[i] for s in series]
        start = parts[0].start
        if any(part.start != start for part in parts):
            raise ValueError("every queue of a pool needs the same intervals")
        calls = math.fsum(part.calls for part in parts)
        work = math.fsum(part.calls * part.aht_seconds for part in parts)
        aht = work / calls if calls > 0 else max(part.aht_seconds for part in parts)
        pooled = plan_interval(Demand(start, calls, aht), target, shrinkage)
        alone = [plan_interval(part, targets[queue], shrinkage) for queue, part in zip(pool.queues, parts, strict=True)]
        plans.append(
            PoolIntervalPlan(
                start=start,
                calls=calls,
                aht_seconds=aht,
                load_erlangs=pooled.load_erlangs,
                agents=pooled.agents,
                staff=pooled.staff,
                dedicated_agents=sum(p.agents for p in alone),
                dedicated_staff=sum(p.staff for p in alone),
            )
        )
    return tuple(plans)


# --- actual staff ---------------------------------------------------------------------------------------

OFFLINE = "offline"
BREAK = "break"


@dataclass(frozen=True, slots=True)
class Presence:
    at: dt.datetime
    state: str  # available, offered, on_contact, wrap_up, break, offline


@dataclass(frozen=True, slots=True)
class StaffedInterval:
    start: dt.datetime
    staffed: float | None  # mean agents not offline over the elapsed part; None: not begun
    available: float | None  # of them, the mean not on break


def staffed_per_interval(
    timelines: Iterable[Sequence[Presence]], start: dt.datetime, count: int, now: dt.datetime
) -> tuple[StaffedInterval, ...]:
    """Mean agents staffed in each interval from ``start``, from each agent's presence changes in time order.

    An agent is offline until its first change (give the last change before ``start`` to say otherwise).
    Time after ``now`` has not happened: an interval under way is averaged over its elapsed part.
    """
    step = INTERVAL_SECONDS
    staffed = [0.0] * count
    available = [0.0] * count
    end = min(start + dt.timedelta(seconds=step * count), now)

    def add(state: str, begin: dt.datetime, until: dt.datetime) -> None:
        begin, until = max(begin, start), min(until, end)
        if state == OFFLINE or until <= begin:
            return
        offset = (begin - start).total_seconds()
        finish = (until - start).total_seconds()
        while offset < finish:
            index = int(offset // step)
            upto = min(finish, (index + 1) * step)
            staffed[index] += upto - offset
            if state != BREAK:
                available[index] += upto - offset
            offset = upto

    for timeline in timelines:
        for current, following in zip(timeline, [*timeline[1:], None], strict=True):
            add(current.state, current.at, following.at if following else end)
    intervals = []
    for i in range(count):
        begin = start + dt.timedelta(seconds=step * i)
        elapsed = min(float(step), (now - begin).total_seconds())
        if elapsed <= 0:
            intervals.append(StaffedInterval(begin, None, None))
        else:
            intervals.append(StaffedInterval(begin, staffed[i] / elapsed, available[i] / elapsed))
    return tuple(intervals)
