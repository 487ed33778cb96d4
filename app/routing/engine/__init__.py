"""The pure routing engine: a deterministic state machine from events to decisions.

No I/O, no clock: every event carries `at`, a float number of seconds (any epoch), and the engine's
time only moves forward (an event older than the last one is handled at the last one's time). Before
applying an event, the engine fires every timer due by its `at` (offer timeouts, wrap-up ends,
relaxation steps, overflow, max wait, callback offers, preferred-agent windows) at the timer's own
time, so `Tick(at)` only advances time. The same configuration and events always give the same
decisions: every choice ends on a total order (arrival sequence number, agent id).

Eligibility. Hard rules are never relaxed: the agent is assigned to the contact's tenant, holds the
queue's and the contact's required attributes (languages, certifications, clearances) for that
tenant. Soft skills form rings: the queue's `skills`, then each `RelaxationStep` from its
`after_seconds` in the queue on. The agent must also be able to take the channel now: available, no
offer outstanding, not in wrap-up (which blocks every queue), no voice contact, and for voice no chat,
for chat fewer chats than its capacity. During a preferred-agent window only that agent is eligible.

Agent selection (a contact can be taken and several agents are free): `AgentPolicy` - longest idle,
best proficiency (sum over the queue's skills), round robin (least recently offered), fewest
contacts today; ties go to the longest idle, then the smallest agent id.

Contact selection (an agent frees up and several contacts wait): per queue, the first eligible
contact in queue order; across queues the largest rank, compared as a tuple:

1. starvation guard: a contact that has waited `starvation_guard_seconds` since its first arrival
   ranks above everything, oldest first;
2. guaranteed capacity: a contact whose tenant holds fewer than `guaranteed_share` x logged-in
   agents (agents with an offer, contact or wrap-up of the tenant) ranks above the rest;
3. the score, then the earlier arrival.

Scores, with `wait` since the contact's first arrival and P = queue priority + contact priority:

- PRIORITY_AGING: `wait + P * priority_aging_seconds`.
- SLA_AWARE: `W * (wait / T + D + beta * P)`, where W is the tenant's contract weight, T its answer
  target, beta `priority_weight`, and D its deficit in the current interval: with
  `A = answered within T / (answered + abandoned)` (from the engine's own decisions and events, or as
  last received in `AttainmentUpdated`), `D = max(0, X - A) / X` for a target X; D = 0 with no data.
  So a tenant missing its target by half its X counts as if its contacts had waited T/2 longer, and
  a tenant with twice the weight counts its waiting double.

Both scores depend on time only through `wait`, so the order inside a queue is fixed at entry
(key `arrival - P * c`, with c = `priority_aging_seconds`, or `beta * T` for SLA_AWARE). Since scores
grow without bound with waiting, since guarantees stop once the tenant holds its share and since the
guard serves long waiters oldest first, no waiting eligible contact waits for ever while agents free
up.

Reservations: an offer expires after `offer_timeout_seconds`; a reject or timeout puts the contact back
at its own place and re-offers it to another agent (it is never offered again to one that declined);
`misses_before_break` consecutive misses put the agent on break (`AgentAutoBreak`). Callbacks keep
their original place and do not abandon or expire by max wait. Overflow moves a contact to another
queue of the same tenant after a wait in its queue, keeping its first arrival for the order.
"""

from app.routing.engine.core import AUTO_BREAK_REASON, RoutingEngine
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
    RelaxationStep,
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

__all__ = [
    "AUTO_BREAK_REASON",
    "AgentAutoBreak",
    "AgentConfig",
    "AgentLoggedIn",
    "AgentPolicy",
    "AgentState",
    "AgentStateChanged",
    "Attainment",
    "AttainmentUpdated",
    "CallbackRequested",
    "Channel",
    "ContactAbandoned",
    "ContactArrived",
    "ContactEnded",
    "ContactPolicy",
    "Decision",
    "EngineConfig",
    "Event",
    "Offer",
    "OfferAccepted",
    "OfferCallback",
    "OfferRejected",
    "OfferRevoked",
    "OfferTimedOut",
    "Overflow",
    "QueueConfig",
    "RelaxationStep",
    "RemovalReason",
    "Removed",
    "RevokeReason",
    "RoutingEngine",
    "RoutingError",
    "SkillRequirement",
    "TenantConfig",
    "Tick",
    "WrapUpEnded",
    "WrapUpFinished",
    "WrapUpStarted",
    "aging_score",
    "deficit",
    "sla_score",
]
