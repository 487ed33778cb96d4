"""The read API for live views, snapshots with pickle, and refused events leaving the engine untouched."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from app.routing.engine import (
    AgentLoggedIn,
    AgentState,
    AgentStateChanged,
    AgentView,
    AttainmentUpdated,
    Channel,
    ContactArrived,
    ContactEnded,
    Event,
    OfferAccepted,
    QueueConfig,
    QueueView,
    RoutingEngine,
    RoutingError,
    Tick,
)
from tests.unit.routing.helpers import agent, arrive, build, connect, login, unchanged_on_error
from tests.unit.routing.test_properties import busy_scenario

ROOT = Path(__file__).resolve().parents[3]


def test_an_agent_view_follows_the_agent() -> None:
    engine = build([agent("a1", chat_capacity=2)], [QueueConfig("q1", "t1", wrap_up_seconds=10)])
    assert engine.agent_view("a1") == AgentView("a1", AgentState.OFFLINE, "", None, (), None, 0.0, False)
    login(engine, "a1", at=1)
    arrive(engine, "c1", at=2, channel=Channel.CHAT)
    assert engine.agent_view("a1") == AgentView("a1", AgentState.AVAILABLE, "", "c1", (), None, 1.0, False)
    engine.handle(OfferAccepted(3, "c1", "a1"))
    connect(engine, "c2", "a1", at=4, channel=Channel.CHAT)
    assert engine.agent_view("a1").contacts == ("c1", "c2")
    engine.handle(ContactEnded(5, "c1"))
    engine.handle(AgentStateChanged(6, "a1", AgentState.BREAK, "lunch"))
    assert engine.agent_view("a1") == AgentView("a1", AgentState.BREAK, "lunch", None, ("c2",), 15.0, 1.0, False)
    engine.handle(ContactEnded(7, "c2"))
    engine.handle(Tick(30))
    assert engine.agent_view("a1") == AgentView("a1", AgentState.BREAK, "lunch", None, (), None, 17.0, False)
    with pytest.raises(RoutingError):
        engine.agent_view("ghost")


def test_agents_are_listed_by_id() -> None:
    engine = build([agent("b"), agent("a"), agent("c")])
    assert [view.agent_id for view in engine.agents()] == ["a", "b", "c"]


def test_a_queue_view_counts_waiting_contacts_and_the_first_arrival() -> None:
    queues = [QueueConfig("q1", "t1", overflow_to="q2", overflow_after_seconds=10), QueueConfig("q2", "t1")]
    engine = build([agent("a1")], queues)
    assert engine.queues() == (QueueView("q1", "t1", 0, None), QueueView("q2", "t1", 0, None))
    arrive(engine, "c1", at=1)
    arrive(engine, "c2", at=3, queue_id="q2", priority=5)  # first in line, not the first to arrive
    arrive(engine, "chat", at=4, channel=Channel.CHAT)
    engine.handle(Tick(12))  # c1 overflows to q2 at 11 s, keeping its first arrival
    assert engine.queues() == (QueueView("q1", "t1", 1, 4.0), QueueView("q2", "t1", 2, 1.0))
    login(engine, "a1", at=13)  # an offer out is not waiting
    assert engine.queue_view("q2") == QueueView("q2", "t1", 1, 1.0)
    with pytest.raises(RoutingError):
        engine.queue_view("nope")


REFUSED: dict[str, Event] = {
    "login of an unknown agent": AgentLoggedIn(20, "ghost"),
    "state of an unknown agent": AgentStateChanged(20, "ghost", AgentState.BREAK),
    "arrival in an unknown queue": ContactArrived(20, "c9", "t1", "nope"),
    "arrival for another tenant": ContactArrived(20, "c9", "t2", "q1"),
    "attainment of an unknown tenant": AttainmentUpdated(20, "t9", 1, 1, 0),
}


@pytest.mark.parametrize("event", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_event_changes_nothing_not_even_time(event: Event) -> None:
    engine = build([agent("a1")], offer_timeout_seconds=10)
    login(engine, "a1", at=0)
    arrive(engine, "c1", at=1)  # its offer expires at 11: a refused event at 20 must not fire that timer
    unchanged_on_error(engine, event)
    assert engine.now == 1


def test_a_pickled_engine_carries_on_identically_in_another_process(tmp_path: Path) -> None:
    # The router snapshots the engine and restores it after a restart: another process, another hash seed.
    config, events, decisions = busy_scenario()
    cut = len(events) // 2
    engine = RoutingEngine(config)
    done = [d for event in events[:cut] for d in engine.handle(event)]
    snapshot = tmp_path / "engine.pickle"
    snapshot.write_bytes(pickle.dumps((engine, events[cut:])))
    code = (
        "import json, pickle, sys\n"
        "engine, events = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(json.dumps([repr(d) for e in events for d in engine.handle(e)]))\n"
    )
    expected = [repr(d) for d in decisions[len(done) :]]
    assert expected
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code, str(snapshot)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(result.stdout) == expected
