"""Agents' presence changes folded into seconds per state and 15-minute interval.

Each agent's changes are applied in log order. A state's time is counted when it ends (at the agent's
next change), split across the intervals it spans; the state an agent is in now is not counted yet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable

from app.reporting.engine.intervals import split_by_interval
from app.reporting.engine.rollup import PresenceChange

PRESENCE_STATES = ("available", "offered", "on_contact", "wrap_up", "break", "offline")


@dataclasses.dataclass(slots=True)
class OpenState:
    """An agent's current state (since when), and the last change applied (its checkpoint)."""

    state: str
    since: dt.datetime | None
    log_seq: int


StateKey = tuple[uuid.UUID, dt.datetime]  # agent, interval start


def fold_presence(
    open_states: dict[uuid.UUID, OpenState], changes: Iterable[PresenceChange]
) -> dict[StateKey, dict[str, int]]:
    """Applies ``changes`` (log order per agent) to ``open_states``; returns microseconds per state added."""
    added: dict[StateKey, dict[str, int]] = {}
    for change in changes:
        current = open_states.get(change.agent_id)
        if current is None:
            current = open_states[change.agent_id] = OpenState("offline", None, 0)
        if change.log_seq <= current.log_seq:
            continue  # already applied
        if current.since is not None and current.state in PRESENCE_STATES:
            for bucket, amount in split_by_interval(current.since, change.at):
                seconds = added.setdefault((change.agent_id, bucket), dict.fromkeys(PRESENCE_STATES, 0))
                seconds[current.state] += amount
        current.state = change.state
        current.since = max(change.at, current.since) if current.since is not None else change.at
        current.log_seq = change.log_seq
    return added
