"""Cancelling a callback: it leaves the line (or its offer) without counting as abandoned; nothing else does."""

from __future__ import annotations

import pickle

from app.routing.engine import (
    Attainment,
    CallbackCancelled,
    CallbackRequested,
    ContactEnded,
    ContactTransferred,
    Offer,
    OfferAccepted,
    OfferRevoked,
    QueueConfig,
    RemovalReason,
    Removed,
    RevokeReason,
)
from tests.unit.routing.helpers import agent, arrive, build, connect, login, only

QUEUES = (QueueConfig("q1", "t1"), QueueConfig("q2", "t1"))


def test_a_waiting_callback_leaves_the_line_and_the_next_contact_keeps_its_place() -> None:
    engine = build([agent("a1")])
    arrive(engine, "c1", at=0, callback=True)
    arrive(engine, "c2", at=1)
    assert engine.handle(CallbackCancelled(2, "c1")) == [Removed("c1", "q1", RemovalReason.CANCELLED)]
    assert engine.waiting("q1") == ("c2",)
    assert engine.queue_view("q1").waiting == 1
    assert engine.attainment("t1") == Attainment(answered=0, answered_within_target=0, abandoned=0)
    assert only(login(engine, "a1", at=3), Offer)[0].contact_id == "c2"


def test_a_callback_on_offer_is_withdrawn_and_the_agent_gets_the_next_contact() -> None:
    engine = build([agent("a1")])
    login(engine, "a1", at=0)
    arrive(engine, "c1", at=1, callback=True)
    arrive(engine, "c2", at=2)
    assert engine.handle(CallbackCancelled(3, "c1")) == [
        OfferRevoked("c1", "a1", RevokeReason.CANCELLED),
        Removed("c1", "q1", RemovalReason.CANCELLED),
        Offer("c2", "a1", "t1", "q1", 18.0),
    ]
    assert engine.attainment("t1").abandoned == 0


def test_a_caller_who_asked_for_a_callback_can_have_it_cancelled() -> None:
    engine = build([agent("a1")])
    arrive(engine, "c1", at=0)
    engine.handle(CallbackRequested(1, "c1"))
    assert engine.handle(CallbackCancelled(2, "c1")) == [Removed("c1", "q1", RemovalReason.CANCELLED)]


def test_nothing_happens_once_an_agent_took_it_for_a_caller_on_the_line_or_when_it_is_over() -> None:
    engine = build([agent("a1")], QUEUES)
    login(engine, "a1", at=0)
    connect(engine, "taken", "a1", at=1, callback=True)
    arrive(engine, "caller", at=2)  # waits: a1 is busy
    for contact_id in ("taken", "caller", "never-arrived"):
        before = pickle.dumps(engine)
        assert engine.handle(CallbackCancelled(2, contact_id)) == []  # at the last event's time: nothing moves
        assert pickle.dumps(engine) == before
    assert engine.waiting("q1") == ("caller",)
    assert engine.agent_view("a1").contacts == ("taken",)

    # Handed on, a callback is a caller on the line: a cancel leaves it alone too. Its agent takes the next caller.
    handed_on = engine.handle(ContactTransferred(4, "taken", "a1", to_queue="q2"))
    assert [(o.contact_id, o.agent_id) for o in only(handed_on, Offer)] == [("caller", "a1")]
    assert engine.handle(CallbackCancelled(5, "taken")) == []
    assert engine.waiting("q2") == ("taken",)

    engine.handle(OfferAccepted(6, "caller", "a1"))
    engine.handle(ContactEnded(7, "caller"))
    assert engine.handle(CallbackCancelled(8, "caller")) == []  # over
