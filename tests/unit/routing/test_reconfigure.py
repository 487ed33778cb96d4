"""Reconfigured: a new configuration under the live state (agents, offers, waiting lines, timers)."""

from __future__ import annotations

import pytest

from app.routing.engine import (
    AgentConfig,
    AgentLoggedIn,
    AgentPolicy,
    AgentState,
    AgentStateChanged,
    AgentView,
    AttainmentUpdated,
    Channel,
    ContactArrived,
    ContactEnded,
    ContactPolicy,
    Offer,
    OfferAccepted,
    OfferCallback,
    OfferRevoked,
    Overflow,
    QueueConfig,
    Reconfigured,
    RelaxationStep,
    RemovalReason,
    Removed,
    RevokeReason,
    RoutingError,
    TenantConfig,
    Tick,
    WrapUpEnded,
    WrapUpFinished,
    WrapUpStarted,
)
from tests.unit.routing.helpers import (
    agent,
    arrive,
    build,
    config,
    connect,
    login,
    only,
    reconfigure,
    skills,
    unchanged_on_error,
)

TWO_TENANTS = (TenantConfig("t1"), TenantConfig("t2"))


def test_agents_keep_their_state_and_new_agents_start_offline() -> None:
    engine = build([agent("a1"), agent("a2")])
    login(engine, "a1", "a2", at=0)
    connect(engine, "c1", "a1", at=1)
    assert reconfigure(engine, 2, [agent("a1"), agent("a2"), agent("a3")]) == []
    assert engine.agent_view("a1") == AgentView("a1", AgentState.AVAILABLE, "", None, ("c1",), None, 0.0, False)
    assert engine.agent_view("a3") == AgentView("a3", AgentState.OFFLINE, "", None, (), None, 0.0, False)
    assert only(arrive(engine, "c2", at=3), Offer)[0].agent_id == "a2"
    assert login(engine, "a3", at=4) == []


def test_new_skills_apply_at_once_to_waiting_contacts() -> None:
    queue = QueueConfig("q1", "t1", skills=skills(billing=3))
    engine = build([agent("a1", levels={"t1": {"billing": 1}})], [queue])
    login(engine, "a1", at=0)
    assert arrive(engine, "c1", at=1) == []
    assert reconfigure(engine, 5, [agent("a1", levels={"t1": {"billing": 3}})], [queue]) == [
        Offer("c1", "a1", "t1", "q1", 20.0)
    ]


def test_after_reconfiguration_waiting_contacts_are_routed_by_rank_and_agent_policy() -> None:
    queues = [QueueConfig("q1", "t1", skills=skills(x=1)), QueueConfig("q2", "t1", priority=2, skills=skills(x=1))]
    engine = build([agent("a1"), agent("a2")], queues)
    login(engine, "a1", at=0)
    login(engine, "a2", at=0.5)
    arrive(engine, "c1", at=1)
    arrive(engine, "c2", at=2, queue_id="q2")
    skilled = [agent("a1", levels={"t1": {"x": 1}}), agent("a2", levels={"t1": {"x": 1}})]
    # c2 ranks first (queue priority); it goes to the longest idle agent, c1 to the other.
    assert reconfigure(engine, 5, skilled, queues) == [
        Offer("c2", "a1", "t1", "q2", 20.0),
        Offer("c1", "a2", "t1", "q1", 20.0),
    ]


LOST = {
    "attribute": agent("a1", levels={"t1": {"billing": 3}}),
    "tenant": agent("a1", tenants=("t2",)),
    "skill": agent("a1", levels={"t1": {"billing": 1}}, attributes={"t1": {"fr"}}),
    "voice": agent("a1", levels={"t1": {"billing": 3}}, attributes={"t1": {"fr"}}, voice=False, chat_capacity=2),
}


@pytest.mark.parametrize("new_a1", LOST.values(), ids=LOST.keys())
def test_an_offer_no_longer_eligible_is_revoked_and_routed_again(new_a1: AgentConfig) -> None:
    queue = QueueConfig("q1", "t1", skills=skills(billing=2))
    a2 = agent("a2", levels={"t1": {"billing": 3}}, attributes={"t1": {"fr"}})
    a1 = agent("a1", levels={"t1": {"billing": 3}}, attributes={"t1": {"fr"}})
    engine = build([a1, a2], [queue], TWO_TENANTS)
    login(engine, "a1", at=0)
    login(engine, "a2", at=1)
    assert only(arrive(engine, "c1", at=2, required_attributes=frozenset({"fr"})), Offer)[0].agent_id == "a1"
    assert reconfigure(engine, 3, [a1, a2], [queue], TWO_TENANTS) == []  # still eligible: the offer stands
    assert reconfigure(engine, 4, [new_a1, a2], [queue], TWO_TENANTS) == [
        OfferRevoked("c1", "a1", RevokeReason.CONFIG_CHANGED),
        Offer("c1", "a2", "t1", "q1", 19.0),
    ]
    assert engine.agent_view("a1").state is AgentState.AVAILABLE  # not a miss


def test_a_removed_agent_is_logged_out_finishes_its_contacts_then_leaves() -> None:
    queues = [QueueConfig("q1", "t1", wrap_up_seconds=10)]
    a2 = agent("a2", chat_capacity=2)
    engine = build([agent("a1", chat_capacity=2), a2], queues)
    login(engine, "a1", at=0)
    connect(engine, "c1", "a1", at=1, channel=Channel.CHAT)
    assert only(arrive(engine, "c2", at=2, channel=Channel.CHAT), Offer)[0].agent_id == "a1"
    login(engine, "a2", at=3)
    assert reconfigure(engine, 4, [a2], queues) == [
        OfferRevoked("c2", "a1", RevokeReason.CONFIG_CHANGED),
        Offer("c2", "a2", "t1", "q1", 19.0),
    ]
    assert engine.agent_view("a1") == AgentView("a1", AgentState.OFFLINE, "", None, ("c1",), None, 0.0, True)
    unchanged_on_error(engine, AgentLoggedIn(5, "a1"))
    unchanged_on_error(engine, AgentStateChanged(5, "a1", AgentState.BREAK))
    assert arrive(engine, "c3", at=6, channel=Channel.CHAT) == []  # a2 holds an offer; a1 takes nothing new
    assert engine.handle(ContactEnded(7, "c1")) == [WrapUpStarted("a1", "c1", 17.0)]
    assert engine.agent_view("a1").departing
    assert engine.handle(Tick(18)) == [WrapUpFinished("a1")]
    assert [view.agent_id for view in engine.agents()] == ["a2"]
    with pytest.raises(RoutingError):
        engine.agent_view("a1")
    unchanged_on_error(engine, WrapUpEnded(19, "a1"))  # nor does the offer to a2 time out at 19


def test_a_removed_agent_holding_nothing_leaves_at_once_and_may_come_back_as_new() -> None:
    engine = build([agent("a1"), agent("a2")])
    login(engine, "a1", "a2", at=0)
    assert reconfigure(engine, 1, [agent("a2")]) == []
    assert [view.agent_id for view in engine.agents()] == ["a2"]
    reconfigure(engine, 2, [agent("a1"), agent("a2")])
    assert engine.agent_view("a1").state is AgentState.OFFLINE


def test_an_agent_added_back_while_finishing_keeps_its_contacts_and_stays_logged_out() -> None:
    engine = build([agent("a1")])
    login(engine, "a1", at=0)
    connect(engine, "c1", "a1", at=1)
    reconfigure(engine, 2, [])
    reconfigure(engine, 3, [agent("a1")])
    assert engine.agent_view("a1") == AgentView("a1", AgentState.OFFLINE, "", None, ("c1",), None, 0.0, False)
    assert login(engine, "a1", at=4) == []


def test_a_preference_for_a_removed_agent_is_dropped() -> None:
    engine = build([agent("a1"), agent("a2")])
    login(engine, "a1", "a2", at=0)
    connect(engine, "c0", "a2", at=1)
    assert arrive(engine, "c1", at=2, preferred_agent="a2", preferred_window_seconds=60) == []
    assert reconfigure(engine, 3, [agent("a1")]) == [Offer("c1", "a1", "t1", "q1", 18.0)]


def test_a_closed_queue_removes_its_waiting_and_offered_contacts_and_its_calls_end_without_wrap_up() -> None:
    queues = [
        QueueConfig("q1", "t1"),
        QueueConfig("q2", "t1", wrap_up_seconds=30, required_attributes=frozenset({"x"})),
    ]
    agents = [agent("a1", attributes={"t1": {"x"}}), agent("a2", attributes={"t1": {"x"}}), agent("a3")]
    engine = build(agents, queues)
    login(engine, "a1", at=0)
    connect(engine, "c0", "a1", at=1, queue_id="q2")
    login(engine, "a2", at=2)
    assert only(arrive(engine, "c2", at=3, queue_id="q2"), Offer)[0].agent_id == "a2"
    assert arrive(engine, "c1", at=4, queue_id="q2") == []
    assert arrive(engine, "c3", at=5) == []
    assert reconfigure(engine, 6, agents, queues[:1]) == [
        OfferRevoked("c2", "a2", RevokeReason.CONFIG_CHANGED),
        Removed("c2", "q2", RemovalReason.QUEUE_CLOSED),
        Removed("c1", "q2", RemovalReason.QUEUE_CLOSED),
        Offer("c3", "a2", "t1", "q1", 21.0),
    ]
    assert engine.attainment("t1").abandoned == 0  # closing a queue is no caller giving up
    assert engine.handle(ContactEnded(7, "c0")) == []
    assert only(arrive(engine, "c4", at=8), Offer)[0].agent_id == "a1"
    unchanged_on_error(engine, ContactArrived(9, "c5", "t1", "q2"))


def test_a_queue_given_to_another_tenant_is_closed_for_the_contacts_of_the_first() -> None:
    engine = build([], [QueueConfig("q1", "t1")], TWO_TENANTS)
    arrive(engine, "c1", at=0)
    assert reconfigure(engine, 1, [], [QueueConfig("q1", "t2")], TWO_TENANTS) == [
        Removed("c1", "q1", RemovalReason.QUEUE_CLOSED)
    ]


def test_a_removed_tenant_loses_its_queues_and_waiting_contacts_but_its_calls_go_on() -> None:
    queues = [QueueConfig("q1", "t1"), QueueConfig("q2", "t2")]
    engine = build([agent("a1", tenants=("t1", "t2")), agent("a2", tenants=("t2",))], queues, TWO_TENANTS)
    login(engine, "a1", at=0)
    connect(engine, "c0", "a1", at=1, queue_id="q2", tenant_id="t2")
    assert arrive(engine, "c1", at=2, queue_id="q2", tenant_id="t2") == []
    assert reconfigure(engine, 3, [agent("a1")], queues[:1]) == [Removed("c1", "q2", RemovalReason.QUEUE_CLOSED)]
    assert [view.agent_id for view in engine.agents()] == ["a1"]
    assert engine.agent_view("a1").contacts == ("c0",)
    unchanged_on_error(engine, AttainmentUpdated(4, "t2", 1, 1, 0))
    unchanged_on_error(engine, ContactArrived(4, "c2", "t2", "q2"))
    assert arrive(engine, "c3", at=5) == []
    assert engine.handle(ContactEnded(6, "c0")) == [Offer("c3", "a1", "t1", "q1", 21.0)]


def test_new_timers_apply_from_now_to_contacts_already_waiting() -> None:
    engine = build([], [QueueConfig("q1", "t1", max_wait_seconds=60)])
    arrive(engine, "c1", at=0)
    arrive(engine, "c2", at=40)
    shorter = QueueConfig("q1", "t1", max_wait_seconds=30)
    assert reconfigure(engine, 50, [], [shorter]) == [Removed("c1", "q1", RemovalReason.MAX_WAIT)]
    assert engine.handle(Tick(69)) == []
    assert engine.handle(Tick(71)) == [Removed("c2", "q1", RemovalReason.MAX_WAIT)]


def test_a_timer_taken_away_no_longer_fires() -> None:
    engine = build([], [QueueConfig("q1", "t1", max_wait_seconds=60)])
    arrive(engine, "c1", at=0)
    reconfigure(engine, 10, [], [QueueConfig("q1", "t1")])
    assert engine.handle(Tick(100)) == []
    assert engine.waiting("q1") == ("c1",)


def test_overflow_and_callback_offers_added_later_apply_at_once_when_due() -> None:
    engine = build([], [QueueConfig("q1", "t1"), QueueConfig("q2", "t1")])
    arrive(engine, "c1", at=0)
    arrive(engine, "c2", at=25)
    queues = [
        QueueConfig("q1", "t1", overflow_to="q2", overflow_after_seconds=20, callback_offer_after_seconds=2),
        QueueConfig("q2", "t1"),
    ]
    assert reconfigure(engine, 30, [], queues) == [Overflow("c1", "q1", "q2"), OfferCallback("c2", "q1")]
    assert engine.handle(Tick(46)) == [Overflow("c2", "q1", "q2")]
    assert engine.waiting("q2") == ("c1", "c2")


@pytest.mark.parametrize(("step", "offered_by"), [(20.0, 25.0), (40.0, 40.0)])
def test_relaxation_steps_changed_later_count_from_the_entry_in_the_queue(step: float, offered_by: float) -> None:
    strict = QueueConfig("q1", "t1", skills=skills(gold=1))
    engine = build([agent("novice")], [strict], offer_timeout_seconds=100)
    login(engine, "novice", at=0)
    arrive(engine, "c1", at=0)
    relaxed = QueueConfig("q1", "t1", skills=skills(gold=1), relaxation=(RelaxationStep(step, ()),))
    decisions = reconfigure(engine, 25, [agent("novice")], [relaxed], offer_timeout_seconds=100)
    assert decisions + engine.handle(Tick(41)) == [Offer("c1", "novice", "t1", "q1", offered_by + 100)]


def test_a_changed_key_factor_reorders_the_line() -> None:
    agents = [agent("a1"), agent("a2")]
    engine = build(agents, contact_policy=ContactPolicy.PRIORITY_AGING, priority_aging_seconds=30)
    arrive(engine, "c1", at=0)
    arrive(engine, "c2", at=10, priority=1)
    arrive(engine, "c3", at=11, priority=1)
    assert engine.waiting("q1") == ("c2", "c3", "c1")  # one priority level is worth 30 s
    assert reconfigure(engine, 12, agents, contact_policy=ContactPolicy.PRIORITY_AGING) == []
    assert only(login(engine, "a1", at=12), Offer)[0].contact_id == "c2"
    reconfigure(engine, 13, agents, contact_policy=ContactPolicy.PRIORITY_AGING, priority_aging_seconds=5)
    assert engine.waiting("q1") == ("c1", "c3")  # now worth 5 s only
    assert only(login(engine, "a2", at=14), Offer)[0].contact_id == "c1"


def test_global_settings_apply_from_now_and_counters_carry_on() -> None:
    engine = build([agent("a1"), agent("a2")], offer_timeout_seconds=10, interval_seconds=900)
    login(engine, "a1", "a2", at=0)
    assert only(arrive(engine, "c1", at=1), Offer) == [Offer("c1", "a1", "t1", "q1", 11.0)]
    changed = [agent("a1"), agent("a2")]
    assert reconfigure(engine, 2, changed, offer_timeout_seconds=30, interval_seconds=1800) == []
    assert only(arrive(engine, "c2", at=3), Offer) == [Offer("c2", "a2", "t1", "q1", 33.0)]
    assert engine.handle(Tick(12)) == [OfferRevoked("c1", "a1", RevokeReason.TIMEOUT)]  # announced expiry kept
    engine.handle(OfferAccepted(13, "c2", "a2"))
    engine.handle(Tick(1000))  # past the old interval boundary, not the new one
    assert engine.attainment("t1").answered == 1
    engine.handle(Tick(1801))
    assert engine.attainment("t1").answered == 0


def test_a_bad_configuration_changes_nothing() -> None:
    engine = build([agent("a1")], offer_timeout_seconds=10)
    login(engine, "a1", at=0)
    arrive(engine, "c1", at=1)
    unchanged_on_error(engine, Reconfigured(20, config([agent("a1", tenants=("t9",))])))
    assert engine.now == 1
    assert engine.handle(Tick(20)) == [OfferRevoked("c1", "a1", RevokeReason.TIMEOUT)]


def test_agent_policy_changes_apply_to_the_next_choice() -> None:
    engine = build([agent("a1"), agent("a2"), agent("a3")])
    login(engine, "a3", at=0)
    login(engine, "a1", "a2", at=1)
    reconfigure(engine, 2, [agent("a1"), agent("a2"), agent("a3")], agent_policy=AgentPolicy.ROUND_ROBIN)
    assert only(arrive(engine, "c1", at=3), Offer)[0].agent_id == "a1"  # longest idle would be a3
