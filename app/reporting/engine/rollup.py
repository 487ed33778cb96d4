"""Interaction events folded into interval rollups: what each event adds to which row.

A row is keyed by (interval start, queue, agent); the row without an agent holds the queue's totals, an
agent's row its share of the work in that queue. What an event adds depends only on the event and the
events of the same contact before it, so folding a log in batches (incrementally, with a checkpoint)
and folding it whole (a rebuild) give the same rows.

Counting rules:
- arrival-based (the interval and queue the contact ARRIVED in): offered; then the contact's first
  outcome only - answered (with its wait, also in the answering agent's row), abandoned (with its wait)
  or removed (max wait, queue closed, callback cancelled). A contact answered, transferred and abandoned
  later counts as answered once.
- handle-based (the interval a piece of work ENDED in, the queue it was answered in): each connected
  segment (answered until transferred or ended) adds its talk (connected time less hold) and hold; an
  ``ended`` adds one handled contact, a ``transferred`` one transfer; the wrap-up after either (see
  ``wrap_up_end``) is added to the same rows once it is over. A disposition counts in the rows of the
  contact's end; "resolved" is the first-contact-resolution numerator.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.reporting.engine.intervals import (
    add_histograms,
    count_wait,
    empty_histogram,
    interval_start,
    micros,
)

RESOLVED = "resolved"
_REMOVALS = frozenset({"max_wait", "queue_closed", "cancelled"})  # the engine's RemovalReason values


@dataclasses.dataclass(frozen=True, slots=True)
class EventRecord:
    """One row of ``interaction_events``, as the core needs it."""

    interaction_id: uuid.UUID
    log_seq: int
    position: int
    type: str
    at: dt.datetime
    agent_id: uuid.UUID | None
    queue_id: uuid.UUID | None
    data: Mapping[str, Any]


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class RollupKey:
    interval_start: dt.datetime
    queue_id: uuid.UUID
    agent_id: uuid.UUID | None  # None: the queue's totals

    def queue_row(self) -> RollupKey:
        return RollupKey(self.interval_start, self.queue_id, None)


@dataclasses.dataclass(slots=True)
class Tally:
    """The additive figures of one rollup row; durations in microseconds."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    removed: int = 0
    answered_wait_hist: list[int] = dataclasses.field(default_factory=empty_histogram)
    abandoned_wait_hist: list[int] = dataclasses.field(default_factory=empty_histogram)
    wait_micros: int = 0
    talk_micros: int = 0
    hold_micros: int = 0
    wrap_micros: int = 0
    handled: int = 0
    transfers: int = 0
    resolved: int = 0
    dispositions: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, other: Tally) -> None:
        self.offered += other.offered
        self.answered += other.answered
        self.abandoned += other.abandoned
        self.removed += other.removed
        add_histograms(self.answered_wait_hist, other.answered_wait_hist)
        add_histograms(self.abandoned_wait_hist, other.abandoned_wait_hist)
        self.wait_micros += other.wait_micros
        self.talk_micros += other.talk_micros
        self.hold_micros += other.hold_micros
        self.wrap_micros += other.wrap_micros
        self.handled += other.handled
        self.transfers += other.transfers
        self.resolved += other.resolved
        for code, count in other.dispositions.items():
            self.dispositions[code] = self.dispositions.get(code, 0) + count


@dataclasses.dataclass(frozen=True, slots=True)
class WrapStart:
    """Work that ended (at ``log_seq``) and may be followed by the agent's wrap-up, to be added when over."""

    interaction_id: uuid.UUID
    agent_id: uuid.UUID
    key: RollupKey  # the agent's row of the interval the work ended in
    ended_at: dt.datetime
    log_seq: int


@dataclasses.dataclass(slots=True)
class _Segment:
    agent_id: uuid.UUID
    queue_id: uuid.UUID
    answered_at: dt.datetime
    hold_micros: int = 0
    held_since: dt.datetime | None = None

    def close_hold(self, at: dt.datetime) -> None:
        if self.held_since is not None:
            self.hold_micros += max(0, micros(at - self.held_since))
            self.held_since = None


@dataclasses.dataclass(slots=True)
class ContactState:
    """What the fold remembers of one contact between its events."""

    arrived_at: dt.datetime | None = None
    arrival: RollupKey | None = None  # the queue row of its arrival
    decided: bool = False  # its first outcome (answered, abandoned, removed) is counted
    segment: _Segment | None = None
    ended: RollupKey | None = None  # the agent row of its end, where its disposition counts


class Rollups:
    """Accumulates what a run of events adds to each row, and the wrap-ups they start."""

    def __init__(self) -> None:
        self.tallies: dict[RollupKey, Tally] = {}
        self.wraps: list[WrapStart] = []

    def tally(self, key: RollupKey) -> Tally:
        found = self.tallies.get(key)
        if found is None:
            found = self.tallies[key] = Tally()
        return found

    def both(self, key: RollupKey) -> tuple[Tally, Tally]:
        """The agent's row and its queue's totals: every agent-attributed figure is added to both."""
        return self.tally(key), self.tally(key.queue_row())

    def add_wrap(self, key: RollupKey, wrap_micros: int) -> None:
        for tally in self.both(key):
            tally.wrap_micros += wrap_micros


def apply(state: ContactState, event: EventRecord, out: Rollups | None) -> None:
    """Moves the contact's state past ``event``; ``out`` (None while replaying history) gets what it adds."""
    at = event.at
    kind = event.type
    if kind == "arrived":
        if event.queue_id is None:
            return
        state.arrived_at = at
        state.arrival = RollupKey(interval_start(at), event.queue_id, None)
        if out is not None:
            out.tally(state.arrival).offered += 1
    elif kind == "answered":
        if event.agent_id is None or event.queue_id is None:
            return
        if not state.decided and state.arrival is not None and state.arrived_at is not None:
            state.decided = True
            if out is not None:
                wait = max(0, micros(at - state.arrived_at))
                agent_row = RollupKey(state.arrival.interval_start, state.arrival.queue_id, event.agent_id)
                for tally in out.both(agent_row):
                    tally.answered += 1
                    tally.wait_micros += wait
                    count_wait(tally.answered_wait_hist, wait)
        state.segment = _Segment(event.agent_id, event.queue_id, at)
    elif kind in ("held", "resumed"):
        segment = state.segment
        if segment is not None:
            if kind == "held" and segment.held_since is None:
                segment.held_since = at
            elif kind == "resumed":
                segment.close_hold(at)
    elif kind in ("transferred", "ended"):
        _end_segment(state, event, out)
    elif kind == "wrapped_up":
        code = str(event.data.get("disposition") or "")
        if code and state.ended is not None and out is not None:
            for tally in out.both(state.ended):
                tally.dispositions[code] = tally.dispositions.get(code, 0) + 1
                tally.resolved += code == RESOLVED
    elif kind == "abandoned" or kind in _REMOVALS:
        if state.decided or state.arrival is None or state.arrived_at is None:
            return
        state.decided = True
        if out is not None:
            tally = out.tally(state.arrival)
            if kind == "abandoned":
                tally.abandoned += 1
                count_wait(tally.abandoned_wait_hist, max(0, micros(at - state.arrived_at)))
            else:
                tally.removed += 1


def _end_segment(state: ContactState, event: EventRecord, out: Rollups | None) -> None:
    segment = state.segment
    if segment is None:
        return
    state.segment = None
    segment.close_hold(event.at)
    key = RollupKey(interval_start(event.at), segment.queue_id, segment.agent_id)
    if event.type == "ended":
        state.ended = key
    if out is None:
        return
    connected = max(0, micros(event.at - segment.answered_at))
    for tally in out.both(key):
        tally.hold_micros += segment.hold_micros
        tally.talk_micros += max(0, connected - segment.hold_micros)
        if event.type == "ended":
            tally.handled += 1
        else:
            tally.transfers += 1
    out.wraps.append(WrapStart(event.interaction_id, segment.agent_id, key, event.at, event.log_seq))


def fold(history: Iterable[EventRecord], new: Iterable[EventRecord]) -> Rollups:
    """What ``new`` events add, given the earlier events (``history``) of the same contacts; both in log order."""
    states: dict[uuid.UUID, ContactState] = {}
    for event in history:
        apply(states.setdefault(event.interaction_id, ContactState()), event, None)
    out = Rollups()
    for event in new:
        apply(states.setdefault(event.interaction_id, ContactState()), event, out)
    return out


# --- wrap-up ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PresenceChange:
    """One row of ``agent_state_changes``."""

    agent_id: uuid.UUID
    log_seq: int
    state: str
    at: dt.datetime


NO_WRAP_UP = 0


def wrap_up_end(start: WrapStart, changes: Sequence[PresenceChange]) -> int | None:
    """The wrap-up after a piece of work, in microseconds: None while it is still running.

    ``changes`` are the agent's presence changes from the work's log entry on, in log order. The router
    records an agent's presence once per log entry, after the whole entry: if the agent is in wrap_up
    after the entry that ended the work, the wrap-up lasts until the agent's next presence change (the
    timer ran out, or the agent finished it with a disposition); otherwise there was none.
    """
    after = [change for change in changes if change.log_seq >= start.log_seq]
    if not after or after[0].log_seq != start.log_seq or after[0].state != "wrap_up":
        return NO_WRAP_UP
    if len(after) == 1:
        return None
    return max(0, micros(after[1].at - start.ended_at))
