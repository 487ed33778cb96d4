"""ContactTransferred: a connected contact handed on to a queue or an agent."""

from __future__ import annotations

import pytest

from app.routing.engine import (
    Attainment,
    ContactAbandoned,
    ContactEnded,
    ContactTransferred,
    Offer,
    OfferAccepted,
    QueueConfig,
    RemovalReason,
    Removed,
    TenantConfig,
    Tick,
    Transferred,
    WrapUpFinished,
    WrapUpStarted,
)
from tests.unit.routing.helpers import agent, arrive, build, connect, login, only, reconfigure, unchanged_on_error

QUEUES = (QueueConfig("q1", "t1", wrap_up_seconds=10), QueueConfig("q2", "t1"))


def test_a_transfer_to_a_queue_wraps_the_agent_up_and_offers_the_contact_there() -> None:
    engine = build([agent("a1"), agent("a2")], QUEUES)
    login(engine, "a1", "a2", at=0)
    connect(engine, "c1", "a1", at=1)
    assert engine.handle(ContactTransferred(5, "c1", "a1", to_queue="q2")) == [
        Transferred("c1", "a1", "q2", None),
        WrapUpStarted("a1", "c1", 15.0),
        Offer("c1", "a2", "t1", "q2", 20.0),
    ]
    assert engine.agent_view("a1").contacts == ()


def test_a_transferred_contact_keeps_its_first_arrival_and_never_goes_back_to_its_agent() -> None:
    engine = build([agent("a1")], QUEUES)
    login(engine, "a1", at=0)
    connect(engine, "c1", "a1", at=1)
    assert arrive(engine, "c2", at=2, queue_id="q2") == []
    engine.handle(ContactTransferred(3, "c1", "a1", to_queue="q2"))
    assert engine.waiting("q2") == ("c1", "c2")
    assert engine.handle(Tick(14)) == [WrapUpFinished("a1"), Offer("c2", "a1", "t1", "q2", 28.0)]


def test_without_wrap_up_the_agent_takes_the_next_contact_at_once() -> None:
    engine = build([agent("a1")], QUEUES)
    login(engine, "a1", at=0)
    connect(engine, "c1", "a1", at=1, queue_id="q2")
    arrive(engine, "c2", at=2)
    assert engine.handle(ContactTransferred(3, "c1", "a1", to_queue="q1")) == [
        Transferred("c1", "a1", "q1", None),
        Offer("c2", "a1", "t1", "q1", 18.0),
    ]


def test_a_transfer_to_an_agent_waits_for_that_agent_within_the_window() -> None:
    engine = build([agent("a1"), agent("a2"), agent("a3")], QUEUES)
    login(engine, "a1", "a2", "a3", at=0)
    connect(engine, "c1", "a1", at=1, queue_id="q2")
    connect(engine, "c2", "a2", at=2)
    assert engine.handle(ContactTransferred(3, "c1", "a1", to_agent="a2", window_seconds=30)) == [
        Transferred("c1", "a1", "q2", "a2")
    ]
    assert engine.handle(ContactEnded(4, "c2")) == [WrapUpStarted("a2", "c2", 14.0)]
    assert engine.handle(Tick(15)) == [WrapUpFinished("a2"), Offer("c1", "a2", "t1", "q2", 29.0)]


def test_after_the_window_anyone_but_the_transferring_agent_takes_it() -> None:
    engine = build([agent("a1"), agent("a2"), agent("a3")], QUEUES)
    login(engine, "a1", "a2", "a3", at=0)
    connect(engine, "c1", "a1", at=1, queue_id="q2")
    connect(engine, "c2", "a2", at=2)
    engine.handle(ContactTransferred(3, "c1", "a1", to_agent="a2", window_seconds=30))
    assert engine.handle(Tick(34)) == [Offer("c1", "a3", "t1", "q2", 48.0)]  # window over at 33 s


def test_a_transfer_to_an_agent_in_another_queue() -> None:
    engine = build([agent("a1"), agent("a2"), agent("a3")], QUEUES)
    login(engine, "a1", "a3", at=0)
    login(engine, "a2", at=1)
    connect(engine, "c1", "a1", at=2, queue_id="q2")
    assert engine.handle(ContactTransferred(3, "c1", "a1", to_queue="q1", to_agent="a2")) == [
        Transferred("c1", "a1", "q1", "a2"),
        Offer("c1", "a2", "t1", "q1", 18.0),  # a3 has been idle longer, but a2 is preferred
    ]


def test_the_service_level_counts_a_transferred_contact_once() -> None:
    engine = build([agent("a1"), agent("a2")], QUEUES)
    login(engine, "a1", at=0)
    connect(engine, "c1", "a1", at=1)
    engine.handle(ContactTransferred(2, "c1", "a1", to_queue="q2"))
    login(engine, "a2", at=3)
    engine.handle(OfferAccepted(4, "c1", "a2"))
    engine.handle(ContactTransferred(5, "c1", "a2", to_queue="q1"))
    assert engine.handle(ContactAbandoned(6, "c1")) == [Removed("c1", "q1", RemovalReason.ABANDONED)]
    assert engine.attainment("t1") == Attainment(answered=1, answered_within_target=1, abandoned=0)


def test_a_callback_handed_on_is_a_caller_on_the_line_again() -> None:
    engine = build([agent("a1")], QUEUES)
    login(engine, "a1", at=0)
    connect(engine, "c1", "a1", at=1, callback=True)
    engine.handle(ContactTransferred(2, "c1", "a1", to_queue="q2"))
    assert engine.handle(ContactAbandoned(3, "c1")) == [Removed("c1", "q2", RemovalReason.ABANDONED)]


def test_a_removed_agent_may_still_hand_its_contact_on_and_then_leaves() -> None:
    engine = build([agent("a1"), agent("a2")], QUEUES)
    login(engine, "a1", "a2", at=0)
    connect(engine, "c1", "a1", at=1, queue_id="q2")
    reconfigure(engine, 2, [agent("a2")], QUEUES)
    assert engine.handle(ContactTransferred(3, "c1", "a1", to_queue="q1")) == [
        Transferred("c1", "a1", "q1", None),
        Offer("c1", "a2", "t1", "q1", 18.0),
    ]
    assert [view.agent_id for view in engine.agents()] == ["a2"]


REFUSED = {
    "no target": ContactTransferred(5, "c1", "a1"),
    "unknown queue": ContactTransferred(5, "c1", "a1", to_queue="nope"),
    "another tenant's queue": ContactTransferred(5, "c1", "a1", to_queue="q9"),
    "unknown agent": ContactTransferred(5, "c1", "a1", to_agent="ghost"),
    "to itself": ContactTransferred(5, "c1", "a1", to_agent="a1"),
    "an agent of another tenant": ContactTransferred(5, "c1", "a1", to_agent="other"),
    "an agent lacking the queue's attribute": ContactTransferred(5, "c1", "a1", to_queue="pci", to_agent="a2"),
    "an agent without voice": ContactTransferred(5, "c1", "a1", to_agent="chat-only"),
    "no window": ContactTransferred(5, "c1", "a1", to_agent="a2", window_seconds=0),
    "unknown queue, whatever the contact": ContactTransferred(5, "nobody", "a1", to_queue="nope"),
}


@pytest.mark.parametrize("event", REFUSED.values(), ids=REFUSED.keys())
def test_a_transfer_the_configuration_forbids_is_refused_and_changes_nothing(event: ContactTransferred) -> None:
    queues = [
        QueueConfig("q1", "t1"),
        QueueConfig("pci", "t1", required_attributes=frozenset({"pci"})),
        QueueConfig("q9", "t2"),
    ]
    agents = [
        agent("a1"),
        agent("a2"),
        agent("other", tenants=("t2",)),
        agent("chat-only", voice=False, chat_capacity=2),
    ]
    engine = build(agents, queues, [TenantConfig("t1"), TenantConfig("t2")], offer_timeout_seconds=2)
    login(engine, "a1", at=0)
    connect(engine, "c1", "a1", at=1)
    arrive(engine, "c2", at=2)
    login(engine, "a2", at=3)  # c2's offer to a2 expires at 5: the refused event must not fire it
    unchanged_on_error(engine, event)


def test_a_transfer_needs_a_queue_when_the_contacts_queue_closed() -> None:
    engine = build([agent("a1"), agent("a2")], QUEUES)
    login(engine, "a1", at=0)
    connect(engine, "c1", "a1", at=1, queue_id="q2")
    reconfigure(engine, 2, [agent("a1"), agent("a2")], QUEUES[:1])
    unchanged_on_error(engine, ContactTransferred(3, "c1", "a1", to_agent="a2"))
    assert engine.handle(ContactTransferred(3, "c1", "a1", to_queue="q1", to_agent="a2")) == [
        Transferred("c1", "a1", "q1", "a2")  # a2 is logged out: the contact waits for it
    ]


def test_a_transfer_of_a_contact_the_agent_does_not_hold_is_ignored() -> None:
    # Like an accept from an agent the contact is not on offer to: stale or replayed commands change nothing.
    engine = build([agent("a1"), agent("a2")], QUEUES)
    login(engine, "a1", "a2", at=0)
    connect(engine, "c1", "a1", at=1)
    assert only(arrive(engine, "c2", at=2), Offer)[0].agent_id == "a2"
    arrive(engine, "c3", at=3)
    for contact_id, agent_id in (("c1", "a2"), ("c2", "a2"), ("c3", "a1"), ("nobody", "a1")):
        assert engine.handle(ContactTransferred(4, contact_id, agent_id, to_queue="q2")) == []
    assert engine.agent_view("a1").contacts == ("c1",) and engine.agent_view("a2").offer == "c2"
    assert engine.waiting("q1") == ("c3",) and engine.waiting("q2") == ()
    engine.handle(ContactEnded(5, "c1"))
    assert engine.handle(ContactTransferred(6, "c1", "a1", to_queue="q2")) == []  # replayed after the end
