"""The router service: the one active routing core of an agent pool, with its log and live state.

Leadership. Routers of a pool compete for a Redis lock whose value carries a fencing token (a Redis
counter, incremented at each acquisition). The winner writes its token into ``router_leases`` in
PostgreSQL, and every later write transaction first updates that row *on condition that the token is
still its own*; a router that lost the lock (paused, partitioned) can therefore never append after its
successor took over: its next transaction finds the row taken and it stops. The lock is renewed
at a third of its time to live; a router that cannot renew it stops leading.

Commands. Telephony, the desktop and the simulator append commands (``app.routing.commands``) to the
pool's Redis stream. The leader reads them in stream order in batches; for each it fires the engine's
due timers (a ``Tick`` at the command's time), checks the command against the current state (a stale
one is dropped: an accept for an expired offer, a second hang-up), and applies it. Ticks between
commands fire timers (offer timeouts, overflow, wrap-up ends); a tick is logged only when it decided
something.

Log. Everything applied in a batch is committed in one transaction: the inputs, in order, to
``router_log`` (with the command's stream id, so each command takes effect exactly once), the
interactions and their events (under row-level security, tenant by tenant), the agents' presence
changes, and now and then a snapshot of the whole state (pickled engine and projection). Live state
goes to Redis after the commit (``app.routing.live``).

Takeover. A new leader loads the newest snapshot and replays the log after it through the same code
(the engine is deterministic, so it reaches the state its predecessor had committed, decisions
included), rewrites the live state, reloads the configuration and continues from the stream position
committed with the last batch. A command read but not committed by a dead leader is read again;
one committed is never applied twice; an offer committed is never made again. So killing a router
with ``kill -9`` loses no contact and offers none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import pickle
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import redis.asyncio as aioredis
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import CROSS_TENANT_READER_ROLE, Database, system_session
from app.core.models import new_id
from app.core.tenancy import acting_as, system_principal
from app.routing import commands as cmd
from app.routing import live
from app.routing.engine import (
    AUTO_BREAK_REASON,
    AgentAutoBreak,
    AgentState,
    AgentStateChanged,
    AttainmentUpdated,
    CallbackCancelled,
    CallbackRequested,
    Channel,
    ContactAbandoned,
    ContactArrived,
    ContactEnded,
    ContactTransferred,
    Decision,
    EngineConfig,
    Offer,
    OfferAccepted,
    OfferCallback,
    OfferRejected,
    OfferRevoked,
    Overflow,
    Reconfigured,
    RemovalReason,
    Removed,
    RoutingEngine,
    RoutingError,
    Tick,
    Transferred,
    WrapUpEnded,
    WrapUpFinished,
    WrapUpStarted,
)
from app.routing.models import (
    AgentStateChange,
    Interaction,
    InteractionEvent,
    InteractionState,
    RouterLease,
    RouterLogEntry,
    RouterSnapshot,
)
from app.routing.service import load_engine_config

log = structlog.get_logger("tenline.router")

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""
FINISHED_KEEP_SECONDS = 3600.0  # an ended contact stays in memory this long for a late disposition


def lock_key(pool: str) -> str:
    return f"tenline:router:{pool}:lock"


def fence_key(pool: str) -> str:
    return f"tenline:router:{pool}:fence"


class Fenced(RuntimeError):
    """Another router took the pool over: this one must stop writing."""


# --- the log ---------------------------------------------------------------------------------------


class CommandEntry(msgspec.Struct, frozen=True, tag="command"):
    at: float
    command: cmd.AnyCommand


class TickEntry(msgspec.Struct, frozen=True, tag="tick"):
    at: float


class ConfigEntry(msgspec.Struct, frozen=True, tag="config"):
    at: float
    config: EngineConfig


LogEntry = CommandEntry | TickEntry | ConfigEntry
_log_encoder = msgspec.msgpack.Encoder()
_log_decoder = msgspec.msgpack.Decoder(LogEntry)


# --- the projection: what the router knows beyond the engine ---------------------------------------


@dataclasses.dataclass(slots=True)
class ContactRecord:
    contact_id: str
    tenant_id: str
    queue_id: str
    channel: str
    caller: str
    context: dict[str, Any]
    arrived_at: float
    state: str = InteractionState.WAITING
    agent_id: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    hold_started: float | None = None
    hold_seconds: float = 0.0
    transfers: int = 0
    disposition: str | None = None

    @property
    def live(self) -> bool:
        return self.state in (InteractionState.WAITING, InteractionState.OFFERED, InteractionState.CONNECTED)


@dataclasses.dataclass(slots=True)
class AgentRecord:
    agent_id: str
    base: str = AgentState.OFFLINE  # what the agent (or auto-break) asked for
    reason: str = ""
    presence: str = "offline"  # as last published: base refined by offers, contacts and wrap-up
    since: float = 0.0
    offer: tuple[str, str, str, float] | None = None  # contact, tenant, queue, expires at
    contacts: list[str] = dataclasses.field(default_factory=list)
    wrap_contact: str | None = None
    wrap_until: float | None = None
    pending: list[str] = dataclasses.field(default_factory=list)  # ended, disposition to record

    def current_presence(self) -> str:
        if self.contacts:
            return "on_contact"
        if self.wrap_until is not None:
            return "wrap_up"
        if self.offer is not None:
            return "offered"
        return self.base


@dataclasses.dataclass(slots=True)
class RouterState:
    """Everything a router holds; pickled whole into snapshots."""

    engine: RoutingEngine
    contacts: dict[str, ContactRecord] = dataclasses.field(default_factory=dict)
    finished: dict[str, ContactRecord] = dataclasses.field(default_factory=dict)
    agents: dict[str, AgentRecord] = dataclasses.field(default_factory=dict)
    queue_members: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # live contacts per queue

    def agent(self, agent_id: str) -> AgentRecord:
        record = self.agents.get(agent_id)
        if record is None:
            record = self.agents[agent_id] = AgentRecord(agent_id)
        return record

    def contact(self, contact_id: str) -> ContactRecord | None:
        return self.contacts.get(contact_id) or self.finished.get(contact_id)


@dataclasses.dataclass(slots=True)
class Changes:
    """What one batch changed: rows to write, views to publish."""

    contacts: set[str] = dataclasses.field(default_factory=set)
    agents: set[str] = dataclasses.field(default_factory=set)
    queues: set[str] = dataclasses.field(default_factory=set)
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    presence: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _timestamp(at: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, dt.UTC)


class Projection:
    """Applies log entries to the state: the same code live and in replay, so both reach the same state."""

    def __init__(self, state: RouterState) -> None:
        self.state = state
        self.seq = 0
        self.changes = Changes()
        self._position = 0
        self._decided = 0
        self._touched: set[str] = set()

    def apply(self, seq: int, entry: LogEntry) -> int:
        """Applies one entry; returns how many decisions the engine made (an idle tick makes none)."""
        self.seq = seq
        self._position = 0
        self._decided = 0
        self._touched = set()
        match entry:
            case TickEntry(at=at):
                self._decide(at, self.state.engine.handle(Tick(at)))
            case ConfigEntry(at=at, config=config):
                self._decide(at, self.state.engine.handle(Reconfigured(at, config)))
                # Every agent and queue of the new configuration gets a view (new ones start offline, empty).
                for agent_id in {a.agent_id for a in config.agents} | set(self.state.agents):
                    self._agent_changed(at, self.state.agent(agent_id))
                self.changes.queues.update(q.queue_id for q in config.queues)
            case CommandEntry(at=at, command=command):
                self._decide(at, self.state.engine.handle(Tick(at)))
                try:
                    self._command(at, command)
                except RoutingError as exc:
                    log.info("router.command_refused", command=type(command).__name__, error=str(exc))
        for agent_id in sorted(self._touched):
            self._record_presence(entry.at, self.state.agent(agent_id))
        return self._decided

    # --- commands -----------------------------------------------------------------------------------

    def _command(self, at: float, command: cmd.AnyCommand) -> None:
        match command:
            case cmd.ContactArrive():
                self._arrive(at, command)
            case cmd.ContactAbandon():
                self._hang_up(at, command.contact_id, before_answer_only=True)
            case cmd.CallbackAccept():
                self._callback(at, command)
            case cmd.CallbackCancel():
                self._cancel_callback(at, command)
            case cmd.AgentPresence():
                self._presence(at, command)
            case cmd.OfferAccept() | cmd.OfferReject():
                self._answer_offer(at, command)
            case cmd.ContactHold():
                self._hold(at, command)
            case cmd.ContactTransfer():
                self._transfer(at, command)
            case cmd.ContactEnd():
                self._end_command(at, command)
            case cmd.WrapUpFinish():
                self._wrap_up(at, str(command.agent_id), str(command.contact_id), command.disposition)
            case cmd.AttainmentUpdate():
                event = AttainmentUpdated(
                    at,
                    str(command.tenant_id),
                    command.answered,
                    command.answered_within_target,
                    command.abandoned,
                )
                self._decide(at, self.state.engine.handle(event))  # raises RoutingError for an unknown tenant
            case cmd.Reconfigure():
                pass  # turned into a ConfigEntry by the router, which reads the database

    def _arrive(self, at: float, command: cmd.ContactArrive) -> None:
        contact_id = str(command.contact_id)
        if self.state.contact(contact_id) is not None:
            return  # submitted twice
        event = ContactArrived(
            at,
            contact_id,
            str(command.tenant_id),
            str(command.queue_id),
            Channel(command.channel),
            command.priority,
            command.required_attributes,
            command.callback,
            str(command.preferred_agent) if command.preferred_agent else None,
            command.preferred_window_seconds,
        )
        decisions = self.state.engine.handle(event)  # raises RoutingError for an unknown tenant or queue
        contact = ContactRecord(
            contact_id, event.tenant_id, event.queue_id, command.channel, command.caller, command.context, at
        )
        self.state.contacts[contact_id] = contact
        self.state.queue_members.setdefault(contact.queue_id, set()).add(contact_id)
        self._event(at, contact, "arrived", caller=command.caller, callback=command.callback)
        self._decide(at, decisions)

    def _hang_up(self, at: float, contact_id: uuid.UUID, *, before_answer_only: bool) -> None:
        """The caller is gone: abandoned while waiting or on offer, ended once connected."""
        contact = self.state.contacts.get(str(contact_id))
        if contact is None:
            return
        if contact.state != InteractionState.CONNECTED:
            self._decide(at, self.state.engine.handle(ContactAbandoned(at, contact.contact_id)))
        elif not before_answer_only:
            self._end(at, contact, "caller")

    def _callback(self, at: float, command: cmd.CallbackAccept) -> None:
        contact = self.state.contacts.get(str(command.contact_id))
        if contact is None or contact.state == InteractionState.CONNECTED:
            return
        self._decide(at, self.state.engine.handle(CallbackRequested(at, contact.contact_id)))
        self._event(at, contact, "callback_requested")

    def _cancel_callback(self, at: float, command: cmd.CallbackCancel) -> None:
        contact = self.state.contacts.get(str(command.contact_id))
        if contact is None:
            return  # over, or never arrived
        # Removed(CANCELLED) when it was waiting or on offer; nothing once an agent took it.
        self._decide(at, self.state.engine.handle(CallbackCancelled(at, contact.contact_id)))

    def _presence(self, at: float, command: cmd.AgentPresence) -> None:
        agent_id = str(command.agent_id)
        event = AgentStateChanged(at, agent_id, AgentState(command.state), command.reason)
        decisions = self.state.engine.handle(event)  # raises RoutingError for an agent not in the pool
        record = self.state.agent(agent_id)
        record.base, record.reason = command.state, command.reason
        self._decide(at, decisions)
        self._agent_changed(at, record)

    def _answer_offer(self, at: float, command: cmd.OfferAccept | cmd.OfferReject) -> None:
        record = self.state.agents.get(str(command.agent_id))
        contact = self.state.contacts.get(str(command.contact_id))
        if record is None or contact is None or not _offer_is(record, contact.contact_id):
            return  # expired, revoked or never this agent's
        record.offer = None
        if isinstance(command, cmd.OfferAccept):
            decisions = self.state.engine.handle(OfferAccepted(at, contact.contact_id, record.agent_id))
            record.contacts.append(contact.contact_id)
            contact.state, contact.agent_id, contact.answered_at = InteractionState.CONNECTED, record.agent_id, at
            self._event(at, contact, "answered", agent=record.agent_id, wait_seconds=at - contact.arrived_at)
        else:
            decisions = self.state.engine.handle(OfferRejected(at, contact.contact_id, record.agent_id))
            contact.state, contact.agent_id = InteractionState.WAITING, None
            self._event(at, contact, "offer_rejected", agent=record.agent_id)
        self._agent_changed(at, record)
        self._decide(at, decisions)

    def _hold(self, at: float, command: cmd.ContactHold) -> None:
        contact = self._connected_to(command.contact_id, command.agent_id)
        if contact is None or (contact.hold_started is not None) == command.on_hold:
            return
        if command.on_hold:
            contact.hold_started = at
        else:
            self._close_hold(at, contact)
        self._event(at, contact, "held" if command.on_hold else "resumed", agent=contact.agent_id)
        self._agent_changed(at, self.state.agent(str(command.agent_id)))  # the agent's other tabs show it too

    def _transfer(self, at: float, command: cmd.ContactTransfer) -> None:
        contact = self._connected_to(command.contact_id, command.agent_id)
        if contact is None:
            return
        event = ContactTransferred(
            at,
            contact.contact_id,
            str(command.agent_id),
            to_queue=str(command.to_queue) if command.to_queue else None,
            to_agent=str(command.to_agent) if command.to_agent else None,
        )
        decisions = self.state.engine.handle(event)  # raises RoutingError for another tenant's queue
        self._close_hold(at, contact)
        self._decide(at, decisions)

    def _end_command(self, at: float, command: cmd.ContactEnd) -> None:
        if command.agent_id is None:  # from telephony: the caller hung up or the call completed
            self._hang_up(at, command.contact_id, before_answer_only=False)
            return
        contact = self._connected_to(command.contact_id, command.agent_id)
        if contact is not None:
            self._end(at, contact, "agent")

    def _connected_to(self, contact_id: uuid.UUID, agent_id: uuid.UUID) -> ContactRecord | None:
        contact = self.state.contacts.get(str(contact_id))
        if contact is None or contact.state != InteractionState.CONNECTED or contact.agent_id != str(agent_id):
            return None
        return contact

    def _close_hold(self, at: float, contact: ContactRecord) -> None:
        if contact.hold_started is not None:
            contact.hold_seconds += at - contact.hold_started
            contact.hold_started = None

    def _end(self, at: float, contact: ContactRecord, by: str) -> None:
        agent_id = contact.agent_id
        assert agent_id is not None
        decisions = self.state.engine.handle(ContactEnded(at, contact.contact_id))
        self._close_hold(at, contact)
        contact.state, contact.ended_at = InteractionState.ENDED, at
        record = self.state.agent(agent_id)
        record.contacts.remove(contact.contact_id)
        record.pending.append(contact.contact_id)
        self._event(at, contact, "ended", agent=agent_id, by=by)
        self._finish(contact)
        self._agent_changed(at, record)
        self._decide(at, decisions)

    def _wrap_up(self, at: float, agent_id: str, contact_id: str, disposition: str) -> None:
        record = self.state.agents.get(agent_id)
        contact = self.state.finished.get(contact_id)
        if record is None or contact is None or contact_id not in record.pending:
            return
        record.pending.remove(contact_id)
        contact.disposition = disposition or None
        self._event(at, contact, "wrapped_up", agent=agent_id, disposition=disposition)
        self.changes.agents.add(agent_id)
        if record.wrap_contact == contact_id and record.wrap_until is not None:
            decisions = self.state.engine.handle(WrapUpEnded(at, agent_id))
            self._wrap_up_over(at, agent_id)  # ended by the agent: the engine decides nothing about it
            self._decide(at, decisions)

    # --- decisions ----------------------------------------------------------------------------------

    def _decide(self, at: float, decisions: list[Decision]) -> None:
        state = self.state
        self._decided += len(decisions)
        for decision in decisions:
            match decision:
                case Offer():
                    contact = state.contacts[decision.contact_id]
                    contact.state, contact.agent_id = InteractionState.OFFERED, decision.agent_id
                    contact.queue_id = decision.queue_id
                    record = state.agent(decision.agent_id)
                    record.offer = (decision.contact_id, decision.tenant_id, decision.queue_id, decision.expires_at)
                    self._event(at, contact, "offered", agent=decision.agent_id, expires_at=decision.expires_at)
                    self._agent_changed(at, record)
                case OfferRevoked():
                    contact = state.contacts[decision.contact_id]
                    contact.state, contact.agent_id = InteractionState.WAITING, None
                    record = state.agent(decision.agent_id)
                    if _offer_is(record, decision.contact_id):
                        record.offer = None
                    self._event(at, contact, "offer_revoked", agent=decision.agent_id, reason=str(decision.reason))
                    self._agent_changed(at, record)
                case Overflow():
                    contact = state.contacts[decision.contact_id]
                    self._move(contact, decision.to_queue)
                    self._event(at, contact, "overflowed", from_queue=decision.from_queue)
                case OfferCallback():
                    contact = state.contacts[decision.contact_id]
                    self._event(at, contact, "callback_offered")
                case Removed():
                    contact = state.contacts[decision.contact_id]
                    contact.state = (
                        InteractionState.ABANDONED
                        if decision.reason is RemovalReason.ABANDONED
                        else InteractionState.REMOVED
                    )
                    contact.ended_at, contact.agent_id = at, None
                    self._event(at, contact, str(decision.reason))
                    self._finish(contact)
                case AgentAutoBreak():
                    record = state.agent(decision.agent_id)
                    record.base, record.reason = AgentState.BREAK, AUTO_BREAK_REASON
                    self._agent_changed(at, record)
                case WrapUpStarted():
                    record = state.agent(decision.agent_id)
                    record.wrap_contact, record.wrap_until = decision.contact_id, decision.until
                    self._agent_changed(at, record)
                case WrapUpFinished():
                    self._wrap_up_over(at, decision.agent_id)
                case Transferred():
                    contact = state.contacts[decision.contact_id]
                    record = state.agent(decision.from_agent)
                    record.contacts.remove(contact.contact_id)
                    contact.state, contact.agent_id = InteractionState.WAITING, None
                    contact.transfers += 1
                    self._move(contact, decision.to_queue)
                    self._event(at, contact, "transferred", agent=decision.from_agent, to_agent=decision.to_agent)
                    self._agent_changed(at, record)

    def _wrap_up_over(self, at: float, agent_id: str) -> None:
        record = self.state.agent(agent_id)
        record.wrap_contact = record.wrap_until = None
        self._agent_changed(at, record)

    def _move(self, contact: ContactRecord, queue_id: str) -> None:
        self.state.queue_members.get(contact.queue_id, set()).discard(contact.contact_id)
        self.changes.queues.add(contact.queue_id)
        contact.queue_id = queue_id
        self.state.queue_members.setdefault(queue_id, set()).add(contact.contact_id)

    def _finish(self, contact: ContactRecord) -> None:
        self.state.contacts.pop(contact.contact_id, None)
        self.state.queue_members.get(contact.queue_id, set()).discard(contact.contact_id)
        self.state.finished[contact.contact_id] = contact

    # --- changes ------------------------------------------------------------------------------------

    def _event(self, at: float, contact: ContactRecord, kind: str, agent: str | None = None, **data: Any) -> None:
        self._position += 1
        self.changes.contacts.add(contact.contact_id)
        self.changes.queues.add(contact.queue_id)
        self.changes.events.append(
            {
                "id": new_id(),
                "tenant_id": contact.tenant_id,
                "interaction_id": contact.contact_id,
                "log_seq": self.seq,
                "position": self._position,
                "type": kind,
                "at": _timestamp(at),
                "agent_id": agent,
                "queue_id": contact.queue_id,
                "data": data,
            }
        )

    def _agent_changed(self, at: float, record: AgentRecord) -> None:
        """The agent's view changed; its presence is read once the whole entry is applied."""
        self.changes.agents.add(record.agent_id)
        self._touched.add(record.agent_id)

    def _record_presence(self, at: float, record: AgentRecord) -> None:
        presence = record.current_presence()
        if presence == record.presence:
            return
        record.presence, record.since = presence, at
        self.changes.presence.append(
            {
                "id": new_id(),
                "agent_id": record.agent_id,
                "log_seq": self.seq,
                "state": presence,
                "reason": record.reason if presence == "break" else "",
                "at": _timestamp(at),
            }
        )

    def take_changes(self) -> Changes:
        changes, self.changes = self.changes, Changes()
        return changes

    def forget_finished(self, now: float) -> None:
        """Drop ended contacts no agent can still wrap up (kept an hour for a late disposition)."""
        pending = {c for record in self.state.agents.values() for c in record.pending}
        for contact_id, contact in list(self.state.finished.items()):
            ended = contact.ended_at or contact.arrived_at
            if contact_id not in pending and now - ended > FINISHED_KEEP_SECONDS:
                del self.state.finished[contact_id]
        for record in self.state.agents.values():
            record.pending = [c for c in record.pending if c in self.state.finished]


def _offer_is(record: AgentRecord, contact_id: str) -> bool:
    return record.offer is not None and record.offer[0] == contact_id


# --- writing ---------------------------------------------------------------------------------------


def _interaction_row(contact: ContactRecord, now: dt.datetime) -> dict[str, Any]:
    return {
        "tenant_id": contact.tenant_id,
        "id": contact.contact_id,
        "queue_id": contact.queue_id,
        "channel": contact.channel,
        "state": str(contact.state),
        "caller": contact.caller,
        "context": contact.context,
        "agent_id": contact.agent_id,
        "arrived_at": _timestamp(contact.arrived_at),
        "answered_at": _timestamp(contact.answered_at) if contact.answered_at is not None else None,
        "ended_at": _timestamp(contact.ended_at) if contact.ended_at is not None else None,
        "hold_seconds": contact.hold_seconds,
        "transfers": contact.transfers,
        "disposition": contact.disposition,
        "updated_at": now,
    }


_interactions = Interaction.__table__  # type: ignore[attr-defined]
_upsert_interaction = pg_insert(_interactions)
_upsert_interaction = _upsert_interaction.on_conflict_do_update(
    index_elements=["tenant_id", "id"],
    set_={
        column: _upsert_interaction.excluded[column]
        for column in (
            "queue_id",
            "state",
            "agent_id",
            "answered_at",
            "ended_at",
            "hold_seconds",
            "transfers",
            "disposition",
            "updated_at",
        )
    },
)


async def _write_tenant_rows(session: AsyncSession, state: RouterState, changes: Changes) -> None:
    now = dt.datetime.now(dt.UTC)
    rows_by_tenant: dict[str, list[dict[str, Any]]] = {}
    for contact_id in sorted(changes.contacts):
        contact = state.contact(contact_id)
        if contact is not None:
            rows_by_tenant.setdefault(contact.tenant_id, []).append(_interaction_row(contact, now))
    events_by_tenant: dict[str, list[dict[str, Any]]] = {}
    for event in changes.events:
        events_by_tenant.setdefault(event["tenant_id"], []).append(event)
    for tenant_id in sorted(rows_by_tenant.keys() | events_by_tenant.keys()):
        # Each tenant's rows under its own context: row-level security checks every one.
        with acting_as(system_principal(uuid.UUID(tenant_id))):
            if rows := rows_by_tenant.get(tenant_id):
                await session.execute(_upsert_interaction, rows)
            if events := events_by_tenant.get(tenant_id):
                await session.execute(sa.insert(InteractionEvent.__table__), events)  # type: ignore[attr-defined]
    if changes.presence:
        await session.execute(sa.insert(AgentStateChange.__table__), changes.presence)  # type: ignore[attr-defined]


# --- the service -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class RouterSettings:
    pool: str = cmd.DEFAULT_POOL
    lock_ttl_seconds: float = 5.0
    tick_seconds: float = 0.25
    batch_size: int = 500
    snapshot_every_seconds: float = 30.0
    snapshot_every_entries: int = 20_000
    offer_timeout_seconds: float = 20.0
    config_reload_seconds: float = 60.0


class Router:
    def __init__(self, database: Database, redis: aioredis.Redis, settings: RouterSettings | None = None) -> None:
        self.database = database
        self.redis = redis
        self.settings = settings or RouterSettings()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.fence = 0
        self._token = ""
        self._lost = asyncio.Event()
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)

    # --- leadership ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Wait for the lock, lead until stopped or fenced, repeat."""
        while not stop.is_set():
            if not await self._acquire():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.lock_ttl_seconds / 5)
                continue
            log.info("router.leading", pool=self.settings.pool, fence=self.fence, holder=self.holder)
            try:
                async with self._renewing():
                    await self._lead(stop)
            except Fenced:
                log.warning("router.fenced", pool=self.settings.pool, fence=self.fence)
            finally:
                await self._release(keys=[lock_key(self.settings.pool)], args=[self._token])

    async def _acquire(self) -> bool:
        pool = self.settings.pool
        fence = int(await self.redis.incr(fence_key(pool)))
        token = f"{fence}:{self.holder}"
        ttl_ms = int(self.settings.lock_ttl_seconds * 1000)
        if not await self.redis.set(lock_key(pool), token, nx=True, px=ttl_ms):
            return False
        self.fence, self._token = fence, token
        self._lost.clear()
        return True

    @contextlib.asynccontextmanager
    async def _renewing(self) -> AsyncIterator[None]:
        async def renew() -> None:
            ttl_ms = int(self.settings.lock_ttl_seconds * 1000)
            while True:
                await asyncio.sleep(self.settings.lock_ttl_seconds / 3)
                try:
                    renewed = await self._renew(keys=[lock_key(self.settings.pool)], args=[self._token, ttl_ms])
                except aioredis.RedisError:
                    renewed = 0
                if not renewed:
                    self._lost.set()
                    return

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- leading ------------------------------------------------------------------------------------

    async def _lead(self, stop: asyncio.Event) -> None:
        position, seq = await self._claim()
        projection = await self._recover(seq)
        await self._publish_all(projection.state)
        config = await self._load_config()
        pending: list[LogEntry] = []
        if config != projection.state.engine.config:
            pending.append(ConfigEntry(time.time(), config))
        last_snapshot, entries_since_snapshot = time.monotonic(), 0
        last_reload = time.monotonic()
        stream = cmd.stream_key(self.settings.pool)
        block_ms = max(1, int(self.settings.tick_seconds * 1000))
        now = time.time()
        while not stop.is_set():
            if self._lost.is_set():
                raise Fenced("the lock was lost")
            # [(stream, [(entry id, {b"c": command}), ...])] (RESP2; the client is not typed this far)
            reply: Any = await self.redis.xread({stream: position}, count=self.settings.batch_size, block=block_ms)
            for _, messages in reply or ():
                for entry_id, fields in messages:
                    position = entry_id.decode()
                    try:
                        command = cmd.decode(fields[b"c"])
                    except (msgspec.DecodeError, KeyError):
                        log.warning("router.bad_command", entry=position)
                        continue
                    now = max(now, time.time())
                    if isinstance(command, cmd.Reconfigure):
                        pending.append(ConfigEntry(now, await self._load_config()))
                        last_reload = time.monotonic()
                    else:
                        pending.append(CommandEntry(now, command))
            now = max(now, time.time())
            if time.monotonic() - last_reload > self.settings.config_reload_seconds:
                config = await self._load_config()
                if config != projection.state.engine.config:
                    pending.append(ConfigEntry(now, config))
                last_reload = time.monotonic()
            pending.append(TickEntry(now))
            written: list[tuple[int, LogEntry]] = []
            for entry in pending:
                # Commands are logged even when stale (their tick may have fired timers); idle ticks are not.
                if projection.apply(seq + 1, entry) or not isinstance(entry, TickEntry):
                    seq += 1
                    written.append((seq, entry))
            pending.clear()
            entries_since_snapshot += len(written)
            snapshot = entries_since_snapshot >= self.settings.snapshot_every_entries or (
                bool(written) and time.monotonic() - last_snapshot >= self.settings.snapshot_every_seconds
            )
            if snapshot:
                projection.forget_finished(now)
            changes = projection.take_changes()
            if written or snapshot:
                await self._commit(projection.state, changes, written, seq, position, snapshot)
            if snapshot:
                last_snapshot, entries_since_snapshot = time.monotonic(), 0
                await self.redis.xtrim(stream, minid=position)
            await self._publish(projection.state, changes)

    async def _claim(self) -> tuple[str, int]:
        """Write our fence into the lease row (refused if a newer router already did)."""
        pool = self.settings.pool
        async with self.database.session() as session:
            lease = await session.get(RouterLease, pool, with_for_update=True)
            if lease is None:
                lease = RouterLease(pool=pool, fence=self.fence, holder=self.holder)
                session.add(lease)
            elif lease.fence > self.fence:
                raise Fenced(f"lease held by fence {lease.fence}")
            else:
                lease.fence, lease.holder, lease.updated_at = self.fence, self.holder, dt.datetime.now(dt.UTC)
            return lease.stream_position, lease.log_seq

    async def _recover(self, last_seq: int) -> Projection:
        """The state as committed: the newest snapshot, then the log after it replayed."""
        pool = self.settings.pool
        async with self.database.session() as session:
            snapshot = (
                await session.execute(
                    sa.select(RouterSnapshot.seq, RouterSnapshot.state)  # type: ignore[call-overload]
                    .where(RouterSnapshot.pool == pool)
                    .order_by(RouterSnapshot.seq.desc())  # type: ignore[attr-defined]
                    .limit(1)
                )
            ).first()
            if snapshot is None:
                if last_seq:
                    raise RuntimeError(f"router log of pool {pool} has {last_seq} entries but no snapshot")
                state = RouterState(RoutingEngine(await self._load_config()))
                await session.execute(
                    sa.insert(RouterSnapshot.__table__),  # type: ignore[attr-defined]
                    [{"pool": pool, "seq": 0, "state": pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)}],
                )
                start = 0
            else:
                start, state = snapshot.seq, pickle.loads(snapshot.state)  # noqa: S301 - our own snapshot
            projection = Projection(state)
            replayed = 0
            result = await session.stream(
                sa.select(RouterLogEntry.seq, RouterLogEntry.event)  # type: ignore[call-overload]
                .where(RouterLogEntry.pool == pool, RouterLogEntry.seq > start)
                .order_by(RouterLogEntry.seq)
            )
            async for seq, event in result:
                if seq != start + replayed + 1:
                    raise RuntimeError(f"router log gap: entry {seq} follows {start + replayed}")
                projection.apply(seq, _log_decoder.decode(event))
                replayed += 1
        if start + replayed != last_seq:
            raise RuntimeError(f"router log ends at {start + replayed}, the lease says {last_seq}")
        projection.take_changes()
        log.info("router.recovered", pool=pool, snapshot=start, replayed=replayed)
        return projection

    async def _load_config(self) -> EngineConfig:
        # The router is the pool's own infrastructure: it reads every tenant's routing configuration.
        async with system_session(CROSS_TENANT_READER_ROLE, read_only=True) as session:
            return await load_engine_config(session, offer_timeout_seconds=self.settings.offer_timeout_seconds)

    async def _commit(
        self,
        state: RouterState,
        changes: Changes,
        written: list[tuple[int, LogEntry]],
        seq: int,
        position: str,
        snapshot: bool,
    ) -> None:
        pool = self.settings.pool
        async with self.database.session() as session:
            # First, and under the row's lock: a successor's takeover and this batch cannot interleave.
            updated = await session.execute(
                sa.update(RouterLease)
                .where(RouterLease.pool == pool, RouterLease.fence == self.fence)  # type: ignore[arg-type]
                .values(log_seq=seq, stream_position=position, updated_at=sa.func.now())
            )
            if updated.rowcount != 1:  # type: ignore[attr-defined]
                raise Fenced(f"pool {pool} was taken over")
            if written:
                await session.execute(
                    sa.insert(RouterLogEntry.__table__),  # type: ignore[attr-defined]
                    [
                        {
                            "pool": pool,
                            "seq": entry_seq,
                            "fence": self.fence,
                            "kind": entry.__struct_config__.tag,
                            "event": _log_encoder.encode(entry),
                        }
                        for entry_seq, entry in written
                    ],
                )
            await _write_tenant_rows(session, state, changes)
            if snapshot:
                await session.execute(
                    sa.insert(RouterSnapshot.__table__),  # type: ignore[attr-defined]
                    [{"pool": pool, "seq": seq, "state": pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)}],
                )
                # Keep the two newest snapshots and the log from the older one on.
                older = (
                    await session.execute(
                        sa.select(RouterSnapshot.seq)  # type: ignore[call-overload]
                        .where(RouterSnapshot.pool == pool)
                        .order_by(RouterSnapshot.seq.desc())  # type: ignore[attr-defined]
                        .offset(1)
                        .limit(1)
                    )
                ).scalar()
                if older is not None:
                    await session.execute(
                        sa.delete(RouterSnapshot).where(RouterSnapshot.pool == pool, RouterSnapshot.seq < older)  # type: ignore[arg-type]
                    )
                    await session.execute(
                        sa.delete(RouterLogEntry).where(RouterLogEntry.pool == pool, RouterLogEntry.seq <= older)  # type: ignore[arg-type]
                    )

    # --- live state ---------------------------------------------------------------------------------

    async def _publish_all(self, state: RouterState) -> None:
        pool = self.settings.pool
        stale = [key async for key in self.redis.scan_iter(match=live.key_pattern(pool), count=1000)]
        if stale:
            await self.redis.delete(*stale)
        agents = {a.agent_id for a in state.engine.config.agents} | set(state.agents)
        for agent_id in agents:
            state.agent(agent_id)
        changes = Changes(
            contacts=set(state.contacts) | {c for r in state.agents.values() for c in r.pending},
            agents=agents,
            queues={q.queue_id for q in state.engine.config.queues} | set(state.queue_members),
        )
        await self._publish(state, changes)

    async def _publish(self, state: RouterState, changes: Changes) -> None:
        if not (changes.contacts or changes.agents or changes.queues):
            return
        pool = self.settings.pool
        pipe = self.redis.pipeline(transaction=False)
        tenants: set[str] = set()
        for contact_id in changes.contacts:
            contact = state.contact(contact_id)
            if contact is None:
                continue
            tenants.add(contact.tenant_id)
            ttl = None if contact.live else live.FINISHED_TTL_SECONDS
            pipe.set(live.contact_key(contact_id, pool), live.encode(_contact_view(contact)), ex=ttl)
        queues = {q.queue_id: q.tenant_id for q in state.engine.config.queues}
        for queue_id in changes.queues:
            members = [state.contacts[c] for c in state.queue_members.get(queue_id, ()) if c in state.contacts]
            tenant_id = queues.get(queue_id) or (members[0].tenant_id if members else None)
            if tenant_id is None:
                continue
            tenants.add(tenant_id)
            waiting = [c.arrived_at for c in members if c.state == InteractionState.WAITING]
            queue_view = live.QueueView(
                queue_id=uuid.UUID(queue_id),
                tenant_id=uuid.UUID(tenant_id),
                waiting=len(waiting),
                oldest_arrived_at=min(waiting, default=None),
                offered=sum(c.state == InteractionState.OFFERED for c in members),
                connected=sum(c.state == InteractionState.CONNECTED for c in members),
            )
            pipe.set(live.queue_key(queue_id, pool), live.encode(queue_view))
            pipe.sadd(live.tenant_queues_key(tenant_id, pool), queue_id)
        for agent_id in changes.agents:
            record = state.agent(agent_id)
            pipe.set(live.agent_key(agent_id, pool), live.encode(_agent_view(record)))
            pipe.sadd(live.agents_key(pool), agent_id)
            pipe.publish(live.agent_channel(agent_id, pool), b"1")
        for tenant_id in tenants:
            pipe.publish(live.tenant_channel(tenant_id, pool), b"1")
        pipe.publish(live.pool_channel(pool), b"1")
        await pipe.execute()


def _contact_view(contact: ContactRecord) -> live.ContactView:
    return live.ContactView(
        contact_id=uuid.UUID(contact.contact_id),
        tenant_id=uuid.UUID(contact.tenant_id),
        queue_id=uuid.UUID(contact.queue_id),
        channel=contact.channel,
        state=contact.state,  # type: ignore[arg-type]
        caller=contact.caller,
        context=contact.context,
        agent_id=uuid.UUID(contact.agent_id) if contact.agent_id else None,
        arrived_at=contact.arrived_at,
        answered_at=contact.answered_at,
        ended_at=contact.ended_at,
        on_hold=contact.hold_started is not None,
        transfers=contact.transfers,
        disposition=contact.disposition,
    )


def _agent_view(record: AgentRecord) -> live.AgentView:
    offer = None
    if record.offer is not None:
        contact_id, tenant_id, queue_id, expires_at = record.offer
        offer = live.OfferView(
            contact_id=uuid.UUID(contact_id),
            tenant_id=uuid.UUID(tenant_id),
            queue_id=uuid.UUID(queue_id),
            expires_at=expires_at,
        )
    return live.AgentView(
        agent_id=uuid.UUID(record.agent_id),
        presence=record.presence,  # type: ignore[arg-type]
        requested=record.base,  # type: ignore[arg-type]
        reason=record.reason if record.base == AgentState.BREAK else "",
        since=record.since,
        offer=offer,
        contacts=tuple(uuid.UUID(c) for c in record.contacts),
        wrap_up_contact=uuid.UUID(record.wrap_contact) if record.wrap_contact else None,
        wrap_up_until=record.wrap_until,
        pending_dispositions=tuple(uuid.UUID(c) for c in record.pending),
    )
