"""Staffing plans per queue and for the shared pool, and staff counted from presence changes."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.workforce.erlang import Workload, evaluate, required_agents
from app.workforce.staffing import (
    Demand,
    Pool,
    Presence,
    SkillGroup,
    StaffedInterval,
    Target,
    plan_interval,
    plan_pool,
    plan_queue,
    pools,
    staffed_per_interval,
    strictest,
)

NINE = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
QUARTER = dt.timedelta(minutes=15)
TARGET = Target(20, 0.8)


def at(minutes: float) -> dt.datetime:
    return NINE + dt.timedelta(minutes=minutes)


# --- one queue ------------------------------------------------------------------------------------------


def test_an_interval_is_sized_by_erlang_and_shrinkage() -> None:
    """50 calls in 15 minutes of 180 s: the Call Centre Helper example's 10 Erlangs, 14 agents, 20 staff at 30 %."""
    plan = plan_interval(Demand(NINE, 50, 180), TARGET, 0.3)
    assert (plan.load_erlangs, plan.agents, plan.staff) == (pytest.approx(10.0), 14, 20)
    figures = evaluate(Workload(50, 900, 180), 14, 20)
    assert plan.service_level == figures.service_level and plan.asa_seconds == figures.asa_seconds
    assert plan.occupancy == pytest.approx(10 / 14)


def test_erlang_a_with_patience_needs_fewer_agents() -> None:
    patient = plan_interval(Demand(NINE, 50, 180), Target(20, 0.8, patience_seconds=60), 0.0)
    assert patient.agents == required_agents(Workload(50, 900, 180, 60.0), 20, 0.8) < 14


def test_no_contacts_need_nobody_and_any_contact_needs_one() -> None:
    plan = plan_queue([Demand(NINE, 0, 180), Demand(NINE + QUARTER, 0.01, 180)], TARGET, 0.3)
    assert [(p.agents, p.staff) for p in plan] == [(0, 0), (1, 2)]
    assert plan[0].service_level == 1 and plan[0].occupancy == 0


def test_the_strictest_target_takes_the_shortest_time_the_highest_share_and_the_longest_patience() -> None:
    chosen = strictest([Target(30, 0.9, 60), Target(15, 0.8, 120)])
    assert chosen == Target(15, 0.9, 120)
    assert strictest([Target(30, 0.9, 60), Target(15, 0.8)]).patience_seconds is None
    with pytest.raises(ValueError, match="no targets"):
        strictest([])
    with pytest.raises(ValueError, match="service_level"):
        Target(20, 1.0)


# --- pools ----------------------------------------------------------------------------------------------


def test_queues_sharing_agents_form_one_pool_with_its_skill_groups() -> None:
    """a serves q1 and q2, b only q2 (so q1 and q2 pool), c q3 alone, d nothing; nobody serves q4."""
    eligibility = {
        "a": frozenset({"q1", "q2"}),
        "b": frozenset({"q2"}),
        "b2": frozenset({"q2"}),
        "c": frozenset({"q3"}),
        "d": frozenset(),
        "e": frozenset({"q3", "elsewhere"}),  # a queue outside the plan is ignored
    }
    found = pools(["q1", "q2", "q3", "q4"], eligibility)
    assert found == (
        Pool(("q1", "q2"), (SkillGroup(frozenset({"q2"}), 2), SkillGroup(frozenset({"q1", "q2"}), 1)), 3),
        Pool(("q3",), (SkillGroup(frozenset({"q3"}), 2),), 2),
        Pool(("q4",), (), 0),
    )


def test_a_chain_of_overlaps_joins_every_queue() -> None:
    eligibility = {"a": frozenset({"q1", "q2"}), "b": frozenset({"q2", "q3"}), "c": frozenset({"q3", "q4"})}
    assert [pool.queues for pool in pools(["q4", "q3", "q2", "q1"], eligibility)] == [("q1", "q2", "q3", "q4")]


def test_the_pooled_plan_sizes_the_summed_load_against_the_strictest_target() -> None:
    """q1: 30 calls of 120 s (4 Erlangs), q2: 20 calls of 270 s (6 Erlangs): pooled, 50 calls of 180 s mean
    (10 Erlangs), sized for 90 % in 15 s (q2's share, q1's time)."""
    pool = Pool(("q1", "q2"), (SkillGroup(frozenset({"q1", "q2"}), 12),), 12)
    demand = {"q1": [Demand(NINE, 30, 120)], "q2": [Demand(NINE, 20, 270)]}
    targets = {"q1": Target(15, 0.8), "q2": Target(20, 0.9)}
    (plan,) = plan_pool(pool, demand, targets, 0.25)
    assert plan.calls == 50 and plan.aht_seconds == pytest.approx(180) and plan.load_erlangs == pytest.approx(10)
    assert plan.agents == required_agents(Workload(50, 900, 180), 15, 0.9)
    assert plan.staff == -(-plan.agents * 4 // 3)
    alone = plan_interval(demand["q1"][0], targets["q1"], 0.25), plan_interval(demand["q2"][0], targets["q2"], 0.25)
    assert plan.dedicated_agents == alone[0].agents + alone[1].agents
    assert plan.dedicated_staff == alone[0].staff + alone[1].staff
    assert plan.agents < plan.dedicated_agents  # pooling saves agents


def test_a_pool_of_one_queue_is_that_queues_plan() -> None:
    demand = [Demand(NINE + i * QUARTER, calls, 200) for i, calls in enumerate([0, 3, 40, 75])]
    pooled = plan_pool(Pool(("q",), (), 0), {"q": demand}, {"q": TARGET}, 0.3)
    alone = plan_queue(demand, TARGET, 0.3)
    assert [(p.agents, p.staff) for p in pooled] == [(p.agents, p.staff) for p in alone]
    assert [(p.dedicated_agents, p.dedicated_staff) for p in pooled] == [(p.agents, p.staff) for p in alone]


def test_queues_of_a_pool_must_share_their_intervals() -> None:
    pool = Pool(("q1", "q2"), (), 0)
    with pytest.raises(ValueError, match="same intervals"):
        plan_pool(pool, {"q1": [Demand(NINE, 1, 60)], "q2": []}, {"q1": TARGET, "q2": TARGET}, 0)
    with pytest.raises(ValueError, match="same intervals"):
        plan_pool(
            pool, {"q1": [Demand(NINE, 1, 60)], "q2": [Demand(NINE + QUARTER, 1, 60)]}, {"q1": TARGET, "q2": TARGET}, 0
        )


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    loads=st.lists(st.floats(min_value=0, max_value=400), min_size=1, max_size=6),
    aht=st.floats(min_value=30, max_value=600),
    seconds=st.floats(min_value=1, max_value=60),
    share=st.floats(min_value=0.5, max_value=0.95),
)
def test_pooling_never_needs_more_agents_than_the_queues_alone(
    loads: list[float], aht: float, seconds: float, share: float
) -> None:
    """One target and one AHT for every queue: the pooled requirement is at least the largest queue's and at
    most the sum of the queues' (a bigger group answers the same contacts at least as well)."""
    names = [f"q{i}" for i in range(len(loads))]
    target = Target(seconds, share)
    (plan,) = plan_pool(
        Pool(tuple(names), (), 0),
        {name: [Demand(NINE, calls, aht)] for name, calls in zip(names, loads, strict=True)},
        dict.fromkeys(names, target),
        0.0,
    )
    largest = max(plan_interval(Demand(NINE, calls, aht), target, 0).agents for calls in loads)
    assert largest <= plan.agents <= plan.dedicated_agents


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    eligibility=st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=3),
        st.frozensets(st.sampled_from([f"q{i}" for i in range(8)]), max_size=4),
        max_size=12,
    )
)
def test_pools_partition_the_queues_and_the_agents(eligibility: dict[str, frozenset[str]]) -> None:
    queues = [f"q{i}" for i in range(8)]
    found = pools(queues, eligibility)
    assert sorted(q for pool in found for q in pool.queues) == queues
    assert sum(pool.agents for pool in found) == sum(1 for served in eligibility.values() if served)
    for pool in found:
        for served in eligibility.values():
            # An agent's queues all lie in one pool.
            assert not served & set(pool.queues) or served <= set(pool.queues)


# --- staff from presence --------------------------------------------------------------------------------


def test_staff_is_the_mean_number_of_agents_not_offline() -> None:
    """From 09:00, four intervals, at 09:40 now.

    a: on since before the window (available at 08:50), break 09:10-09:20, offline from 09:25.
    b: signs on at 09:05, on a contact 09:20 onward.
    """
    timelines = [
        [
            Presence(at(-10), "available"),
            Presence(at(10), "break"),
            Presence(at(20), "available"),
            Presence(at(25), "offline"),
        ],
        [Presence(at(5), "available"), Presence(at(20), "on_contact")],
    ]
    found = staffed_per_interval(timelines, NINE, 4, at(40))
    assert found[0] == StaffedInterval(NINE, (15 + 10) / 15, (10 + 10) / 15)
    # 09:15-09:30: a staffed 10 min (5 of them on break), b all 15.
    assert found[1] == StaffedInterval(at(15), (10 + 15) / 15, (5 + 15) / 15)
    # 09:30-09:45, 10 minutes elapsed: b only.
    assert found[2] == StaffedInterval(at(30), 1.0, 1.0)
    assert found[3] == StaffedInterval(at(45), None, None)


def test_an_agent_without_changes_before_the_window_starts_offline() -> None:
    found = staffed_per_interval([[Presence(at(7.5), "available")]], NINE, 2, at(60))
    assert [i.staffed for i in found] == [0.5, 1.0]
    assert staffed_per_interval([], NINE, 2, at(60)) == (
        StaffedInterval(NINE, 0.0, 0.0),
        StaffedInterval(at(15), 0.0, 0.0),
    )
