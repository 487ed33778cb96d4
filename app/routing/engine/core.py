"""The routing state machine: `RoutingEngine.handle(event) -> list[Decision]` (rules in the package docstring)."""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from app.routing.engine.model import (
    AgentAutoBreak,
    AgentConfig,
    AgentLoggedIn,
    AgentPolicy,
    AgentState,
    AgentStateChanged,
    AttainmentUpdated,
    CallbackRequested,
    Channel,
    ContactAbandoned,
    ContactArrived,
    ContactEnded,
    ContactPolicy,
    Decision,
    EngineConfig,
    Event,
    Offer,
    OfferAccepted,
    OfferCallback,
    OfferRejected,
    OfferRevoked,
    OfferTimedOut,
    Overflow,
    QueueConfig,
    RemovalReason,
    Removed,
    RevokeReason,
    RoutingError,
    SkillRequirement,
    TenantConfig,
    Tick,
    WrapUpEnded,
    WrapUpFinished,
    WrapUpStarted,
)
from app.routing.engine.scoring import Attainment, aging_score, deficit, sla_score

AUTO_BREAK_REASON = "missed offers"

_EMPTY: frozenset[str] = frozenset()

# Timer kinds (heap entries are (due, push number, kind, id, token); the push number keeps the order total).
_CONTACT_DUE = 0
_OFFER_EXPIRES = 1
_WRAP_UP_ENDS = 2


class _Status(Enum):
    WAITING = 1
    OFFERED = 2
    CONNECTED = 3
    GONE = 4  # ended, abandoned or removed: references held during one event see it is over


@dataclass(slots=True)
class _Contact:
    contact_id: str
    tenant_id: str
    queue_id: str
    channel: Channel
    priority: int
    required_attributes: frozenset[str]
    callback: bool
    preferred_agent: str | None  # None once the window is over (or when the agent could never take it)
    preferred_until: float
    arrived_at: float  # original arrival: the place in line, kept across overflow and callback
    entered_at: float  # arrival in the current queue: relaxation, overflow, max wait and callback offer
    seq: int
    key: float = 0.0  # order inside the queue (see _queue_key)
    ring: int = 0
    status: _Status = _Status.WAITING
    agent_id: str | None = None
    offer_no: int = 0
    callback_offered: bool = False
    declined: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Agent:
    config: AgentConfig
    state: AgentState = AgentState.OFFLINE
    reason: str = ""
    offer: str | None = None
    voice: int = 0
    chats: int = 0
    wrap_until: float | None = None
    wrap_tenant: str | None = None
    wrap_no: int = 0
    idle_since: float = 0.0
    misses: int = 0
    last_offer_no: int = -1
    contacts_today: int = 0
    load: dict[str, int] = field(default_factory=dict)  # tenant -> offers, contacts and wrap-up held


def _meets(skills: Iterable[SkillRequirement], levels: Mapping[str, int]) -> bool:
    return all(levels.get(req.skill, 0) >= req.min_proficiency for req in skills)


class RoutingEngine:
    """Deterministic: the same configuration and events give the same decisions."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._tenants: dict[str, TenantConfig] = {t.tenant_id: t for t in config.tenants}
        self._queues: dict[str, QueueConfig] = {q.queue_id: q for q in config.queues}
        self._agents: dict[str, _Agent] = {a.agent_id: _Agent(a) for a in config.agents}
        _validate(config, self._tenants, self._queues)
        self._ring_after: dict[str, list[float]] = {}
        self._ring_agents: dict[str, list[frozenset[str]]] = {}
        self._key_factor: dict[str, float] = {}
        queues_of: dict[str, list[str]] = {a: [] for a in self._agents}
        for queue in config.queues:
            tenant = self._tenants[queue.tenant_id]
            rings = (queue.skills, *(step.skills for step in queue.relaxation))
            self._ring_after[queue.queue_id] = [step.after_seconds for step in queue.relaxation]
            self._ring_agents[queue.queue_id] = [
                frozenset(a.agent_id for a in config.agents if _static_fit(a, queue, ring)) for ring in rings
            ]
            for agent_id in sorted(set[str]().union(*self._ring_agents[queue.queue_id])):
                queues_of[agent_id].append(queue.queue_id)
            self._key_factor[queue.queue_id] = (
                config.priority_weight * tenant.answer_target_seconds
                if config.contact_policy is ContactPolicy.SLA_AWARE
                else config.priority_aging_seconds
            )
        self._agent_queues: dict[str, tuple[str, ...]] = {a: tuple(qs) for a, qs in queues_of.items()}
        # One line per queue and channel, so an agent with room for chats only never scans the voice line.
        self._lines: dict[tuple[str, Channel], list[tuple[float, int, str]]] = {
            (q, channel): [] for q in self._queues for channel in Channel
        }
        self._contacts: dict[str, _Contact] = {}
        self._free: set[str] = set()
        self._logged_in = 0
        self._engaged: dict[str, int] = dict.fromkeys(self._tenants, 0)
        self._attainment: dict[str, Attainment] = {t: Attainment() for t in self._tenants}
        self._timers: list[tuple[float, int, int, str, int]] = []
        self._now = -math.inf
        self._interval = -math.inf
        self._day = -math.inf
        self._seq = 0
        self._offer_no = 0
        self._push_no = 0
        self._out: list[Decision] = []

    # --- reading ------------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self._now

    def waiting(self, queue_id: str) -> tuple[str, ...]:
        """The contacts waiting in a queue, in queue order."""
        return tuple(entry[2] for entry in sorted(e for channel in Channel for e in self._lines[queue_id, channel]))

    def attainment(self, tenant_id: str) -> Attainment:
        counters = self._attainment[tenant_id]
        return Attainment(counters.answered, counters.answered_within_target, counters.abandoned)

    def engaged(self, tenant_id: str) -> int:
        """Agents holding an offer, a contact or a wrap-up of this tenant."""
        return self._engaged[tenant_id]

    # --- the one entry point ------------------------------------------------------------------------

    def handle(self, event: Event) -> list[Decision]:
        out: list[Decision] = []
        self._out = out
        self._advance(event.at)
        match event:
            case ContactArrived():
                self._arrive(event)
            case CallbackRequested():
                contact = self._contacts.get(event.contact_id)
                if contact is not None and contact.status is not _Status.CONNECTED:
                    contact.callback = True
            case AgentLoggedIn():
                self._set_state(self._agent(event.agent_id), AgentState.AVAILABLE, "")
            case AgentStateChanged():
                self._set_state(self._agent(event.agent_id), event.state, event.reason)
            case OfferAccepted():
                self._accept(event.contact_id, event.agent_id)
            case OfferRejected() | OfferTimedOut():
                contact = self._offered(event.contact_id, event.agent_id)
                if contact is not None:
                    self._miss(contact)
            case ContactEnded():
                self._end(event.contact_id)
            case WrapUpEnded():
                agent = self._agent(event.agent_id)
                if agent.wrap_until is not None:
                    self._end_wrap_up(agent)
            case ContactAbandoned():
                self._abandon(event.contact_id)
            case AttainmentUpdated():
                if event.tenant_id not in self._tenants:
                    raise RoutingError(f"unknown tenant {event.tenant_id!r}")
                self._attainment[event.tenant_id] = Attainment(
                    event.answered, event.answered_within_target, event.abandoned
                )
            case Tick():
                pass
        return out

    # --- time ---------------------------------------------------------------------------------------

    def _advance(self, at: float) -> None:
        """Fire every timer due by `at` at its own time, then stand at `at` (time never goes back)."""
        while self._timers and self._timers[0][0] <= at:
            due, _, kind, ident, token = heapq.heappop(self._timers)
            self._set_now(due)
            if kind == _CONTACT_DUE:
                contact = self._contacts.get(ident)
                if contact is not None and contact.status is _Status.WAITING and self._evaluate(contact):
                    self._route_contact(contact)
            elif kind == _OFFER_EXPIRES:
                contact = self._contacts.get(ident)
                if contact is not None and contact.status is _Status.OFFERED and contact.offer_no == token:
                    assert contact.agent_id is not None
                    self._out.append(OfferRevoked(contact.contact_id, contact.agent_id, RevokeReason.TIMEOUT))
                    self._miss(contact)
            else:
                agent = self._agents[ident]
                if agent.wrap_no == token and agent.wrap_until is not None:
                    self._out.append(WrapUpFinished(agent.config.agent_id))
                    self._end_wrap_up(agent)
        self._set_now(at)

    def _set_now(self, at: float) -> None:
        if at <= self._now:
            return
        self._now = at
        interval = at // self.config.interval_seconds
        if interval != self._interval:
            self._interval = interval
            self._attainment = {t: Attainment() for t in self._tenants}
        day = at // self.config.day_seconds
        if day != self._day:
            self._day = day
            for agent in self._agents.values():
                agent.contacts_today = 0

    def _push(self, due: float, kind: int, ident: str, token: int = 0) -> None:
        self._push_no += 1
        heapq.heappush(self._timers, (due, self._push_no, kind, ident, token))

    # --- contacts -----------------------------------------------------------------------------------

    def _arrive(self, event: ContactArrived) -> None:
        queue = self._queues.get(event.queue_id)
        if queue is None:
            raise RoutingError(f"unknown queue {event.queue_id!r}")
        if queue.tenant_id != event.tenant_id:
            raise RoutingError(f"queue {event.queue_id!r} does not belong to tenant {event.tenant_id!r}")
        if event.contact_id in self._contacts:
            return  # a replayed arrival
        self._seq += 1
        preferred = event.preferred_agent
        if preferred is not None and (
            event.preferred_window_seconds <= 0
            or preferred not in self._agents
            or not self._hard_fit(self._agents[preferred], event.tenant_id, event.required_attributes, queue)
        ):
            preferred = None  # an agent who could never take the contact is no preference
        contact = _Contact(
            contact_id=event.contact_id,
            tenant_id=event.tenant_id,
            queue_id=event.queue_id,
            channel=event.channel,
            priority=event.priority,
            required_attributes=event.required_attributes,
            callback=event.callback,
            preferred_agent=preferred,
            preferred_until=self._now + event.preferred_window_seconds,
            arrived_at=self._now,
            entered_at=self._now,
            seq=self._seq,
        )
        self._contacts[contact.contact_id] = contact
        self._enter(contact)
        if preferred is not None:
            self._push(contact.preferred_until, _CONTACT_DUE, contact.contact_id)
        self._route_contact(contact)

    def _enter(self, contact: _Contact) -> None:
        """Put a contact in line in its current queue and schedule the queue's time-based rules for it."""
        queue = self._queues[contact.queue_id]
        contact.key = contact.arrived_at - (queue.priority + contact.priority) * self._key_factor[queue.queue_id]
        contact.ring = bisect_right(self._ring_after[queue.queue_id], 0.0)
        insort(self._lines[queue.queue_id, contact.channel], (contact.key, contact.seq, contact.contact_id))
        dues = [step.after_seconds for step in queue.relaxation]
        dues += [
            s
            for s in (queue.max_wait_seconds, queue.overflow_after_seconds, queue.callback_offer_after_seconds)
            if s is not None
        ]
        for due in sorted(set(dues)):
            self._push(contact.entered_at + due, _CONTACT_DUE, contact.contact_id)

    def _leave_line(self, contact: _Contact) -> None:
        line = self._lines[contact.queue_id, contact.channel]
        del line[bisect_left(line, (contact.key, contact.seq, contact.contact_id))]

    def _requeue(self, contact: _Contact) -> None:
        """Back in line at its own place (after a miss or a revoked offer), then route it again."""
        contact.status = _Status.WAITING
        contact.agent_id = None
        insort(self._lines[contact.queue_id, contact.channel], (contact.key, contact.seq, contact.contact_id))
        self._evaluate(contact)
        if contact.status is _Status.WAITING:
            self._route_contact(contact)

    def _evaluate(self, contact: _Contact) -> bool:
        """Apply the time-based rules to a waiting contact; True when its set of eligible agents may have grown."""
        queue = self._queues[contact.queue_id]

        # Compare with due times computed as the timers were (entered + delay), not with a subtracted wait:
        # float rounding must not leave a rule unapplied when its own timer fires.
        def due(delay: float | None) -> bool:
            return delay is not None and self._now >= contact.entered_at + delay

        if not contact.callback and due(queue.max_wait_seconds):
            self._leave_line(contact)
            self._remove(contact, RemovalReason.MAX_WAIT)
            return False
        if queue.overflow_to is not None and due(queue.overflow_after_seconds):
            self._leave_line(contact)
            contact.queue_id = queue.overflow_to
            contact.entered_at = self._now
            contact.callback_offered = False
            self._out.append(Overflow(contact.contact_id, queue.queue_id, queue.overflow_to))
            self._enter(contact)
            return True
        if (
            not contact.callback
            and not contact.callback_offered
            and contact.channel is Channel.VOICE
            and due(queue.callback_offer_after_seconds)
        ):
            contact.callback_offered = True
            self._out.append(OfferCallback(contact.contact_id, queue.queue_id))
        grown = False
        ring = sum(1 for after in self._ring_after[queue.queue_id] if due(after))
        if ring != contact.ring:
            contact.ring = ring
            grown = True
        if contact.preferred_agent is not None and self._now >= contact.preferred_until:
            contact.preferred_agent = None
            grown = True
        return grown

    def _remove(self, contact: _Contact, reason: RemovalReason) -> None:
        contact.status = _Status.GONE
        del self._contacts[contact.contact_id]
        self._attainment[contact.tenant_id].abandoned += 1
        self._out.append(Removed(contact.contact_id, contact.queue_id, reason))

    def _abandon(self, contact_id: str) -> None:
        contact = self._contacts.get(contact_id)
        if contact is None or contact.callback or contact.status is _Status.CONNECTED:
            return  # a callback's caller has hung up on purpose; a connected contact ends with ContactEnded
        if contact.status is _Status.WAITING:
            self._leave_line(contact)
            self._remove(contact, RemovalReason.ABANDONED)
            return
        agent = self._withdraw_offer(contact, RevokeReason.ABANDONED)
        self._remove(contact, RemovalReason.ABANDONED)
        self._route_agent(agent)

    def _offered(self, contact_id: str, agent_id: str) -> _Contact | None:
        """The contact if it is on offer to this agent now (stale or replayed events name another state)."""
        contact = self._contacts.get(contact_id)
        if contact is None or contact.status is not _Status.OFFERED or contact.agent_id != agent_id:
            return None
        return contact

    # --- offers -------------------------------------------------------------------------------------

    def _offer(self, contact: _Contact, agent: _Agent) -> None:
        self._leave_line(contact)
        self._offer_no += 1
        contact.status = _Status.OFFERED
        contact.agent_id = agent.config.agent_id
        contact.offer_no = self._offer_no
        agent.offer = contact.contact_id
        agent.last_offer_no = self._offer_no
        self._hold(agent, contact.tenant_id)
        self._refresh(agent)
        expires_at = self._now + self.config.offer_timeout_seconds
        self._push(expires_at, _OFFER_EXPIRES, contact.contact_id, self._offer_no)
        self._out.append(
            Offer(contact.contact_id, agent.config.agent_id, contact.tenant_id, contact.queue_id, expires_at)
        )

    def _withdraw_offer(self, contact: _Contact, reason: RevokeReason | None) -> _Agent:
        """End the outstanding offer on the agent's side (announcing it unless the event came from outside)."""
        assert contact.agent_id is not None
        agent = self._agents[contact.agent_id]
        if reason is not None:
            self._out.append(OfferRevoked(contact.contact_id, contact.agent_id, reason))
        agent.offer = None
        self._release(agent, contact.tenant_id)
        self._refresh(agent)
        return agent

    def _accept(self, contact_id: str, agent_id: str) -> None:
        contact = self._offered(contact_id, agent_id)
        if contact is None:
            return
        agent = self._agents[agent_id]
        agent.offer = None
        contact.status = _Status.CONNECTED
        if contact.channel is Channel.VOICE:
            agent.voice += 1
        else:
            agent.chats += 1
        agent.misses = 0
        agent.contacts_today += 1
        counters = self._attainment[contact.tenant_id]
        counters.answered += 1
        if self._now - contact.arrived_at <= self._tenants[contact.tenant_id].answer_target_seconds:
            counters.answered_within_target += 1
        self._refresh(agent)
        self._route_agent(agent)  # a chat agent may take more

    def _miss(self, contact: _Contact) -> None:
        """A rejected or timed-out offer: re-offer elsewhere, and count the miss against the agent."""
        agent = self._withdraw_offer(contact, None)
        contact.declined.add(agent.config.agent_id)
        agent.misses += 1
        if agent.misses >= self.config.misses_before_break:
            self._out.append(AgentAutoBreak(agent.config.agent_id, agent.misses))
            agent.state = AgentState.BREAK
            agent.reason = AUTO_BREAK_REASON
            self._refresh(agent)
        self._requeue(contact)
        self._route_agent(agent)

    def _end(self, contact_id: str) -> None:
        contact = self._contacts.get(contact_id)
        if contact is None or contact.status is not _Status.CONNECTED:
            return
        assert contact.agent_id is not None
        contact.status = _Status.GONE
        del self._contacts[contact_id]
        agent = self._agents[contact.agent_id]
        if contact.channel is Channel.VOICE:
            agent.voice -= 1
        else:
            agent.chats -= 1
        wrap_up = self._queues[contact.queue_id].wrap_up_seconds
        if wrap_up > 0:
            # Wrap-up blocks the agent for every queue; a newer wrap-up replaces a running one.
            if agent.wrap_tenant is not None:
                self._release(agent, agent.wrap_tenant)
            agent.wrap_no += 1
            agent.wrap_until = self._now + wrap_up
            agent.wrap_tenant = contact.tenant_id
            self._hold(agent, contact.tenant_id)
            self._push(agent.wrap_until, _WRAP_UP_ENDS, agent.config.agent_id, agent.wrap_no)
            self._out.append(WrapUpStarted(agent.config.agent_id, contact_id, agent.wrap_until))
        elif agent.voice == agent.chats == 0 and agent.wrap_until is None:
            agent.idle_since = self._now
        self._release(agent, contact.tenant_id)
        self._refresh(agent)
        self._route_agent(agent)

    def _end_wrap_up(self, agent: _Agent) -> None:
        assert agent.wrap_tenant is not None
        self._release(agent, agent.wrap_tenant)
        agent.wrap_until = None
        agent.wrap_tenant = None
        if agent.voice == agent.chats == 0:
            agent.idle_since = self._now
        self._refresh(agent)
        self._route_agent(agent)

    # --- agents -------------------------------------------------------------------------------------

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise RoutingError(f"unknown agent {agent_id!r}")
        return agent

    def _set_state(self, agent: _Agent, state: AgentState, reason: str) -> None:
        old = agent.state
        self._logged_in += (state is not AgentState.OFFLINE) - (old is not AgentState.OFFLINE)
        agent.state = state
        agent.reason = reason
        if state is AgentState.AVAILABLE and old is not AgentState.AVAILABLE:
            agent.misses = 0
            agent.idle_since = self._now
        if state is not AgentState.AVAILABLE and agent.offer is not None:
            contact = self._contacts[agent.offer]
            self._withdraw_offer(contact, RevokeReason.AGENT_UNAVAILABLE)
            self._requeue(contact)
        self._refresh(agent)
        self._route_agent(agent)

    def _hold(self, agent: _Agent, tenant_id: str) -> None:
        held = agent.load.get(tenant_id, 0)
        agent.load[tenant_id] = held + 1
        if held == 0:
            self._engaged[tenant_id] += 1

    def _release(self, agent: _Agent, tenant_id: str) -> None:
        held = agent.load[tenant_id] - 1
        if held:
            agent.load[tenant_id] = held
        else:
            del agent.load[tenant_id]
            self._engaged[tenant_id] -= 1

    def _refresh(self, agent: _Agent) -> None:
        """Keep the set of agents that could take some contact now."""
        if self._can_take(agent, Channel.VOICE) or self._can_take(agent, Channel.CHAT):
            self._free.add(agent.config.agent_id)
        else:
            self._free.discard(agent.config.agent_id)

    @staticmethod
    def _can_take(agent: _Agent, channel: Channel) -> bool:
        if agent.state is not AgentState.AVAILABLE or agent.offer is not None or agent.wrap_until is not None:
            return False
        if agent.voice:
            return False  # voice blocks everything
        if channel is Channel.VOICE:
            return agent.config.voice and agent.chats == 0
        return agent.chats < agent.config.chat_capacity

    def _hard_fit(self, agent: _Agent, tenant_id: str, required: frozenset[str], queue: QueueConfig) -> bool:
        """Could the agent ever take this contact (in some ring of the queue)?"""
        agent_id = agent.config.agent_id
        return required <= agent.config.attributes.get(tenant_id, _EMPTY) and any(
            agent_id in ring for ring in self._ring_agents[queue.queue_id]
        )

    def _eligible(self, agent: _Agent, contact: _Contact) -> bool:
        """Hard rules (tenant, attributes) always; soft skills as relaxed so far; capacity now."""
        agent_id = agent.config.agent_id
        return (
            (contact.preferred_agent is None or contact.preferred_agent == agent_id)
            and agent_id in self._ring_agents[contact.queue_id][contact.ring]
            and contact.required_attributes <= agent.config.attributes.get(contact.tenant_id, _EMPTY)
            and agent_id not in contact.declined
            and self._can_take(agent, contact.channel)
        )

    # --- matching -----------------------------------------------------------------------------------

    def _route_contact(self, contact: _Contact) -> None:
        """A contact can be taken: give it to the best free eligible agent, by the agent policy."""
        if contact.preferred_agent is not None:
            preferred = self._agents[contact.preferred_agent]
            if self._eligible(preferred, contact):
                self._offer(contact, preferred)
            return
        ring = self._ring_agents[contact.queue_id][contact.ring]
        pool = self._free if len(self._free) < len(ring) else ring
        best: _Agent | None = None
        best_key: tuple[float, float, str] | None = None
        for agent_id in pool:
            if agent_id not in self._free or agent_id not in ring:
                continue
            agent = self._agents[agent_id]
            if not self._eligible(agent, contact):
                continue
            key = self._agent_key(agent, contact)
            if best_key is None or key < best_key:
                best, best_key = agent, key
        if best is not None:
            self._offer(contact, best)

    def _agent_key(self, agent: _Agent, contact: _Contact) -> tuple[float, float, str]:
        """Smallest wins; the agent id makes the order total, so set iteration order never matters."""
        policy = self.config.agent_policy
        agent_id = agent.config.agent_id
        if policy is AgentPolicy.LONGEST_IDLE:
            return (agent.idle_since, 0.0, agent_id)
        if policy is AgentPolicy.ROUND_ROBIN:
            return (float(agent.last_offer_no), 0.0, agent_id)
        if policy is AgentPolicy.FEWEST_CONTACTS:
            return (float(agent.contacts_today), agent.idle_since, agent_id)
        levels = agent.config.skills.get(contact.tenant_id, {})
        proficiency = sum(levels.get(req.skill, 0) for req in self._queues[contact.queue_id].skills)
        return (-float(proficiency), agent.idle_since, agent_id)

    def _route_agent(self, agent: _Agent) -> None:
        """An agent can take work: give it the waiting contact that ranks highest (see _rank)."""
        if agent.config.agent_id not in self._free:
            return
        best: _Contact | None = None
        best_rank: tuple[int, float, int] | None = None
        channels = [channel for channel in Channel if self._can_take(agent, channel)]
        for queue_id in self._agent_queues[agent.config.agent_id]:
            for channel in channels:
                for _, _, contact_id in self._lines[queue_id, channel]:
                    contact = self._contacts[contact_id]
                    if self._eligible(agent, contact):
                        rank = self._rank(contact)
                        if best_rank is None or rank > best_rank:
                            best, best_rank = contact, rank
                        break  # the line's order already ranks its own contacts
        if best is not None:
            self._offer(best, agent)

    def _rank(self, contact: _Contact) -> tuple[int, float, int]:
        """Largest wins: starving contacts oldest first, then tenants under their guarantee, then the score."""
        wait = self._now - contact.arrived_at
        if wait >= self.config.starvation_guard_seconds:
            return (2, wait, -contact.seq)
        tenant = self._tenants[contact.tenant_id]
        tier = 1 if self._engaged[tenant.tenant_id] < tenant.guaranteed_share * self._logged_in else 0
        return (tier, self.score(contact.contact_id), -contact.seq)

    def score(self, contact_id: str) -> float:
        """The contact-selection score of a waiting contact now (formulas in the package docstring)."""
        contact = self._contacts[contact_id]
        tenant = self._tenants[contact.tenant_id]
        wait = self._now - contact.arrived_at
        priority = self._queues[contact.queue_id].priority + contact.priority
        if self.config.contact_policy is ContactPolicy.PRIORITY_AGING:
            return aging_score(wait, priority, self.config.priority_aging_seconds)
        risk = deficit(self._attainment[tenant.tenant_id], tenant.service_level_target)
        return sla_score(wait, tenant.answer_target_seconds, risk, tenant.weight, priority, self.config.priority_weight)


def _static_fit(agent: AgentConfig, queue: QueueConfig, skills: tuple[SkillRequirement, ...]) -> bool:
    """Tenant assignment, the queue's hard attributes and one ring of its soft skills."""
    tenant_id = queue.tenant_id
    return (
        tenant_id in agent.tenants
        and queue.required_attributes <= agent.attributes.get(tenant_id, _EMPTY)
        and _meets(skills, agent.skills.get(tenant_id, {}))
    )


def _validate(config: EngineConfig, tenants: dict[str, TenantConfig], queues: dict[str, QueueConfig]) -> None:
    if len(tenants) != len(config.tenants) or len(queues) != len(config.queues):
        raise RoutingError("tenant and queue ids must be unique")
    if len({a.agent_id for a in config.agents}) != len(config.agents):
        raise RoutingError("agent ids must be unique")
    if sum(t.guaranteed_share for t in config.tenants) > 1:
        raise RoutingError("guaranteed shares add up to more than the whole pool")
    for tenant in config.tenants:
        if tenant.answer_target_seconds <= 0 or not 0 < tenant.service_level_target <= 1:
            raise RoutingError(f"tenant {tenant.tenant_id!r}: the target needs T > 0 and 0 < X <= 1")
    for queue in config.queues:
        if queue.tenant_id not in tenants:
            raise RoutingError(f"queue {queue.queue_id!r}: unknown tenant {queue.tenant_id!r}")
        steps = [step.after_seconds for step in queue.relaxation]
        if steps != sorted(steps):
            raise RoutingError(f"queue {queue.queue_id!r}: relaxation steps must be sorted by time")
        if queue.overflow_to is not None:
            target = queues.get(queue.overflow_to)
            after = queue.overflow_after_seconds
            if target is None or target.tenant_id != queue.tenant_id or after is None or after <= 0:
                raise RoutingError(
                    f"queue {queue.queue_id!r}: overflow needs a queue of the same tenant and a time > 0"
                )
    for agent in config.agents:
        unknown = agent.tenants - tenants.keys()
        if unknown:
            raise RoutingError(f"agent {agent.agent_id!r}: unknown tenants {sorted(unknown)}")
