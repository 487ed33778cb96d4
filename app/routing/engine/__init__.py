"""The pure routing engine: a deterministic state machine from events to decisions.

No I/O, no clock: every event carries `at`, a float number of seconds (any epoch), and the engine's
time only moves forward (an event older than the last one is handled at the last one's time). Before
applying an event, the engine fires every timer due by its `at` (offer timeouts, wrap-up ends,
relaxation steps, overflow, max wait, callback offers, preferred-agent windows) at the timer's own
time, so `Tick(at)` only advances time. The same configuration and events always give the same
decisions: every choice ends on a total order (arrival sequence number, agent id).

Commands the engine refuses. `handle` raises `RoutingError`, before changing anything (time included:
no timer fires), for an event the configuration forbids: a tenant, queue or agent it lacks (an agent
removed by a reconfiguration included), a contact arriving in another tenant's queue, a bad
configuration, a transfer it does not allow (see Transfers). The router catches it and rejects the
command. An event that only names a state that is over - an accept, reject or timeout from an agent
the contact is not on offer to, an end or abandon of a contact no longer there, a transfer of a
contact the agent does not hold - is stale or replayed: it is taken (time advances) and changes
nothing else.

Eligibility. Hard rules are never relaxed: the agent is assigned to the contact's tenant, holds the
queue's and the contact's required attributes (languages, certifications, clearances) for that
tenant. Soft skills form rings: the queue's `skills`, then each `RelaxationStep` from its
`after_seconds` in the queue on. The agent must also be able to take the channel now: available, no
offer outstanding, not in wrap-up (which blocks every queue), no voice contact, and for voice no chat,
for chat fewer chats than its capacity. During a preferred-agent window only that agent is eligible;
a preferred agent who could never take the contact (tenant, attributes, any ring, channel) is no
preference.

Agent selection (a contact can be taken and several agents are free): `AgentPolicy` - longest idle,
best proficiency (sum over the queue's skills), round robin (least recently offered), fewest
contacts today; ties go to the longest idle (except under round robin), then the smallest agent id.

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
their original place and do not abandon or expire by max wait. `CallbackCancelled` takes a callback
waiting or on offer out of line (offer revoked with `CANCELLED`, then `Removed(CANCELLED)`, not counted
as abandoned); a callback an agent has taken, a caller on the line (a callback handed on is one) and a
contact that is over stay as they are. Overflow moves a contact to another queue of the same tenant
after a wait in its queue, keeping its first arrival for the order.

Transfers. `ContactTransferred(at, contact_id, agent_id, to_queue, to_agent, window_seconds)` hands a
contact connected to `agent_id` on. It leaves the agent as on `ContactEnded` (the wrap-up of the queue
it was handled in, or free at once), is announced by `Transferred(contact_id, from_agent, to_queue,
to_agent)` (`to_queue` resolved: the contact's current queue when only `to_agent` is given) and waits
again in `to_queue`, keeping its first arrival for its place (so it usually goes ahead of callers who
came later, and after `starvation_guard_seconds` since that arrival it is served first) and starting
that queue's timers afresh. With `to_agent`, that agent alone may take it for `window_seconds`, then
anyone. It is never offered back to the agent who transferred it; agents who declined it before may
take it now; a callback becomes a caller on the line (it may abandon); the service level counts it
once, answered or abandoned. Refused (RoutingError): no target; an unknown queue; a queue of another
tenant; no target queue because the contact's queue closed; an agent that is unknown or removed, the
transferring agent itself, an agent who could never take the contact in the target queue (tenant,
attributes, any ring, channel), or `window_seconds <= 0` with an agent. The configuration checks come
first, so an unknown queue or agent is refused even for a stale transfer. A transfer takes effect iff
the decisions include `Transferred`.

Reconfiguration. `Reconfigured(at, config)` replaces tenants, queues, agents and settings under the
live state, as an event like any other (replayable from a log); a bad configuration is refused whole.
Every derived table (rings, each agent's queues, key factors, lines) is rebuilt. Then:

- Agents still configured keep their state, reason, offer, contacts, wrap-up, idle time and counters,
  with their new configuration for what comes next. An outstanding offer the new configuration no
  longer allows (rings, attributes, tenant, channel room) is revoked with `CONFIG_CHANGED` and the
  contact routed again (no miss counted). New agents start offline.
- An agent removed is logged out (state offline, `AgentView.departing`): its offer is revoked with
  `CONFIG_CHANGED`, it takes nothing new, ends or transfers the contacts it holds (with their wrap-up),
  then disappears; events naming it as configured (log in, state) are refused meanwhile. Added back
  before that, it keeps what it holds and stays offline; added back later, it is a new agent.
- A contact waiting or on offer in a queue that left the configuration (or went to another tenant, or
  whose tenant left) is removed: offer revoked with `CONFIG_CHANGED`, then `Removed(QUEUE_CLOSED)`. It
  does not count as abandoned. Removing keeps the engine's lines coherent and leaves the router to tell
  the caller (closed message, voicemail...); moving it to another queue would be a guess. A connected
  contact of a closed queue goes on and ends without wrap-up.
- Queues kept: their new skills, relaxation steps, priority, attributes, max wait, overflow and callback
  offer apply to their waiting contacts from now, counted from the contact's entry in the queue: a rule
  already due applies at once (removal by max wait, overflow, callback offer, a wider ring), a timer
  taken away no longer fires. The queue order is re-keyed (priorities, key factor). A preferred agent
  who could no longer take the contact is dropped.
- Settings: agent and contact policies, weights and guards apply from now; an offer out keeps the
  expiry it was announced with; the current interval's counters and today's counts carry on, the
  interval and day boundaries following the new lengths. Tenants removed lose their counters.

Then the waiting contacts, highest rank first (as ranked at that instant), are offered to the free
agents by the agent policy, so nothing routable is left waiting.

Reading. `agent_view(agent_id) -> AgentView` (state, reason, offer, contacts in accept order,
wrap_until, idle_since, departing), `agents()` (every agent known, by id, removed ones still finishing
included), `queue_view(queue_id) -> QueueView` (waiting count without offers out, oldest first arrival)
and `queues()` (configuration order); unknown ids raise RoutingError. They copy a few fields: a queue
view scans its line for the oldest arrival. The engine pickles as is (the router's snapshots): a
restored engine, in any process, decides exactly as the original would.
"""

from app.routing.engine.core import AUTO_BREAK_REASON, RoutingEngine
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
    RelaxationStep,
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

__all__ = [
    "AUTO_BREAK_REASON",
    "AgentAutoBreak",
    "AgentConfig",
    "AgentLoggedIn",
    "AgentPolicy",
    "AgentState",
    "AgentStateChanged",
    "AgentView",
    "Attainment",
    "AttainmentUpdated",
    "CallbackCancelled",
    "CallbackRequested",
    "Channel",
    "ContactAbandoned",
    "ContactArrived",
    "ContactEnded",
    "ContactPolicy",
    "ContactTransferred",
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
    "QueueView",
    "Reconfigured",
    "RelaxationStep",
    "RemovalReason",
    "Removed",
    "RevokeReason",
    "RoutingEngine",
    "RoutingError",
    "SkillRequirement",
    "TenantConfig",
    "Tick",
    "Transferred",
    "WrapUpEnded",
    "WrapUpFinished",
    "WrapUpStarted",
    "aging_score",
    "deficit",
    "sla_score",
]
