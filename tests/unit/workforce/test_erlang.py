"""Erlang C and Erlang A against textbook values and independent computations.

Independent means another method (tests/unit/workforce/reference.py): exact rational arithmetic on the
defining sums (Erlang B and C), and a truncated birth-death chain whose waiting time is computed state by
state (Erlang C: an arrival finding n >= c agents busy waits for n - c + 1 completions at rate c mu;
Erlang A: a uniformized chain of the tagged caller's place in line, with its own abandonment).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.workforce.erlang import (
    MAX_SHRINKAGE,
    Workload,
    erlang_b,
    erlang_c,
    evaluate,
    minimum_agents,
    required_agents,
    required_staff,
)
from tests.unit.workforce.reference import birth_death, exact_erlang_b, exact_erlang_c, independent_a, independent_c

# --- textbook values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agents", "p_wait"),
    # The standard Erlang C table for A = 10 Erlangs (e.g. Gross & Harris; Koole, "Call center mathematics").
    [(11, 0.6821), (12, 0.4494), (13, 0.2853), (14, 0.1741), (15, 0.1020)],
)
def test_erlang_c_table_for_ten_erlangs(agents: int, p_wait: float) -> None:
    assert erlang_c(agents, 10.0) == pytest.approx(p_wait, abs=5e-5)
    assert erlang_c(agents, 10.0) == pytest.approx(float(exact_erlang_c(agents, Fraction(10))), rel=1e-12)


@pytest.mark.parametrize(("agents", "load"), [(1, Fraction(1, 2)), (5, Fraction(3)), (30, Fraction(247, 10))])
def test_erlang_b_and_c_match_exact_arithmetic(agents: int, load: Fraction) -> None:
    assert erlang_b(agents, float(load)) == pytest.approx(float(exact_erlang_b(agents, load)), rel=1e-12)
    assert erlang_c(agents, float(load)) == pytest.approx(float(exact_erlang_c(agents, load)), rel=1e-12)


def test_erlang_b_is_stable_for_large_pools() -> None:
    # Factorials of 2,000 overflow floats; the recursion does not. 2,000 agents for 1,800 Erlangs block little.
    assert 0 < erlang_b(2000, 1800.0) < 1e-6
    assert 0 < erlang_c(2000, 1800.0) < 1e-5


def test_the_classic_call_centre_example() -> None:
    """360 calls per 30 minutes, AHT 240 s (48 Erlangs), 80 % within 20 s.

    The fewest agents reaching the target, checked with the independent chain on both sides.
    """
    workload = Workload(360, 1800, 240)
    agents = required_agents(workload, 20, 0.8)
    assert agents == 54
    assert independent_c(workload, agents, 20)[1] >= 0.8 > independent_c(workload, agents - 1, 20)[1]
    staffing = evaluate(workload, 55, 20)
    p_wait, service_level = independent_c(workload, 55, 20)
    assert staffing.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert staffing.service_level == pytest.approx(service_level, rel=1e-9)
    assert staffing.occupancy == pytest.approx(48 / 55)
    assert staffing.asa_seconds == pytest.approx(staffing.p_wait * 240 / (55 - 48))


@pytest.mark.parametrize(
    ("calls", "aht", "agents", "target"), [(360, 240, 26, 20), (1080, 60, 20, 10), (40, 300, 5, 30)]
)
def test_erlang_c_matches_the_birth_death_chain(calls: float, aht: float, agents: int, target: float) -> None:
    workload = Workload(calls, 3600, aht)
    staffing = evaluate(workload, agents, target)
    p_wait, service_level = independent_c(workload, agents, target)
    assert staffing.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert staffing.service_level == pytest.approx(service_level, rel=1e-9)
    assert staffing.abandon_probability == 0


@pytest.mark.parametrize(
    ("calls", "aht", "agents", "patience", "target"),
    [(330, 60, 5, 90.0, 20.0), (420, 60, 8, 300.0, 60.0), (200, 120, 10, 30.0, 5.0), (900, 60, 12, 120.0, 0.0)],
)
def test_erlang_a_matches_the_birth_death_chain(
    calls: float, aht: float, agents: int, patience: float, target: float
) -> None:
    workload = Workload(calls, 3600, aht, patience)
    staffing = evaluate(workload, agents, target)
    p_wait, abandon, service_level = independent_a(workload, agents, target)
    assert staffing.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert staffing.abandon_probability == pytest.approx(abandon, rel=1e-9)
    assert staffing.service_level == pytest.approx(service_level, rel=1e-7)
    assert staffing.occupancy == pytest.approx(workload.load * (1 - abandon) / agents, rel=1e-9)


def test_erlang_a_asa_agrees_with_littles_law() -> None:
    """Everyone's mean wait is E[queue] / lambda (Little) = P(abandon) / theta (waiting callers leave at
    rate theta); the answered callers' share of it is ASA * P(answered), strictly less."""
    workload = Workload(420, 3600, 60, 300.0)
    staffing = evaluate(workload, 8, 20)
    theta = 1 / 300
    pi = birth_death(workload, 8, 400)
    mean_wait = math.fsum((n - 8) * p for n, p in enumerate(pi) if n > 8) / workload.arrival_rate
    assert mean_wait == pytest.approx(staffing.abandon_probability / theta, rel=1e-9)
    # The answered callers' ASA is at most everyone's mean wait divided by the answered share.
    assert 0 < staffing.asa_seconds * (1 - staffing.abandon_probability) < mean_wait


# --- properties --------------------------------------------------------------------------------------

loads = st.floats(min_value=0.05, max_value=200.0)
targets = st.floats(min_value=0.0, max_value=120.0)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(load=loads, extra=st.integers(min_value=0, max_value=15), target=targets)
def test_erlang_c_service_level_rises_with_agents(load: float, extra: int, target: float) -> None:
    workload = Workload(load, 100.0, 100.0)  # A = calls / interval * AHT = load
    agents = minimum_agents(workload) + extra
    fewer, more = evaluate(workload, agents, target), evaluate(workload, agents + 1, target)
    for staffing in (fewer, more):
        assert 0 <= staffing.p_wait <= 1
        assert 0 <= staffing.service_level <= 1
        assert 0 < staffing.occupancy < 1
    assert more.service_level >= fewer.service_level - 1e-12
    assert more.p_wait <= fewer.p_wait + 1e-12
    assert more.asa_seconds <= fewer.asa_seconds + 1e-9


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    load=st.floats(min_value=0.05, max_value=60.0),
    agents=st.integers(min_value=1, max_value=70),
    patience=st.floats(min_value=5.0, max_value=3600.0),
    target=targets,
)
def test_erlang_a_figures_are_probabilities_and_improve_with_agents(
    load: float, agents: int, patience: float, target: float
) -> None:
    workload = Workload(load, 100.0, 100.0, patience)
    fewer, more = evaluate(workload, agents, target), evaluate(workload, agents + 1, target)
    for staffing in (fewer, more):
        assert 0 <= staffing.p_wait <= 1
        assert 0 <= staffing.service_level <= 1
        assert 0 <= staffing.abandon_probability < 1
        assert 0 < staffing.occupancy <= 1
    assert more.abandon_probability <= fewer.abandon_probability + 1e-12
    assert more.p_wait <= fewer.p_wait + 1e-12


@settings(max_examples=40, deadline=None, derandomize=True)
@given(load=loads, extra=st.integers(min_value=0, max_value=10), target=targets)
def test_erlang_a_with_endless_patience_is_erlang_c(load: float, extra: int, target: float) -> None:
    erlang_c_workload = Workload(load, 100.0, 100.0)
    # A fifth spare at least: closer to saturation the chain needs millions of states (slow, not wrong).
    agents = math.ceil(load * 1.2 + 0.5) + extra
    expected = evaluate(erlang_c_workload, agents, target)
    patient = evaluate(Workload(load, 100.0, 100.0, 1e12), agents, target)
    assert patient.p_wait == pytest.approx(expected.p_wait, abs=1e-4)
    assert patient.service_level == pytest.approx(expected.service_level, abs=1e-4)
    assert patient.asa_seconds == pytest.approx(expected.asa_seconds, rel=1e-3, abs=1e-3)
    assert patient.abandon_probability < 1e-3


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    load=st.floats(min_value=0.1, max_value=100.0),
    target=st.floats(min_value=1.0, max_value=60.0),
    goal=st.floats(min_value=0.5, max_value=0.95),
    patience=st.none() | st.floats(min_value=10.0, max_value=600.0),
)
def test_required_agents_is_the_fewest_meeting_the_target(
    load: float, target: float, goal: float, patience: float | None
) -> None:
    workload = Workload(load, 100.0, 100.0, patience)
    agents = required_agents(workload, target, goal)
    assert evaluate(workload, agents, target).service_level >= goal
    if agents > minimum_agents(workload):
        assert evaluate(workload, agents - 1, target).service_level < goal


# --- bad inputs --------------------------------------------------------------------------------------


def test_unstable_erlang_c_is_refused() -> None:
    with pytest.raises(ValueError, match="unstable"):
        evaluate(Workload(360, 3600, 240), 24, 20)  # exactly 24 Erlangs
    with pytest.raises(ValueError, match="unstable"):
        erlang_c(3, 5.0)
    assert evaluate(Workload(360, 3600, 240, 60.0), 24, 20).abandon_probability > 0  # Erlang A is always stable


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calls": -1.0}, "calls"),
        ({"calls": math.inf}, "calls"),
        ({"interval_seconds": 0.0}, "interval_seconds"),
        ({"aht_seconds": -5.0}, "aht_seconds"),
        ({"patience_seconds": 0.0}, "patience_seconds"),
    ],
)
def test_bad_workloads_are_refused(kwargs: dict[str, float], message: str) -> None:
    values: dict[str, float] = {"calls": 100.0, "interval_seconds": 1800.0, "aht_seconds": 180.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        Workload(**values)


def test_bad_staffing_questions_are_refused() -> None:
    workload = Workload(100, 1800, 180)
    with pytest.raises(ValueError, match="agents"):
        evaluate(workload, 0, 20)
    with pytest.raises(ValueError, match="answer_target_seconds"):
        evaluate(workload, 13, -1)
    with pytest.raises(ValueError, match="target_service_level"):
        required_agents(workload, 20, 1.5)


def test_no_calls_means_no_waiting() -> None:
    staffing = evaluate(Workload(0, 1800, 180), 3, 20)
    assert (staffing.p_wait, staffing.service_level, staffing.asa_seconds, staffing.occupancy) == (0, 1, 0, 0)


# --- the search and shrinkage ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calls", "aht", "patience", "target", "goal"),
    [(330, 60, 90.0, 20.0, 0.8), (3600, 100, 60.0, 20.0, 0.8), (900, 60, None, 10.0, 0.9), (40, 300, 30.0, 5.0, 0.95)],
)
def test_the_search_finds_what_a_walk_up_from_the_minimum_finds(
    calls: float, aht: float, patience: float | None, target: float, goal: float
) -> None:
    workload = Workload(calls, 3600, aht, patience)
    walked = minimum_agents(workload)
    while evaluate(workload, walked, target).service_level < goal:
        walked += 1
    assert required_agents(workload, target, goal) == walked


def test_a_target_beyond_the_agents_allowed_is_unreachable() -> None:
    workload = Workload(100, 1800, 180)  # 10 Erlangs: 14 agents for 80 % in 20 s
    assert required_agents(workload, 20, 0.8, max_agents=14) == 14
    with pytest.raises(ValueError, match="unreachable"):
        required_agents(workload, 20, 0.8, max_agents=13)
    with pytest.raises(ValueError, match="unreachable"):
        required_agents(Workload(100_000, 1800, 180), 20, 0.8, max_agents=1000)  # 10,000 Erlangs


@pytest.mark.parametrize(
    ("agents", "shrinkage", "staff"),
    # 14 agents at 30 %: the Call Centre Helper worked example's 20; 7 / 0.7 is 10.000000000000002 in floats.
    [(14, 0.3, 20), (7, 0.3, 10), (10, 0.0, 10), (0, 0.5, 0), (1, 0.9, 10), (15, 0.35, 24), (3, 1 / 3, 5)],
)
def test_required_staff_covers_shrinkage(agents: int, shrinkage: float, staff: int) -> None:
    assert required_staff(agents, shrinkage) == staff


@settings(max_examples=200, deadline=None, derandomize=True)
@given(agents=st.integers(min_value=0, max_value=5000), shrinkage=st.floats(min_value=0, max_value=MAX_SHRINKAGE))
def test_required_staff_is_the_fewest_covering_the_agents(agents: int, shrinkage: float) -> None:
    staff = required_staff(agents, shrinkage)
    assert staff * (1 - shrinkage) >= agents * (1 - 1e-9)
    assert staff == 0 or (staff - 1) * (1 - shrinkage) < agents


@pytest.mark.parametrize(("agents", "shrinkage"), [(5, -0.1), (5, 0.95), (-1, 0.3), (5, math.nan)])
def test_bad_shrinkage_is_refused(agents: int, shrinkage: float) -> None:
    with pytest.raises(ValueError, match=r"shrinkage|agents"):
        required_staff(agents, shrinkage)
