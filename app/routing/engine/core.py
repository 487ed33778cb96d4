"""The routing state machine: `RoutingEngine.handle(event) -> list[Decision]` (rules in the package docstring)."""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, insort
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
    AgentView,
    AttainmentUpdated,
    CallbackCancelled,
    CallbackRequested,
    Channel,
    ContactAbandoned,
    ContactArrived,
    ContactEnded,
    ContactPolicy,
    ContactTransferred,
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
    QueueView,
    Reconfigured,
    RemovalReason,
    Removed,
    RevokeReason,
    RoutingError,
    SkillRequirement,
    TenantConfig,
    Tick,
    Transferred,
    WrapUpEnded,
    WrapUpFinished,
    WrapUpStarted,
)
from app.routing.engine.scoring import Attainment, aging_score, deficit, sla_score

AUTO_BREAK_REASON = "missed offers"

_EMPTY: frozenset[str] = frozenset()

# Events that name nothing the configuration could lack (a stale reference is ignored, not refused).
_UNCHECKED: frozenset[type] = frozenset(
    {
        CallbackRequested,
        CallbackCancelled,
        OfferAccepted,
        OfferRejected,
        OfferTimedOut,
        ContactEnded,
        ContactAbandoned,
        Tick,
    }
)

# Timer kinds (heap entries are (due, push number, kind, id, token); the push number keeps the order total).
_CONTACT_DUE = 0
_OFFER_EXPIRES = 1
_WRAP_UP_ENDS = 2


# A free agent's entry in a line of the free-agent index: the agent policy's key (see RoutingEngine._refresh).
_Entry = tuple[float, float, str]


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
    arrived_at: float  # original arrival: the place in line, kept across overflow, callback and transfer
    entered_at: float  # arrival in the current queue: relaxation, overflow, max wait and callback offer
    seq: int
    key: float = 0.0  # order inside the queue (see _key)
    ring: int = 0
    status: _Status = _Status.WAITING
    agent_id: str | None = None
    offer_no: int = 0
    callback_offered: bool = False
    answered: bool = False  # counted once for the service level, whatever transfers follow
    declined: frozenset[str] = _EMPTY  # agents who rejected it or let it time out


@dataclass(slots=True)
class _Agent:
    config: AgentConfig
    state: AgentState = AgentState.OFFLINE
    reason: str = ""
    offer: str | None = None
    voice: int = 0
    chats: int = 0
    held: list[str] = field(default_factory=list)  # connected contacts, in accept order (the counts above are faster)
    wrap_until: float | None = None
    wrap_tenant: str | None = None
    wrap_no: int = 0
    idle_since: float = 0.0
    misses: int = 0
    last_offer_no: int = -1
    contacts_today: int = 0
    load: dict[str, int] = field(default_factory=dict)  # tenant -> offers, contacts and wrap-up held
    departing: bool = False  # removed from the configuration: finishes its contacts and wrap-up, then leaves
    # Its place in the free-agent index (see RoutingEngine._refresh), None when not free.
    filed_as: tuple[bool, bool, float, float] | None = None  # (takes voice, takes chat, key's first two parts)


@dataclass(frozen=True, slots=True)
class _Tables:
    """Everything derived from a configuration alone, built (and validated) before it replaces the engine's."""

    tenants: dict[str, TenantConfig]
    queues: dict[str, QueueConfig]
    ring_after: dict[str, list[float]]  # queue -> when each relaxation step starts, in seconds in the queue
    ring_agents: dict[str, list[frozenset[str]]]  # queue -> per ring, the agents meeting hard rules and its skills
    key_factor: dict[str, float]  # queue -> seconds of waiting one priority level is worth (see _key)
    delays: dict[str, tuple[float, ...]]  # queue -> times in the queue at which one of its rules may apply
    agent_queues: dict[str, frozenset[str]]  # agent -> the queues it is in some ring of
    # The free-agent index (see RoutingEngine._refresh and _best_agent). A pool is the agents of a ring (rings
    # with the same agents and, under BEST_PROFICIENCY, the same tenant and skills share one); a class, the
    # agents in the same pools with the same proficiency in each, so in the same order in every one of them.
    # Free agents are kept in one sorted line per class: an agent's change moves it in that line only.
    ring_pools: dict[str, list[int]]  # queue -> per ring, its pool
    pool_classes: list[tuple[tuple[int, float], ...]]  # pool -> its (class, -proficiency under BEST_PROFICIENCY)
    agent_class: dict[str, int]
    class_count: int


def _meets(skills: Iterable[SkillRequirement], levels: Mapping[str, int]) -> bool:
    return all(levels.get(req.skill, 0) >= req.min_proficiency for req in skills)


class RoutingEngine:
    """Deterministic: the same configuration and events give the same decisions."""

    def __init__(self, config: EngineConfig) -> None:
        self._install(config, _tables(config))
        self._agents: dict[str, _Agent] = {a.agent_id: _Agent(a) for a in config.agents}
        # Per queue a line for each channel (voice, chat), so an agent with room for chats only never scans
        # the voice line.
        self._lines = _empty_queue_lines(self._queues)
        self._waiting: set[str] = set()  # the queues with contacts in line (offers out not counted)
        self._contacts: dict[str, _Contact] = {}
        self._free: set[str] = set()
        self._free_voice, self._free_chat = _empty_lines(self._class_count)
        self._logged_in = 0
        self._engaged: dict[str, int] = dict.fromkeys(self._tenants, 0)
        self._attainment: dict[str, Attainment] = {t: Attainment() for t in self._tenants}
        self._timers: list[tuple[float, int, int, str, int]] = []
        self._now = -math.inf
        self._interval = -math.inf
        self._day = -math.inf
        self._seq = 0
        self._offer_no = 0
        self._wrap_no = 0  # one sequence for every agent: a re-added agent never matches an old wrap-up timer
        self._push_no = 0
        self._out: list[Decision] = []

    def _install(self, config: EngineConfig, tables: _Tables) -> None:
        self.config = config
        self._tenants = tables.tenants
        self._queues = tables.queues
        self._ring_after = tables.ring_after
        self._ring_agents = tables.ring_agents
        self._key_factor = tables.key_factor
        self._delays = tables.delays
        self._agent_queues = tables.agent_queues
        self._ring_pools = tables.ring_pools
        self._pool_classes = tables.pool_classes
        self._agent_class = tables.agent_class
        self._class_count = tables.class_count

    # --- reading ------------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self._now

    def waiting(self, queue_id: str) -> tuple[str, ...]:
        """The contacts waiting in a queue, in queue order."""
        return tuple(entry[2] for entry in sorted(e for line in self._lines[queue_id] for e in line))

    def attainment(self, tenant_id: str) -> Attainment:
        counters = self._attainment[tenant_id]
        return Attainment(counters.answered, counters.answered_within_target, counters.abandoned)

    def engaged(self, tenant_id: str) -> int:
        """Agents holding an offer, a contact or a wrap-up of this tenant."""
        return self._engaged[tenant_id]

    def agent_view(self, agent_id: str) -> AgentView:
        """A configured agent, or a removed one still finishing its contacts or wrap-up."""
        agent = self._agents.get(agent_id)
        if agent is None:
            raise RoutingError(f"unknown agent {agent_id!r}")
        return AgentView(
            agent_id,
            agent.state,
            agent.reason,
            agent.offer,
            tuple(agent.held),
            agent.wrap_until,
            agent.idle_since,
            agent.departing,
        )

    def agents(self) -> tuple[AgentView, ...]:
        """Every agent `agent_view` knows, by agent id."""
        return tuple(self.agent_view(agent_id) for agent_id in sorted(self._agents))

    def queue_view(self, queue_id: str) -> QueueView:
        """A queue's line: how many wait (not counting offers out) and the first arrival among them."""
        queue = self._queues.get(queue_id)
        if queue is None:
            raise RoutingError(f"unknown queue {queue_id!r}")
        lines = self._lines[queue_id]
        oldest = min((self._contacts[entry[2]].arrived_at for line in lines for entry in line), default=None)
        return QueueView(queue_id, queue.tenant_id, sum(len(line) for line in lines), oldest)

    def queues(self) -> tuple[QueueView, ...]:
        """Every configured queue, in configuration order."""
        return tuple(self.queue_view(queue_id) for queue_id in self._queues)

    # --- the one entry point ------------------------------------------------------------------------

    def handle(self, event: Event) -> list[Decision]:
        """The decisions the event leads to. A RoutingError is raised before anything changes (time included)."""
        tables = None if type(event) in _UNCHECKED else self._check(event)  # spares the most frequent events
        out: list[Decision] = []
        self._out = out
        self._advance(event.at)
        match event:  # the most frequent first
            case ContactArrived():
                self._arrive(event)
            case OfferAccepted():
                self._accept(event.contact_id, event.agent_id)
            case ContactEnded():
                self._end(event.contact_id)
            case ContactAbandoned():
                self._abandon(event.contact_id)
            case Tick():
                pass
            case CallbackRequested():
                contact = self._contacts.get(event.contact_id)
                if contact is not None and contact.status is not _Status.CONNECTED:
                    contact.callback = True
            case CallbackCancelled():
                self._cancel_callback(event.contact_id)
            case AgentLoggedIn():
                self._set_state(self._agents[event.agent_id], AgentState.AVAILABLE, "")
            case AgentStateChanged():
                self._set_state(self._agents[event.agent_id], event.state, event.reason)
            case OfferRejected() | OfferTimedOut():
                contact = self._offered(event.contact_id, event.agent_id)
                if contact is not None:
                    self._miss(contact)
            case WrapUpEnded():
                agent = self._agents.get(event.agent_id)  # a removed agent leaves once its wrap-up ran out
                if agent is not None and agent.wrap_until is not None:
                    self._end_wrap_up(agent)
            case AttainmentUpdated():
                self._attainment[event.tenant_id] = Attainment(
                    event.answered, event.answered_within_target, event.abandoned
                )
            case ContactTransferred():
                self._transfer(event)
            case Reconfigured():
                assert tables is not None
                self._reconfigure(event.config, tables)
        return out

    def _check(self, event: Event) -> _Tables | None:
        """Refuse what the configuration forbids, before any change; for a new configuration, its tables."""
        match event:
            case ContactArrived():
                queue = self._queues.get(event.queue_id)
                if queue is None:
                    raise RoutingError(f"unknown queue {event.queue_id!r}")
                if queue.tenant_id != event.tenant_id:
                    raise RoutingError(f"queue {event.queue_id!r} does not belong to tenant {event.tenant_id!r}")
            case AgentLoggedIn() | AgentStateChanged():
                self._check_configured(event.agent_id)
            case WrapUpEnded() if event.agent_id not in self._agents:
                raise RoutingError(f"unknown agent {event.agent_id!r}")
            case AttainmentUpdated() if event.tenant_id not in self._tenants:
                raise RoutingError(f"unknown tenant {event.tenant_id!r}")
            case ContactTransferred():
                self._check_transfer(event)
            case Reconfigured():
                return _tables(event.config)
        return None

    def _check_configured(self, agent_id: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is None or agent.departing:
            raise RoutingError(f"unknown agent {agent_id!r}")

    def _check_transfer(self, event: ContactTransferred) -> None:
        if event.to_queue is None and event.to_agent is None:
            raise RoutingError("a transfer needs a queue or an agent to go to")
        if event.to_queue is not None and event.to_queue not in self._queues:
            raise RoutingError(f"unknown queue {event.to_queue!r}")
        if event.to_agent is not None:
            self._check_configured(event.to_agent)
            if event.to_agent == event.agent_id:
                raise RoutingError("an agent cannot transfer a contact to itself")
            if event.window_seconds <= 0:
                raise RoutingError("a transfer to an agent needs a window > 0")
        contact = self._held(event.contact_id, event.agent_id)
        if contact is None:
            return  # stale or replayed: ignored in `_transfer`, like an accept from an agent not offered the contact
        queue_id = contact.queue_id if event.to_queue is None else event.to_queue
        queue = self._queues.get(queue_id)
        if queue is None:
            raise RoutingError(f"the contact's queue {queue_id!r} is closed: name a queue to transfer to")
        if queue.tenant_id != contact.tenant_id:
            raise RoutingError(f"queue {queue_id!r} does not belong to the contact's tenant {contact.tenant_id!r}")
        if event.to_agent is not None and not self._could_take(
            event.to_agent, contact.tenant_id, contact.required_attributes, contact.channel, queue
        ):
            raise RoutingError(f"agent {event.to_agent!r} can never take this contact in queue {queue_id!r}")

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
                agent = self._agents.get(ident)
                if agent is not None and agent.wrap_no == token and agent.wrap_until is not None:
                    self._out.append(WrapUpFinished(agent.config.agent_id))
                    self._end_wrap_up(agent)
        if at > self._now:
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
                self._refresh(agent)  # FEWEST_CONTACTS: a new key

    def _push(self, due: float, kind: int, ident: str, token: int = 0) -> None:
        self._push_no += 1
        heapq.heappush(self._timers, (due, self._push_no, kind, ident, token))

    # --- contacts -----------------------------------------------------------------------------------

    def _arrive(self, event: ContactArrived) -> None:
        if event.contact_id in self._contacts:
            return  # a replayed arrival
        queue = self._queues[event.queue_id]
        self._seq += 1
        preferred = event.preferred_agent
        if preferred is not None and (
            event.preferred_window_seconds <= 0
            or not self._could_take(preferred, event.tenant_id, event.required_attributes, event.channel, queue)
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
        self._place(contact)

    def _key(self, contact: _Contact) -> float:
        """Order inside the queue: the scores grow with waiting alone, so the order is fixed at entry."""
        priority = self._queues[contact.queue_id].priority + contact.priority
        return contact.arrived_at - priority * self._key_factor[contact.queue_id]

    def _ring(self, contact: _Contact) -> int:
        # Compare with due times computed as the timers were (entered + delay), not with a subtracted wait:
        # float rounding must not leave a rule unapplied when its own timer fires.
        steps = self._ring_after[contact.queue_id]
        if not steps:
            return 0
        return sum(1 for after in steps if self._now >= contact.entered_at + after)

    def _start_in_queue(self, contact: _Contact) -> None:
        """Its place and ring in its current queue, and timers for the queue's time-based rules."""
        contact.key = self._key(contact)
        contact.ring = self._ring(contact)
        self._schedule(contact)

    def _enter(self, contact: _Contact) -> None:
        """Put a contact in line in its current queue."""
        self._start_in_queue(contact)
        self._join_line(contact)

    def _place(self, contact: _Contact) -> None:
        """Offer a contact entering its current queue to the best agent free for it, else put it in line."""
        self._start_in_queue(contact)
        agent = self._best_agent(contact)
        if agent is None:
            self._join_line(contact)
        else:
            self._offer(contact, agent)

    def _schedule(self, contact: _Contact) -> None:
        """Timers for the rules of the contact's queue not yet past, and for the end of its preferred window."""
        for delay in self._delays[contact.queue_id]:
            due = contact.entered_at + delay
            if due >= self._now:
                self._push(due, _CONTACT_DUE, contact.contact_id)
        if contact.preferred_agent is not None and contact.preferred_until >= self._now:
            self._push(contact.preferred_until, _CONTACT_DUE, contact.contact_id)

    def _join_line(self, contact: _Contact) -> None:
        line = self._lines[contact.queue_id][contact.channel is Channel.CHAT]
        insort(line, (contact.key, contact.seq, contact.contact_id))
        self._waiting.add(contact.queue_id)

    def _leave_line(self, contact: _Contact) -> None:
        lines = self._lines[contact.queue_id]
        line = lines[contact.channel is Channel.CHAT]
        del line[bisect_left(line, (contact.key, contact.seq, contact.contact_id))]
        if not any(lines):
            self._waiting.discard(contact.queue_id)

    def _requeue(self, contact: _Contact) -> None:
        """Back in line at its own place (after a miss or a revoked offer), then route it again."""
        contact.status = _Status.WAITING
        contact.agent_id = None
        self._join_line(contact)
        self._evaluate(contact)
        if contact.status is _Status.WAITING:
            self._route_contact(contact)

    def _evaluate(self, contact: _Contact) -> bool:
        """Apply the time-based rules to a waiting contact; True when its set of eligible agents may have grown."""
        queue = self._queues[contact.queue_id]

        def due(delay: float | None) -> bool:
            return delay is not None and self._now >= contact.entered_at + delay  # as in _ring

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
        ring = self._ring(contact)
        if ring != contact.ring:
            contact.ring = ring
            grown = True
        if contact.preferred_agent is not None and self._now >= contact.preferred_until:
            contact.preferred_agent = None
            grown = True
        return grown

    def _open_queue(self, contact: _Contact) -> QueueConfig | None:
        """The contact's queue, unless a new configuration closed it (or gave it to another tenant)."""
        queue = self._queues.get(contact.queue_id)
        return queue if queue is not None and queue.tenant_id == contact.tenant_id else None

    def _remove(self, contact: _Contact, reason: RemovalReason) -> None:
        contact.status = _Status.GONE
        del self._contacts[contact.contact_id]
        # A closed queue or a cancelled callback is no caller giving up; an answered (then transferred) contact
        # counted once already.
        if reason not in (RemovalReason.QUEUE_CLOSED, RemovalReason.CANCELLED) and not contact.answered:
            self._attainment[contact.tenant_id].abandoned += 1
        self._out.append(Removed(contact.contact_id, contact.queue_id, reason))

    def _abandon(self, contact_id: str) -> None:
        contact = self._contacts.get(contact_id)
        if contact is None or contact.callback or contact.status is _Status.CONNECTED:
            return  # a callback's caller has hung up on purpose; a connected contact ends with ContactEnded
        self._take_out(contact, RemovalReason.ABANDONED, RevokeReason.ABANDONED)

    def _cancel_callback(self, contact_id: str) -> None:
        contact = self._contacts.get(contact_id)
        if contact is None or not contact.callback or contact.status is _Status.CONNECTED:
            return  # over, taken by an agent, or a caller on the line (a callback handed on is one)
        self._take_out(contact, RemovalReason.CANCELLED, RevokeReason.CANCELLED)

    def _take_out(self, contact: _Contact, removal: RemovalReason, revoke: RevokeReason) -> None:
        """A contact waiting or on offer leaves for good; the agent it was offered to is free for the next one."""
        if contact.status is _Status.WAITING:
            self._leave_line(contact)
            self._remove(contact, removal)
            return
        agent = self._withdraw_offer(contact, revoke)
        self._remove(contact, removal)
        self._route_agent(agent)

    def _offered(self, contact_id: str, agent_id: str) -> _Contact | None:
        """The contact if it is on offer to this agent now (stale or replayed events name another state)."""
        contact = self._contacts.get(contact_id)
        if contact is None or contact.status is not _Status.OFFERED or contact.agent_id != agent_id:
            return None
        return contact

    def _held(self, contact_id: str, agent_id: str) -> _Contact | None:
        """The contact if it is connected to this agent now."""
        contact = self._contacts.get(contact_id)
        if contact is None or contact.status is not _Status.CONNECTED or contact.agent_id != agent_id:
            return None
        return contact

    # --- offers -------------------------------------------------------------------------------------

    def _offer(self, contact: _Contact, agent: _Agent) -> None:
        """Offer a contact out of line to the agent."""
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
        agent.held.append(contact_id)
        agent.misses = 0
        agent.contacts_today += 1
        if not contact.answered:
            contact.answered = True
            counters = self._attainment[contact.tenant_id]
            counters.answered += 1
            if self._now - contact.arrived_at <= self._tenants[contact.tenant_id].answer_target_seconds:
                counters.answered_within_target += 1
        self._refresh(agent)
        self._route_agent(agent)  # a chat agent may take more

    def _miss(self, contact: _Contact) -> None:
        """A rejected or timed-out offer: re-offer elsewhere, and count the miss against the agent."""
        agent = self._withdraw_offer(contact, None)
        contact.declined |= {agent.config.agent_id}
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
        contact.status = _Status.GONE
        del self._contacts[contact_id]
        self._settle(self._let_go(contact))

    def _let_go(self, contact: _Contact) -> _Agent:
        """The agent's side of a connected contact leaving it (ended or transferred): its room back, then the
        wrap-up of the contact's queue (none if a new configuration closed the queue)."""
        assert contact.agent_id is not None
        agent = self._agents[contact.agent_id]
        agent.held.remove(contact.contact_id)
        if contact.channel is Channel.VOICE:
            agent.voice -= 1
        else:
            agent.chats -= 1
        queue = self._open_queue(contact)
        wrap_up = 0.0 if queue is None else queue.wrap_up_seconds
        if wrap_up > 0:
            # Wrap-up blocks the agent for every queue; a newer wrap-up replaces a running one.
            if agent.wrap_tenant is not None:
                self._release(agent, agent.wrap_tenant)
            self._wrap_no += 1
            agent.wrap_no = self._wrap_no
            agent.wrap_until = self._now + wrap_up
            agent.wrap_tenant = contact.tenant_id
            self._hold(agent, contact.tenant_id)
            self._push(agent.wrap_until, _WRAP_UP_ENDS, agent.config.agent_id, agent.wrap_no)
            self._out.append(WrapUpStarted(agent.config.agent_id, contact.contact_id, agent.wrap_until))
        elif agent.voice == agent.chats == 0 and agent.wrap_until is None:
            agent.idle_since = self._now
        self._release(agent, contact.tenant_id)
        return agent

    def _end_wrap_up(self, agent: _Agent) -> None:
        assert agent.wrap_tenant is not None
        self._release(agent, agent.wrap_tenant)
        agent.wrap_until = None
        agent.wrap_tenant = None
        if agent.voice == agent.chats == 0:
            agent.idle_since = self._now
        self._settle(agent)

    def _transfer(self, event: ContactTransferred) -> None:
        """The contact leaves its agent and waits again (checked in _check_transfer): in the target queue at its
        first arrival's place, with the target agent preferred for the window, never back to the agent."""
        contact = self._held(event.contact_id, event.agent_id)
        if contact is None:
            return
        queue_id = contact.queue_id if event.to_queue is None else event.to_queue
        self._out.append(Transferred(contact.contact_id, event.agent_id, queue_id, event.to_agent))
        agent = self._let_go(contact)
        contact.status = _Status.WAITING
        contact.agent_id = None
        contact.queue_id = queue_id
        contact.entered_at = self._now
        contact.callback = False  # whatever it was, the caller is on the line now
        contact.callback_offered = False
        contact.declined = frozenset({event.agent_id})
        contact.preferred_agent = event.to_agent
        contact.preferred_until = self._now + event.window_seconds
        self._place(contact)
        self._settle(agent)

    # --- agents -------------------------------------------------------------------------------------

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

    def _settle(self, agent: _Agent) -> None:
        """After an agent let go of work: a removed agent holding nothing more leaves, any other may take work."""
        self._refresh(agent)
        if not self._retire(agent):
            self._route_agent(agent)

    def _retire(self, agent: _Agent) -> bool:
        """Forget a removed agent once it holds nothing (it never holds an offer: those were revoked)."""
        if agent.departing and not agent.held and agent.wrap_until is None:
            del self._agents[agent.config.agent_id]
            return True
        return False

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
        """Keep the set of agents that could take some contact now, and the free-agent index: a free agent is
        filed in its class's line (see _Tables) of each channel it can take now, by its key under the agent
        policy (see _agent_key; under BEST_PROFICIENCY without the proficiency, which is the class's).

        Called whenever what the key or the channels depend on may have changed; it moves the agent in the
        index only when they did."""
        voice, chat = self._takes(agent)
        agent_id = agent.config.agent_id
        filed_as: tuple[bool, bool, float, float] | None
        if not (voice or chat):
            self._free.discard(agent_id)
            filed_as = None
        else:
            self._free.add(agent_id)
            first, second, _ = self._agent_key(agent, None)
            filed_as = (voice, chat, first, second)
        if filed_as == agent.filed_as:
            return
        if agent.filed_as is not None:
            for line, entry in self._filed(agent_id, agent.filed_as):
                del line[bisect_left(line, entry)]
        agent.filed_as = filed_as
        if filed_as is not None:
            for line, entry in self._filed(agent_id, filed_as):
                insort(line, entry)

    def _filed(self, agent_id: str, filed_as: tuple[bool, bool, float, float]) -> list[tuple[list[_Entry], _Entry]]:
        """The lines a free agent is filed in, with its entry."""
        voice, chat, first, second = filed_as
        class_no = self._agent_class[agent_id]
        entry = (first, second, agent_id)
        return [
            (lines[class_no], entry) for takes, lines in ((voice, self._free_voice), (chat, self._free_chat)) if takes
        ]

    @staticmethod
    def _room(agent: _Agent) -> tuple[bool, bool]:
        """Channel capacity, offers aside: room for a voice contact, and for a chat."""
        if agent.voice:
            return False, False  # voice blocks everything
        return agent.config.voice and agent.chats == 0, agent.chats < agent.config.chat_capacity

    @classmethod
    def _takes(cls, agent: _Agent) -> tuple[bool, bool]:
        """Whether the agent can take a voice contact, and a chat, now."""
        if agent.state is not AgentState.AVAILABLE or agent.offer is not None or agent.wrap_until is not None:
            return False, False
        return cls._room(agent)

    @classmethod
    def _can_take(cls, agent: _Agent, channel: Channel) -> bool:
        return cls._takes(agent)[channel is Channel.CHAT]

    def _could_take(
        self, agent_id: str, tenant_id: str, required: frozenset[str], channel: Channel, queue: QueueConfig
    ) -> bool:
        """Could the agent ever take such a contact (in some ring of the queue, on that channel)?"""
        agent = self._agents.get(agent_id)
        return (
            agent is not None
            and any(agent_id in ring for ring in self._ring_agents[queue.queue_id])
            and required <= agent.config.attributes.get(tenant_id, _EMPTY)
            and (agent.config.voice if channel is Channel.VOICE else agent.config.chat_capacity > 0)
        )

    def _fits(self, agent: _Agent, contact: _Contact) -> bool:
        """Hard rules (tenant, attributes) and the soft skills as relaxed so far."""
        ring = self._ring_agents[contact.queue_id][contact.ring]
        attributes = agent.config.attributes.get(contact.tenant_id, _EMPTY)
        return agent.config.agent_id in ring and contact.required_attributes <= attributes

    def _eligible(self, agent: _Agent, contact: _Contact) -> bool:
        """Fits, has not declined it, within the preferred window is the preferred agent, can take the channel now."""
        agent_id = agent.config.agent_id
        return (
            (contact.preferred_agent is None or contact.preferred_agent == agent_id)
            and agent_id not in contact.declined
            and self._can_take(agent, contact.channel)
            and self._fits(agent, contact)
        )

    # --- reconfiguration ----------------------------------------------------------------------------

    def _reconfigure(self, config: EngineConfig, tables: _Tables) -> None:
        """Swap the configuration under the live state (rules in the package docstring)."""
        self._install(config, tables)
        agents: dict[str, _Agent] = {}
        for agent_config in config.agents:
            agent = self._agents.get(agent_config.agent_id) or _Agent(agent_config)
            agent.config = agent_config
            agent.departing = False
            agents[agent_config.agent_id] = agent
        for agent_id, agent in self._agents.items():
            if agent_id not in agents:
                agent.departing = True
                agent.state = AgentState.OFFLINE
                agent.reason = ""
                agents[agent_id] = agent
        self._agents = agents
        self._free_voice, self._free_chat = _empty_lines(self._class_count)
        for agent in agents.values():  # filed again by the new lines and keys in the _refresh below
            agent.filed_as = None

        self._lines = _empty_queue_lines(self._queues)
        self._waiting = set()
        self._timers = [timer for timer in self._timers if timer[2] != _CONTACT_DUE]
        heapq.heapify(self._timers)
        for contact in list(self._contacts.values()):
            if contact.status is not _Status.CONNECTED:
                self._reconfigure_contact(contact)
        for lines in self._lines.values():
            for line in lines:
                line.sort()

        self._engaged = dict.fromkeys(self._tenants, 0)
        for agent in self._agents.values():
            for tenant_id in agent.load:  # tenants removed stay counted while their contacts or wrap-up last
                self._engaged[tenant_id] = self._engaged.get(tenant_id, 0) + 1
        self._attainment = {t: self._attainment.get(t, Attainment()) for t in self._tenants}
        self._interval = self._now // config.interval_seconds  # the counters so far carry on
        self._day = self._now // config.day_seconds
        self._logged_in = sum(agent.state is not AgentState.OFFLINE for agent in self._agents.values())
        for agent in list(self._agents.values()):
            self._refresh(agent)
            self._retire(agent)

        for contact in list(self._contacts.values()):
            if contact.status is _Status.WAITING:
                self._evaluate(contact)
        waiting = [contact for contact in self._contacts.values() if contact.status is _Status.WAITING]
        for contact in sorted(waiting, key=self._rank, reverse=True):
            if not self._free:
                break
            self._route_contact(contact)

    def _reconfigure_contact(self, contact: _Contact) -> None:
        """A waiting or offered contact under the new configuration: closed out, or re-keyed and rescheduled."""
        queue = self._open_queue(contact)
        if queue is not None:
            contact.key = self._key(contact)
            contact.ring = self._ring(contact)
            if contact.preferred_agent is not None and not self._could_take(
                contact.preferred_agent, contact.tenant_id, contact.required_attributes, contact.channel, queue
            ):
                contact.preferred_agent = None
        if contact.status is _Status.OFFERED:
            assert contact.agent_id is not None
            agent = self._agents[contact.agent_id]
            if queue is None or not (self._fits(agent, contact) and self._room(agent)[contact.channel is Channel.CHAT]):
                self._withdraw_offer(contact, RevokeReason.CONFIG_CHANGED)
                contact.status = _Status.WAITING
                contact.agent_id = None
        if queue is None:
            if contact.status is _Status.WAITING:
                self._remove(contact, RemovalReason.QUEUE_CLOSED)
            return
        if contact.status is _Status.WAITING:
            self._lines[contact.queue_id][contact.channel is Channel.CHAT].append(
                (contact.key, contact.seq, contact.contact_id)
            )
            self._waiting.add(contact.queue_id)
        self._schedule(contact)

    # --- matching -----------------------------------------------------------------------------------

    def _route_contact(self, contact: _Contact) -> None:
        """A contact in line can be taken: give it to the best free eligible agent, by the agent policy."""
        agent = self._best_agent(contact)
        if agent is not None:
            self._leave_line(contact)
            self._offer(contact, agent)

    def _best_agent(self, contact: _Contact) -> _Agent | None:
        """The free eligible agent the agent policy prefers for the contact, if any."""
        if contact.preferred_agent is not None:
            preferred = self._agents[contact.preferred_agent]
            return preferred if self._eligible(preferred, contact) else None
        classes = self._pool_classes[self._ring_pools[contact.queue_id][contact.ring]]
        if len(classes) > len(self._free):
            return self._scan_free(contact)  # agents all unlike: fewer free ones to look at than lines
        # The lines of the ring's classes hold its free agents able to take the channel, best first: in each,
        # the first one meeting the contact's own rules; the best of those wins.
        lines = self._free_chat if contact.channel is Channel.CHAT else self._free_voice
        by_proficiency = self.config.agent_policy is AgentPolicy.BEST_PROFICIENCY
        required = contact.required_attributes
        declined = contact.declined
        best: _Agent | None = None
        best_key: _Entry | None = None
        for class_no, rank in classes:
            for entry in lines[class_no]:
                _, idle_since, agent_id = entry
                key = (rank, idle_since, agent_id) if by_proficiency else entry
                if best_key is not None and key > best_key:
                    break  # and so does the rest of the line
                if agent_id in declined:
                    continue
                agent = self._agents[agent_id]
                if required and not required <= agent.config.attributes.get(contact.tenant_id, _EMPTY):
                    continue
                best, best_key = agent, key
                break
        return best

    def _scan_free(self, contact: _Contact) -> _Agent | None:
        """The best agent by a look at every free one."""
        ring = self._ring_agents[contact.queue_id][contact.ring]
        best: _Agent | None = None
        best_key: _Entry | None = None
        for agent_id in self._free:
            if agent_id not in ring:
                continue
            agent = self._agents[agent_id]
            if not self._eligible(agent, contact):
                continue
            key = self._agent_key(agent, self._queues[contact.queue_id])
            if best_key is None or key < best_key:
                best, best_key = agent, key
        return best

    def _agent_key(self, agent: _Agent, queue: QueueConfig | None) -> _Entry:
        """The agent policy's key, smallest first; the agent id makes the order total (set order never matters):

        - LONGEST_IDLE (idle_since, 0, id); ROUND_ROBIN (last offer number, 0, id);
        - FEWEST_CONTACTS (contacts today, idle_since, id);
        - BEST_PROFICIENCY (-proficiency in the queue's skills, idle_since, id); 0 for it without a queue.
        """
        policy = self.config.agent_policy
        agent_id = agent.config.agent_id
        if policy is AgentPolicy.LONGEST_IDLE:
            return (agent.idle_since, 0.0, agent_id)
        if policy is AgentPolicy.ROUND_ROBIN:
            return (float(agent.last_offer_no), 0.0, agent_id)
        if policy is AgentPolicy.FEWEST_CONTACTS:
            return (float(agent.contacts_today), agent.idle_since, agent_id)
        proficiency = 0 if queue is None else _proficiency(agent.config, queue)
        return (-float(proficiency), agent.idle_since, agent_id)

    def _route_agent(self, agent: _Agent) -> None:
        """An agent can take work: give it the waiting contact that ranks highest (see _rank)."""
        if not self._waiting or agent.config.agent_id not in self._free:
            return
        best: _Contact | None = None
        best_rank: tuple[int, float, int] | None = None
        voice, chat = self._takes(agent)
        # The queues the agent is in that have contacts in line: the rank being a total order, any order does.
        mine = self._agent_queues[agent.config.agent_id]
        waiting = self._waiting
        for queue_id in waiting & mine:
            voice_line, chat_line = self._lines[queue_id]
            for line in (voice_line if voice else (), chat_line if chat else ()):
                for _, _, contact_id in line:
                    contact = self._contacts[contact_id]
                    if self._eligible(agent, contact):
                        rank = self._rank(contact)
                        if best_rank is None or rank > best_rank:
                            best, best_rank = contact, rank
                        break  # the line's order already ranks its own contacts
        if best is not None:
            self._leave_line(best)
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


def _empty_queue_lines(queues: Iterable[str]) -> dict[str, tuple[list[tuple[float, int, str]], ...]]:
    """Per queue, its lines of waiting contacts for voice and chat: (key, arrival number, contact), in order."""
    return {queue_id: ([], []) for queue_id in queues}


def _empty_lines(count: int) -> tuple[list[list[_Entry]], list[list[_Entry]]]:
    """The free-agent index's lines, one per class (see _Tables), for agents able to take voice, and chat."""
    return [[] for _ in range(count)], [[] for _ in range(count)]


def _tables(config: EngineConfig) -> _Tables:
    tenants = {t.tenant_id: t for t in config.tenants}
    queues = {q.queue_id: q for q in config.queues}
    _validate(config, tenants, queues)
    # Only agents assigned to a queue's tenant can be in its rings: index them so a large pool builds fast.
    assigned: dict[str, list[AgentConfig]] = {t: [] for t in tenants}
    for agent in config.agents:
        for tenant_id in agent.tenants:
            assigned[tenant_id].append(agent)
    ring_after: dict[str, list[float]] = {}
    ring_agents: dict[str, list[frozenset[str]]] = {}
    key_factor: dict[str, float] = {}
    delays: dict[str, tuple[float, ...]] = {}
    queues_of: dict[str, list[str]] = {a.agent_id: [] for a in config.agents}
    for queue in config.queues:
        queue_id = queue.queue_id
        rings = (queue.skills, *(step.skills for step in queue.relaxation))
        ring_after[queue_id] = [step.after_seconds for step in queue.relaxation]
        ring_agents[queue_id] = [
            frozenset(a.agent_id for a in assigned[queue.tenant_id] if _static_fit(a, queue, ring)) for ring in rings
        ]
        for agent_id in frozenset[str]().union(*ring_agents[queue_id]):
            queues_of[agent_id].append(queue_id)
        key_factor[queue_id] = (
            config.priority_weight * tenants[queue.tenant_id].answer_target_seconds
            if config.contact_policy is ContactPolicy.SLA_AWARE
            else config.priority_aging_seconds
        )
        timed = (queue.max_wait_seconds, queue.overflow_after_seconds, queue.callback_offer_after_seconds)
        delays[queue_id] = tuple(sorted({*ring_after[queue_id], *(s for s in timed if s is not None)}))
    ring_pools, pool_classes, agent_class = _free_index(config, ring_agents)
    return _Tables(
        tenants=tenants,
        queues=queues,
        ring_after=ring_after,
        ring_agents=ring_agents,
        key_factor=key_factor,
        delays=delays,
        agent_queues={agent_id: frozenset(qs) for agent_id, qs in queues_of.items()},
        ring_pools=ring_pools,
        pool_classes=pool_classes,
        agent_class=agent_class,
        class_count=len(set(agent_class.values())),
    )


def _free_index(
    config: EngineConfig, ring_agents: dict[str, list[frozenset[str]]]
) -> tuple[dict[str, list[int]], list[tuple[tuple[int, float], ...]], dict[str, int]]:
    """The pools of each queue's rings, the classes of each pool and the class of each agent (see _Tables)."""
    by_proficiency = config.agent_policy is AgentPolicy.BEST_PROFICIENCY
    agents = {a.agent_id: a for a in config.agents}
    pools: dict[tuple[frozenset[str], str, tuple[SkillRequirement, ...]], int] = {}
    ring_pools: dict[str, list[int]] = {}
    pools_of: dict[str, list[tuple[int, float]]] = {agent_id: [] for agent_id in agents}
    for queue in config.queues:
        ring_pools[queue.queue_id] = []
        for members in ring_agents[queue.queue_id]:
            # The agent key depends on the queue only through the proficiency in its tenant's skills.
            signature = (members, queue.tenant_id, queue.skills) if by_proficiency else (members, "", ())
            pool = pools.get(signature)
            if pool is None:
                pool = pools[signature] = len(pools)
                for agent_id in members:
                    rank = -float(_proficiency(agents[agent_id], queue)) if by_proficiency else 0.0
                    pools_of[agent_id].append((pool, rank))
            ring_pools[queue.queue_id].append(pool)
    classes: dict[tuple[tuple[int, float], ...], int] = {}  # an agent's (pool, -proficiency) pairs -> its class
    agent_class = {agent_id: classes.setdefault(tuple(pairs), len(classes)) for agent_id, pairs in pools_of.items()}
    pool_classes: list[list[tuple[int, float]]] = [[] for _ in pools]
    for pairs, class_no in classes.items():
        for pool, rank in pairs:
            pool_classes[pool].append((class_no, rank))
    return ring_pools, [tuple(members) for members in pool_classes], agent_class


def _proficiency(agent: AgentConfig, queue: QueueConfig) -> int:
    """BEST_PROFICIENCY: the agent's levels in the queue's (unrelaxed) skills, summed."""
    levels = agent.skills.get(queue.tenant_id, {})
    return sum(levels.get(req.skill, 0) for req in queue.skills)


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
