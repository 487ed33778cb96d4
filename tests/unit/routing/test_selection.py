"""Contact selection: the scoring formulas, SLA-aware choice across tenants, guaranteed capacity, the guard."""

from __future__ import annotations

from typing import Any

import pytest

from app.routing.engine import (
    Attainment,
    AttainmentUpdated,
    ContactEnded,
    ContactPolicy,
    Offer,
    OfferAccepted,
    QueueConfig,
    RoutingEngine,
    TenantConfig,
    Tick,
    aging_score,
    deficit,
    sla_score,
)
from tests.unit.routing.helpers import agent, arrive, build, login, only


def test_deficit_is_the_shortfall_as_a_share_of_the_target() -> None:
    assert deficit(Attainment(answered=8, answered_within_target=6, abandoned=2), 0.8) == pytest.approx(0.25)
    assert deficit(Attainment(answered=10, answered_within_target=0), 0.8) == 1.0
    assert deficit(Attainment(answered=10, answered_within_target=9), 0.8) == 0.0  # above target: no credit
    assert deficit(Attainment(), 0.8) == 0.0  # no data, no risk


def test_scores_by_hand() -> None:
    assert sla_score(wait=10, target_seconds=20, deficit_value=0.25, weight=2, priority=1, beta=0.25) == 2.0
    assert sla_score(wait=30, target_seconds=15, deficit_value=0, weight=1, priority=0, beta=0.25) == 2.0
    assert aging_score(wait=10, priority=2, aging_seconds=30) == 70


def two_tenants(a: TenantConfig, b: TenantConfig, **kwargs: Any) -> RoutingEngine:
    queues = [QueueConfig("qa", a.tenant_id), QueueConfig("qb", b.tenant_id)]
    return build([agent("x", tenants=(a.tenant_id, b.tenant_id))], queues, [a, b], **kwargs)


def first_offer_at(engine: RoutingEngine, at: float) -> str:
    (offer,) = only(login(engine, "x", at=at), Offer)
    return offer.contact_id


def test_without_risk_the_longer_wait_relative_to_target_wins() -> None:
    engine = two_tenants(TenantConfig("ta"), TenantConfig("tb"))
    arrive(engine, "b", at=0, queue_id="qb", tenant_id="tb")
    arrive(engine, "a", at=2, queue_id="qa", tenant_id="ta")
    assert engine.score("b") == pytest.approx(0.1) and engine.score("a") == 0
    engine.handle(Tick(10))
    assert engine.score("b") == pytest.approx(0.5) and engine.score("a") == pytest.approx(0.4)
    assert first_offer_at(engine, 10) == "b"


def test_a_tenant_behind_its_target_is_served_first() -> None:
    engine = two_tenants(TenantConfig("ta"), TenantConfig("tb"))
    arrive(engine, "b", at=0, queue_id="qb", tenant_id="tb")
    arrive(engine, "a", at=2, queue_id="qa", tenant_id="ta")
    # ta answered 4 of 10 within T against 80 %: D = 0.5, so a's 8 s count as 18 s of 20.
    engine.handle(AttainmentUpdated(5, "ta", answered=10, answered_within_target=4, abandoned=0))
    engine.handle(Tick(10))
    assert engine.score("a") == pytest.approx(0.9)
    assert first_offer_at(engine, 10) == "a"


def test_the_contract_weight_and_the_answer_target_count() -> None:
    heavy = two_tenants(TenantConfig("ta", weight=3), TenantConfig("tb"))
    arrive(heavy, "b", at=0, queue_id="qb", tenant_id="tb")
    arrive(heavy, "a", at=5, queue_id="qa", tenant_id="ta")
    assert first_offer_at(heavy, 10) == "a"  # 3 * 5/20 = 0.75 against 10/20

    tight = two_tenants(TenantConfig("ta", answer_target_seconds=10), TenantConfig("tb", answer_target_seconds=60))
    arrive(tight, "b", at=0, queue_id="qb", tenant_id="tb")
    arrive(tight, "a", at=5, queue_id="qa", tenant_id="ta")
    assert first_offer_at(tight, 10) == "a"  # 5/10 against 10/60


def test_priority_counts_a_share_of_the_target_in_sla_mode() -> None:
    queues = [QueueConfig("vip", "t1", priority=2), QueueConfig("q1", "t1")]
    engine = build([agent("x")], queues, priority_weight=0.25)
    arrive(engine, "plain", at=0)
    arrive(engine, "vip", at=9, queue_id="vip")
    # At 10 s: plain 10/20 = 0.5; vip 1/20 + 0.25 * 2 = 0.55.
    assert first_offer_at(engine, 10) == "vip"


@pytest.mark.parametrize(("low_arrival", "expected"), [(0, "high"), (-40, "low")])
def test_priority_plus_aging(low_arrival: float, expected: str) -> None:
    queues = [QueueConfig("hi", "t1", priority=1), QueueConfig("q1", "t1")]
    engine = build([agent("x")], queues, contact_policy=ContactPolicy.PRIORITY_AGING, priority_aging_seconds=30)
    engine.handle(Tick(-100))
    arrive(engine, "low", at=low_arrival)
    arrive(engine, "high", at=20, queue_id="hi")
    # high: 30 s of aging for its priority; low overtakes it after waiting 30 s longer.
    assert first_offer_at(engine, 30) == expected


def test_the_engine_counts_attainment_per_interval() -> None:
    engine = build([agent("x")], tenants=[TenantConfig("t1", answer_target_seconds=10)], interval_seconds=900)
    login(engine, "x")
    arrive(engine, "c1", at=0)
    engine.handle(OfferAccepted(5, "c1", "x"))
    arrive(engine, "c2", at=10)
    engine.handle(ContactEnded(11, "c1"))
    engine.handle(OfferAccepted(25, "c2", "x"))  # 15 s after its arrival
    assert engine.attainment("t1") == Attainment(answered=2, answered_within_target=1, abandoned=0)
    engine.handle(Tick(900))
    assert engine.attainment("t1") == Attainment()


def guaranteed_setup(guard: float, share: float = 0.5) -> RoutingEngine:
    tenants = [TenantConfig("tg", guaranteed_share=share), TenantConfig("to", weight=5)]
    queues = [QueueConfig("qg", "tg"), QueueConfig("qo", "to")]
    agents = [agent(f"a{n}", tenants=("tg", "to")) for n in range(4)]
    return build(agents, queues, tenants, starvation_guard_seconds=guard)


@pytest.mark.parametrize(("share", "expected"), [(0.5, ["g0", "o0", "g1", "o1"]), (0.0, ["o0", "o1", "o2", "o3"])])
def test_a_tenant_below_its_guaranteed_share_is_served_first_until_it_holds_it(
    share: float, expected: list[str]
) -> None:
    engine = guaranteed_setup(guard=1000, share=share)
    for n in range(6):
        arrive(engine, f"o{n}", at=n, queue_id="qo", tenant_id="to")
    for n in range(3):
        arrive(engine, f"g{n}", at=10 + n, queue_id="qg", tenant_id="tg")
    # to's heavy weight outranks tg on score; with a share, tg goes first whenever it holds fewer than
    # share x logged-in agents: 0 < 0.5 x 1, then 1 = 0.5 x 2, 1 < 0.5 x 3, 2 = 0.5 x 4.
    served = [only(login(engine, f"a{n}", at=20), Offer)[0].contact_id for n in range(4)]
    assert served == expected
    assert engine.engaged("tg") == expected.count("g0") + expected.count("g1")


def test_the_starvation_guard_beats_the_guarantee() -> None:
    engine = guaranteed_setup(guard=60)
    login(engine, "a0", at=0)
    arrive(engine, "o", at=0, queue_id="qo", tenant_id="to")
    engine.handle(OfferAccepted(0, "o", "a0"))
    arrive(engine, "old", at=1, queue_id="qo", tenant_id="to")
    arrive(engine, "g0", at=2, queue_id="qg", tenant_id="tg")
    assert only(engine.handle(ContactEnded(30, "o")), Offer)[0].contact_id == "g0"  # guarantee first
    arrive(engine, "g1", at=31, queue_id="qg", tenant_id="tg")
    engine.handle(OfferAccepted(31, "g0", "a0"))
    assert only(engine.handle(ContactEnded(70, "g0")), Offer)[0].contact_id == "old"  # waited 69 s >= 60
