"""Configuration, events and decisions of the routing engine: plain, immutable values.

Time is a float number of seconds (any epoch; the engine only compares and subtracts). Every event
carries its own `at`; the engine has no clock of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"


class AgentState(StrEnum):
    AVAILABLE = "available"
    BREAK = "break"
    OFFLINE = "offline"


class AgentPolicy(StrEnum):
    """Which free eligible agent gets a contact."""

    LONGEST_IDLE = "longest_idle"
    BEST_PROFICIENCY = "best_proficiency"
    ROUND_ROBIN = "round_robin"
    FEWEST_CONTACTS = "fewest_contacts"


class ContactPolicy(StrEnum):
    """Which waiting contact a freed agent gets (see the scoring in `app.routing.engine`)."""

    PRIORITY_AGING = "priority_aging"
    SLA_AWARE = "sla_aware"


class RemovalReason(StrEnum):
    ABANDONED = "abandoned"
    MAX_WAIT = "max_wait"
    QUEUE_CLOSED = "queue_closed"  # its queue (or its tenant) left the configuration
    CANCELLED = "cancelled"  # a callback called off before an agent took it


class RevokeReason(StrEnum):
    TIMEOUT = "timeout"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"  # the callback on offer was called off
    AGENT_UNAVAILABLE = "agent_unavailable"
    CONFIG_CHANGED = "config_changed"  # a new configuration no longer lets the agent take the contact


# --- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantConfig:
    tenant_id: str
    weight: float = 1.0  # contractual weight: how much this tenant's risk counts
    answer_target_seconds: float = 20.0  # T: a contact answered within T counts for the service level
    service_level_target: float = 0.8  # X, as a fraction: share of contacts to answer within T
    guaranteed_share: float = 0.0  # minimum share of logged-in agents when the tenant has work waiting


@dataclass(frozen=True, slots=True)
class SkillRequirement:
    skill: str
    min_proficiency: int = 1


@dataclass(frozen=True, slots=True)
class RelaxationStep:
    """From `after_seconds` in the queue on, the soft skills required are `skills` (a wider ring)."""

    after_seconds: float
    skills: tuple[SkillRequirement, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueConfig:
    queue_id: str
    tenant_id: str
    priority: int = 0
    skills: tuple[SkillRequirement, ...] = ()  # soft: relaxed by `relaxation`
    relaxation: tuple[RelaxationStep, ...] = ()  # sorted by after_seconds
    required_attributes: frozenset[str] = frozenset()  # hard: never relaxed
    max_wait_seconds: float | None = None
    overflow_to: str | None = None  # a queue of the same tenant
    overflow_after_seconds: float | None = None
    wrap_up_seconds: float = 0.0
    callback_offer_after_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class AgentConfig:
    agent_id: str
    tenants: frozenset[str]  # tenants the agent is assigned to (hard)
    skills: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # tenant -> skill -> proficiency 1-5
    attributes: Mapping[str, frozenset[str]] = field(default_factory=dict)  # tenant -> languages, certifications...
    voice: bool = True
    chat_capacity: int = 0  # concurrent chats; a voice contact blocks everything


@dataclass(frozen=True, slots=True)
class EngineConfig:
    tenants: tuple[TenantConfig, ...]
    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentConfig, ...]
    offer_timeout_seconds: float = 15.0
    misses_before_break: int = 2  # consecutive rejected or timed-out offers
    agent_policy: AgentPolicy = AgentPolicy.LONGEST_IDLE
    contact_policy: ContactPolicy = ContactPolicy.SLA_AWARE
    priority_aging_seconds: float = 30.0  # PRIORITY_AGING: one priority level is worth this much waiting
    priority_weight: float = 0.25  # SLA_AWARE: one priority level is worth this share of the answer target
    starvation_guard_seconds: float = 300.0  # a contact waiting this long is served oldest-first before anything
    interval_seconds: float = 900.0  # attainment counters restart at each interval boundary
    day_seconds: float = 86_400.0  # "contacts today" restart at each day boundary


# --- events ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactArrived:
    at: float
    contact_id: str
    tenant_id: str
    queue_id: str
    channel: Channel = Channel.VOICE
    priority: int = 0
    required_attributes: frozenset[str] = frozenset()  # hard, e.g. "lang:fr", "cert:pci"
    callback: bool = False  # a callback request: nobody is on the line, so it neither abandons nor times out
    preferred_agent: str | None = None
    preferred_window_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """The caller accepted a callback: the contact keeps its place in line without holding the line."""

    at: float
    contact_id: str


@dataclass(frozen=True, slots=True)
class CallbackCancelled:
    """The callback is called off (by the tenant or its CRM): it leaves the line unless an agent has taken it."""

    at: float
    contact_id: str


@dataclass(frozen=True, slots=True)
class AgentLoggedIn:
    at: float
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    at: float
    agent_id: str
    state: AgentState
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OfferAccepted:
    at: float
    contact_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class OfferRejected:
    at: float
    contact_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class OfferTimedOut:
    at: float
    contact_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class ContactEnded:
    at: float
    contact_id: str


@dataclass(frozen=True, slots=True)
class WrapUpEnded:
    at: float
    agent_id: str


@dataclass(frozen=True, slots=True)
class ContactAbandoned:
    at: float
    contact_id: str


@dataclass(frozen=True, slots=True)
class AttainmentUpdated:
    """The SLA service's figures for the tenant's current interval; they replace the engine's own."""

    at: float
    tenant_id: str
    answered: int
    answered_within_target: int
    abandoned: int


@dataclass(frozen=True, slots=True)
class ContactTransferred:
    """The agent hands a connected contact on: to a queue, to an agent (preferred for `window_seconds`), or both."""

    at: float
    contact_id: str
    agent_id: str  # the agent holding the contact
    to_queue: str | None = None  # None: the contact's current queue (with to_agent)
    to_agent: str | None = None
    window_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class Reconfigured:
    """Tenants, queues and agents edited: the new configuration replaces the old one, the live state stays."""

    at: float
    config: EngineConfig


@dataclass(frozen=True, slots=True)
class Tick:
    at: float


Event = (
    ContactArrived
    | CallbackRequested
    | CallbackCancelled
    | AgentLoggedIn
    | AgentStateChanged
    | OfferAccepted
    | OfferRejected
    | OfferTimedOut
    | ContactEnded
    | WrapUpEnded
    | ContactAbandoned
    | AttainmentUpdated
    | ContactTransferred
    | Reconfigured
    | Tick
)


# --- decisions -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Offer:
    contact_id: str
    agent_id: str
    tenant_id: str
    queue_id: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class OfferRevoked:
    contact_id: str
    agent_id: str
    reason: RevokeReason


@dataclass(frozen=True, slots=True)
class Overflow:
    contact_id: str
    from_queue: str
    to_queue: str


@dataclass(frozen=True, slots=True)
class OfferCallback:
    contact_id: str
    queue_id: str


@dataclass(frozen=True, slots=True)
class Removed:
    contact_id: str
    queue_id: str
    reason: RemovalReason


@dataclass(frozen=True, slots=True)
class AgentAutoBreak:
    agent_id: str
    misses: int


@dataclass(frozen=True, slots=True)
class WrapUpStarted:
    agent_id: str
    contact_id: str
    until: float


@dataclass(frozen=True, slots=True)
class WrapUpFinished:
    """Wrap-up ran out on the engine's timer (not on a WrapUpEnded event)."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class Transferred:
    """A transfer took effect (a transfer naming a contact the agent does not hold gives no decision at all)."""

    contact_id: str
    from_agent: str
    to_queue: str
    to_agent: str | None


Decision = (
    Offer
    | OfferRevoked
    | Overflow
    | OfferCallback
    | Removed
    | AgentAutoBreak
    | WrapUpStarted
    | WrapUpFinished
    | Transferred
)


# --- read views ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentView:
    agent_id: str
    state: AgentState
    reason: str
    offer: str | None  # the contact on offer to the agent
    contacts: tuple[str, ...]  # connected contacts, in the order they were accepted
    wrap_until: float | None
    idle_since: float
    departing: bool  # removed from the configuration, finishing its contacts and wrap-up


@dataclass(frozen=True, slots=True)
class QueueView:
    queue_id: str
    tenant_id: str
    waiting: int  # not counting contacts on offer
    oldest_arrival: float | None  # first arrival (kept across overflow and transfer) of the longest waiting


class RoutingError(ValueError):
    """A bad configuration, an event naming a tenant, queue or agent the configuration lacks, or a transfer the
    configuration forbids. `handle` raises it before changing anything, so the caller can refuse the command."""
