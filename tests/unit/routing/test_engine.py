"""The routing engine, feature by feature, on small hand-built scenarios."""

from __future__ import annotations

import pytest

from app.routing.engine import (
    AUTO_BREAK_REASON,
    AgentAutoBreak,
    AgentPolicy,
    AgentState,
    AgentStateChanged,
    AttainmentUpdated,
    CallbackRequested,
    Channel,
    ContactAbandoned,
    ContactEnded,
    EngineConfig,
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
    RoutingEngine,
    RoutingError,
    TenantConfig,
    Tick,
    WrapUpEnded,
    WrapUpFinished,
    WrapUpStarted,
)
from tests.unit.routing.helpers import agent, arrive, build, login, only, skills


def test_arrival_with_a_free_agent_is_offered_with_an_expiry() -> None:
    engine = build([agent("a1")], offer_timeout_seconds=12)
    assert login(engine, "a1") == []
    assert arrive(engine, "c1", at=5) == [Offer("c1", "a1", "t1", "q1", 17.0)]


def test_a_waiting_contact_goes_to_the_next_agent_that_frees_up() -> None:
    engine = build([agent("a1")])
    assert arrive(engine, "c1", at=1) == []
    assert engine.waiting("q1") == ("c1",)
    assert only(login(engine, "a1", at=3), Offer) == [Offer("c1", "a1", "t1", "q1", 18.0)]
    assert engine.waiting("q1") == ()


def test_contacts_in_one_queue_are_served_in_arrival_order() -> None:
    engine = build([agent("a1")])
    for n, at in enumerate((1, 2, 3)):
        arrive(engine, f"c{n}", at=at)
    login(engine, "a1", at=4)
    engine.handle(OfferAccepted(5, "c0", "a1"))
    assert only(engine.handle(ContactEnded(6, "c0")), Offer)[0].contact_id == "c1"


def test_hard_eligibility_is_never_relaxed() -> None:
    queue = QueueConfig(
        "q1",
        "t1",
        skills=skills(billing=4),
        relaxation=(RelaxationStep(10, ()),),
        required_attributes=frozenset({"pci"}),
    )
    agents = [
        agent("plain", levels={"t1": {"billing": 5}}),
        agent("pci", attributes={"t1": {"pci"}}),
        agent("other-tenant", tenants=("t2",), attributes={"t2": {"pci", "lang:fr"}}, levels={"t2": {"billing": 5}}),
    ]
    engine = build(agents, [queue], [TenantConfig("t1"), TenantConfig("t2")])
    login(engine, "plain", "pci", "other-tenant")
    assert arrive(engine, "c1", at=0, required_attributes=frozenset({"lang:fr"})) == []
    # The soft skill relaxes at 10 s; nobody holds pci and French for t1, so it still waits at any age.
    assert engine.handle(Tick(1000)) == []
    # Relaxed to no skill: the pci agent without billing may take a contact that needs no language.
    assert only(arrive(engine, "c2", at=1001), Offer) == []
    assert only(engine.handle(Tick(1011)), Offer) == [Offer("c2", "pci", "t1", "q1", 1026.0)]


def test_soft_skills_relax_by_wait_time_rings() -> None:
    queue = QueueConfig(
        "q1",
        "t1",
        skills=skills(sales=5),
        relaxation=(RelaxationStep(20, skills(sales=3)), RelaxationStep(40, ())),
    )
    engine = build([agent("junior", levels={"t1": {"sales": 3}}), agent("novice")], [queue])
    login(engine, "junior", "novice")
    assert arrive(engine, "c1", at=0) == []
    assert engine.handle(Tick(19.5)) == []
    assert engine.handle(Tick(25)) == [Offer("c1", "junior", "t1", "q1", 35.0)]  # fired at 20 s
    engine.handle(OfferAccepted(25.5, "c1", "junior"))
    assert arrive(engine, "c2", at=26) == []
    assert engine.handle(Tick(70)) == [Offer("c2", "novice", "t1", "q1", 81.0)]  # fired at 66 s


def test_voice_blocks_everything_and_chat_holds_up_to_capacity() -> None:
    engine = build([agent("a1", chat_capacity=2)])
    login(engine, "a1")
    assert only(arrive(engine, "v1", at=1), Offer)
    engine.handle(OfferAccepted(2, "v1", "a1"))
    assert arrive(engine, "ch1", at=3, channel=Channel.CHAT) == []
    assert arrive(engine, "v2", at=3) == []
    # The voice call ends: the chat is offered (it ranks first), then a second chat, never the voice call.
    assert only(engine.handle(ContactEnded(4, "v1")), Offer)[0].contact_id == "ch1"
    assert arrive(engine, "ch2", at=5, channel=Channel.CHAT) == []  # one offer at a time
    assert only(engine.handle(OfferAccepted(6, "ch1", "a1")), Offer)[0].contact_id == "ch2"
    assert engine.handle(OfferAccepted(7, "ch2", "a1")) == []  # full: two chats
    assert arrive(engine, "ch3", at=8, channel=Channel.CHAT) == []
    engine.handle(ContactEnded(9, "ch1"))
    assert engine.waiting("q1") == ("v2",)  # ch3 took the chat slot; v2 waits for both chats to end
    engine.handle(OfferAccepted(10, "ch3", "a1"))
    engine.handle(ContactEnded(11, "ch2"))
    assert only(engine.handle(ContactEnded(12, "ch3")), Offer)[0].contact_id == "v2"


def test_an_agent_without_voice_gets_no_voice() -> None:
    engine = build([agent("chatter", voice=False, chat_capacity=1)])
    login(engine, "chatter")
    assert arrive(engine, "v1", at=1) == []
    assert only(arrive(engine, "c1", at=2, channel=Channel.CHAT), Offer)[0].agent_id == "chatter"


def test_wrap_up_blocks_every_queue_until_it_ends() -> None:
    queues = [QueueConfig("q1", "t1", wrap_up_seconds=30), QueueConfig("q2", "t1")]
    engine = build([agent("a1")], queues)
    login(engine, "a1")
    arrive(engine, "c1", at=0)
    engine.handle(OfferAccepted(1, "c1", "a1"))
    assert engine.handle(ContactEnded(10, "c1")) == [WrapUpStarted("a1", "c1", 40.0)]
    assert arrive(engine, "c2", at=11, queue_id="q2") == []
    assert engine.handle(Tick(39)) == []
    assert engine.handle(Tick(41)) == [WrapUpFinished("a1"), Offer("c2", "a1", "t1", "q2", 55.0)]


def test_wrap_up_ended_by_the_agent_frees_at_once() -> None:
    engine = build([agent("a1")], [QueueConfig("q1", "t1", wrap_up_seconds=60)])
    login(engine, "a1")
    arrive(engine, "c1", at=0)
    engine.handle(OfferAccepted(1, "c1", "a1"))
    engine.handle(ContactEnded(2, "c1"))
    arrive(engine, "c2", at=3)
    assert engine.handle(WrapUpEnded(4, "a1")) == [Offer("c2", "a1", "t1", "q1", 19.0)]
    assert engine.handle(Tick(100)) == [OfferRevoked("c2", "a1", RevokeReason.TIMEOUT)]  # old timer is void


def test_reject_reoffers_elsewhere_and_never_to_the_same_agent() -> None:
    engine = build([agent("a1"), agent("a2")], misses_before_break=3)
    login(engine, "a1", at=0)
    login(engine, "a2", at=1)
    assert only(arrive(engine, "c1", at=2), Offer)[0].agent_id == "a1"  # longest idle
    assert engine.handle(OfferRejected(3, "c1", "a1")) == [Offer("c1", "a2", "t1", "q1", 18.0)]
    assert engine.handle(OfferRejected(4, "c1", "a2")) == []
    assert engine.waiting("q1") == ("c1",)


def test_timeouts_reoffer_and_consecutive_misses_put_the_agent_on_break() -> None:
    engine = build([agent("a1"), agent("a2")], offer_timeout_seconds=10, misses_before_break=2)
    login(engine, "a1", at=0)
    arrive(engine, "c1", at=1)
    assert engine.handle(Tick(11)) == [OfferRevoked("c1", "a1", RevokeReason.TIMEOUT)]
    arrive(engine, "c2", at=12)  # a1 is still available: offered the other contact
    assert only(login(engine, "a2", at=13), Offer) == [Offer("c1", "a2", "t1", "q1", 23.0)]
    assert engine.handle(OfferTimedOut(14, "c2", "a1")) == [AgentAutoBreak("a1", 2)]
    assert engine.handle(OfferAccepted(15, "c1", "a2")) == []
    assert engine.waiting("q1") == ("c2",)
    # Back from the auto-break, the miss count starts over.
    assert only(engine.handle(AgentStateChanged(16, "a1", AgentState.AVAILABLE)), Offer) == []  # c2 declined a1
    assert AUTO_BREAK_REASON == "missed offers"


def test_an_accept_resets_the_miss_count() -> None:
    engine = build([agent("a1")], misses_before_break=2)
    login(engine, "a1")
    arrive(engine, "c1", at=0)
    engine.handle(OfferRejected(1, "c1", "a1"))
    arrive(engine, "c2", at=2)
    engine.handle(OfferAccepted(3, "c2", "a1"))
    engine.handle(ContactEnded(4, "c2"))
    arrive(engine, "c3", at=5)
    assert only(engine.handle(OfferRejected(6, "c3", "a1")), AgentAutoBreak) == []


def test_stale_and_replayed_events_change_nothing() -> None:
    engine = build([agent("a1"), agent("a2")])
    login(engine, "a1", "a2")
    arrive(engine, "c1", at=1)
    assert arrive(engine, "c1", at=2) == []  # replayed arrival
    assert engine.handle(OfferAccepted(3, "c1", "a2")) == []  # not on offer to a2
    assert engine.handle(OfferAccepted(3, "c1", "a1")) == []
    assert engine.handle(OfferAccepted(4, "c1", "a1")) == []  # replayed accept
    assert engine.handle(OfferRejected(5, "c1", "a1")) == []  # too late to reject
    assert engine.handle(ContactEnded(6, "nobody")) == []


def test_break_and_offline_withdraw_an_outstanding_offer_without_a_miss() -> None:
    engine = build([agent("a1"), agent("a2")], misses_before_break=1)
    login(engine, "a1", at=0)
    arrive(engine, "c1", at=1)
    assert engine.handle(AgentStateChanged(2, "a1", AgentState.BREAK, "lunch")) == [
        OfferRevoked("c1", "a1", RevokeReason.AGENT_UNAVAILABLE)
    ]
    assert only(login(engine, "a2", at=3), Offer)[0].agent_id == "a2"
    assert only(engine.handle(AgentStateChanged(4, "a1", AgentState.AVAILABLE)), AgentAutoBreak) == []


def test_abandon_while_waiting_or_on_offer_removes_the_contact() -> None:
    engine = build([agent("a1")])
    arrive(engine, "c1", at=0)
    arrive(engine, "c2", at=1)
    assert engine.handle(ContactAbandoned(2, "c1")) == [Removed("c1", "q1", RemovalReason.ABANDONED)]
    login(engine, "a1", at=3)
    assert engine.handle(ContactAbandoned(4, "c2")) == [
        OfferRevoked("c2", "a1", RevokeReason.ABANDONED),
        Removed("c2", "q1", RemovalReason.ABANDONED),
    ]
    assert engine.attainment("t1").abandoned == 2
    assert only(arrive(engine, "c3", at=5), Offer)[0].agent_id == "a1"


def test_max_wait_removes_a_waiting_contact() -> None:
    engine = build([agent("a1")], [QueueConfig("q1", "t1", max_wait_seconds=60)])
    arrive(engine, "c1", at=0)
    assert engine.handle(Tick(59)) == []
    assert engine.handle(Tick(61)) == [Removed("c1", "q1", RemovalReason.MAX_WAIT)]
    assert login(engine, "a1", at=62) == []


def test_overflow_moves_the_contact_after_a_wait_and_keeps_its_place() -> None:
    queues = [
        QueueConfig("q1", "t1", skills=skills(gold=1), overflow_to="q2", overflow_after_seconds=30),
        QueueConfig("q2", "t1"),
    ]
    engine = build([agent("a1")], queues)
    arrive(engine, "c1", at=0)
    arrive(engine, "c2", at=10, queue_id="q2")
    assert engine.handle(Tick(31)) == [Overflow("c1", "q1", "q2")]
    assert engine.waiting("q2") == ("c1", "c2")  # first arrival decides the place
    assert only(login(engine, "a1", at=32), Offer)[0].contact_id == "c1"


def test_callback_offer_after_a_wait_and_callbacks_keep_their_place() -> None:
    engine = build([agent("a1")], [QueueConfig("q1", "t1", callback_offer_after_seconds=20, max_wait_seconds=100)])
    arrive(engine, "c1", at=0)
    arrive(engine, "c2", at=5)
    assert engine.handle(Tick(21)) == [OfferCallback("c1", "q1")]
    assert engine.handle(Tick(40)) == [OfferCallback("c2", "q1")]  # once each
    engine.handle(CallbackRequested(41, "c1"))
    assert engine.handle(ContactAbandoned(42, "c1")) == []  # the caller hangs up after asking for the callback
    assert engine.handle(Tick(150)) == [Removed("c2", "q1", RemovalReason.MAX_WAIT)]  # a callback does not expire
    arrive(engine, "c3", at=151)
    assert engine.waiting("q1") == ("c1", "c3")
    assert only(login(engine, "a1", at=152), Offer)[0].contact_id == "c1"


def test_a_callback_arrival_is_not_offered_a_callback() -> None:
    engine = build([], [QueueConfig("q1", "t1", callback_offer_after_seconds=5)])
    arrive(engine, "c1", at=0, callback=True)
    arrive(engine, "chat", at=0, channel=Channel.CHAT)
    assert engine.handle(Tick(10)) == []


def test_preferred_agent_within_its_window_then_anyone() -> None:
    engine = build([agent("a1"), agent("a2"), agent("a3")])
    login(engine, "a1", "a2")
    assert (
        only(arrive(engine, "c1", at=1, preferred_agent="a2", preferred_window_seconds=30), Offer)[0].agent_id == "a2"
    )
    engine.handle(OfferAccepted(2, "c1", "a2"))
    assert arrive(engine, "c2", at=3, preferred_agent="a2", preferred_window_seconds=30) == []
    assert engine.handle(Tick(32)) == []
    assert engine.handle(Tick(34)) == [Offer("c2", "a1", "t1", "q1", 48.0)]  # window over at 33 s
    # Within the window, the preferred agent gets it as soon as it frees up.
    arrive(engine, "c3", at=35, preferred_agent="a2", preferred_window_seconds=30)
    login(engine, "a3", at=36)
    assert only(engine.handle(ContactEnded(37, "c1")), Offer) == [Offer("c3", "a2", "t1", "q1", 52.0)]


def test_a_preferred_agent_who_could_never_take_it_is_ignored() -> None:
    engine = build([agent("a1"), agent("elsewhere", tenants=("t2",))], tenants=[TenantConfig("t1"), TenantConfig("t2")])
    login(engine, "a1", "elsewhere")
    offers = only(arrive(engine, "c1", at=0, preferred_agent="elsewhere", preferred_window_seconds=60), Offer)
    assert [o.agent_id for o in offers] == ["a1"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (AgentPolicy.LONGEST_IDLE, "idle"),
        (AgentPolicy.BEST_PROFICIENCY, "expert"),
        (AgentPolicy.FEWEST_CONTACTS, "fresh"),
    ],
)
def test_agent_selection_policies(policy: AgentPolicy, expected: str) -> None:
    agents = [
        agent("expert", levels={"t1": {"s": 5}}),
        agent("idle", levels={"t1": {"s": 2}}),
        agent("fresh", levels={"t1": {"s": 2}}),
    ]
    engine = build(agents, [QueueConfig("q1", "t1", skills=skills(s=1))], agent_policy=policy)
    login(engine, "idle", at=0)
    login(engine, "expert", at=1)
    # expert and idle each handle one contact; fresh logs in last with none today.
    for n, name in enumerate(("expert", "idle")):
        arrive(engine, f"warm{n}", at=2 + n, preferred_agent=name, preferred_window_seconds=5)
        engine.handle(OfferAccepted(2 + n, f"warm{n}", name))
    engine.handle(ContactEnded(10, "warm1"))  # idle's
    engine.handle(ContactEnded(11, "warm0"))  # expert's
    login(engine, "fresh", at=20)
    assert only(arrive(engine, "c1", at=30), Offer)[0].agent_id == expected


def test_round_robin_goes_round() -> None:
    engine = build([agent("a1"), agent("a2"), agent("a3")], agent_policy=AgentPolicy.ROUND_ROBIN)
    login(engine, "a3", at=0)  # the longest idle, which round robin ignores
    login(engine, "a1", "a2", at=0.5)
    chosen = []
    for n in range(1, 7):
        (offer,) = only(arrive(engine, f"c{n}", at=n), Offer)
        chosen.append(offer.agent_id)
        engine.handle(OfferAccepted(n + 0.5, f"c{n}", offer.agent_id))
        engine.handle(ContactEnded(n + 0.6, f"c{n}"))
    assert chosen == ["a1", "a2", "a3", "a1", "a2", "a3"]


def test_unknown_references_and_bad_configuration_are_errors() -> None:
    engine = build([agent("a1")])
    with pytest.raises(RoutingError):
        arrive(engine, "c1", at=0, queue_id="nope")
    with pytest.raises(RoutingError):
        arrive(engine, "c1", at=0, tenant_id="t2")
    with pytest.raises(RoutingError):
        login(engine, "ghost")
    with pytest.raises(RoutingError):
        engine.handle(AttainmentUpdated(0, "t9", 1, 1, 0))
    bad = [
        EngineConfig((TenantConfig("t1", guaranteed_share=0.6), TenantConfig("t2", guaranteed_share=0.6)), (), ()),
        EngineConfig((TenantConfig("t1"),), (QueueConfig("q1", "t9"),), ()),
        EngineConfig((TenantConfig("t1"),), (QueueConfig("q1", "t1", overflow_to="q1", overflow_after_seconds=0),), ()),
        EngineConfig((TenantConfig("t1", answer_target_seconds=0),), (), ()),
        EngineConfig((TenantConfig("t1"),), (), (agent("a1", tenants=("t7",)),)),
        EngineConfig(
            (TenantConfig("t1"),), (QueueConfig("q1", "t1", relaxation=(RelaxationStep(9), RelaxationStep(3))),), ()
        ),
    ]
    for config in bad:
        with pytest.raises(RoutingError):
            RoutingEngine(config)


def test_time_never_goes_back() -> None:
    engine = build([agent("a1")], offer_timeout_seconds=10)
    login(engine, "a1", at=100)
    assert arrive(engine, "c1", at=50) == [Offer("c1", "a1", "t1", "q1", 110.0)]
    assert engine.now == 100
