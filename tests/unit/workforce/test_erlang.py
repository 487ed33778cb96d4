"""Erlang C and Erlang A against textbook values and independent computations.

Independent means another method: exact rational arithmetic on the defining sums (Erlang B and C),
and a truncated birth-death chain whose waiting time is computed state by state (Erlang C: an arrival
finding n >= c agents busy waits for n - c + 1 completions at rate c mu; Erlang A: a uniformized chain
of the tagged caller's place in line, with its own abandonment).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.workforce.erlang import Workload, erlang_b, erlang_c, evaluate, minimum_agents, required_agents


def exact_erlang_b(agents: int, load: Fraction) -> Fraction:
    terms = [load**k / math.factorial(k) for k in range(agents + 1)]
    return terms[-1] / sum(terms)


def exact_erlang_c(agents: int, load: Fraction) -> Fraction:
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    return top / (sum(load**k / math.factorial(k) for k in range(agents)) + top)


def birth_death(workload: Workload, agents: int, states: int) -> list[float]:
    """Stationary distribution of the truncated M/M/c(+M) chain, from detailed balance."""
    lam, mu = workload.arrival_rate, 1 / workload.aht_seconds
    theta = 0.0 if workload.patience_seconds is None else 1 / workload.patience_seconds
    weights = [1.0]
    for n in range(1, states):
        weights.append(weights[-1] * lam / (min(n, agents) * mu + max(n - agents, 0) * theta))
    total = math.fsum(weights)
    return [w / total for w in weights]


def poisson_below(mean: float, k: int) -> float:
    """P(Poisson(mean) < k), which is P(Erlang(k, rate) > t) for mean = rate t."""
    term, total = math.exp(-mean), 0.0
    for i in range(k):
        total += term
        term *= mean / (i + 1)
    return total


def independent_c(workload: Workload, agents: int, target: float) -> tuple[float, float]:
    """(P(wait), service level within T) of M/M/c."""
    pi = birth_death(workload, agents, 3000)
    rate = agents / workload.aht_seconds
    late = math.fsum(p * poisson_below(rate * target, n - agents + 1) for n, p in enumerate(pi) if n >= agents)
    return math.fsum(pi[agents:]), 1 - late


def independent_a(workload: Workload, agents: int, target: float, states: int = 200) -> tuple[float, float, float]:
    """(P(wait), P(abandon), answered within T / answered) of M/M/c+M."""
    assert workload.patience_seconds is not None
    pi = birth_death(workload, agents, agents + states)
    lam, theta = workload.arrival_rate, 1 / workload.patience_seconds
    service = agents / workload.aht_seconds
    p_wait = math.fsum(pi[agents:])
    abandon = theta * math.fsum((n - agents) * p for n, p in enumerate(pi) if n > agents) / lam
    # The tagged caller with i ahead: moves up at c mu + i theta (served from i = 0), abandons at theta.
    line = pi[agents:]
    uniform = service + len(line) * theta + theta
    mean = uniform * target
    served = within = 0.0
    for step in range(int(mean + 12 * math.sqrt(mean) + 30) if mean > 0 else 0):  # T = 0: nobody queued is in
        within += math.exp(-mean + step * math.log(mean) - math.lgamma(step + 1)) * served
        served += line[0] * service / uniform
        moved = [0.0] * len(line)
        for i, mass in enumerate(line):
            moved[i] += mass * (1 - (service + i * theta + theta) / uniform)
            if i:
                moved[i - 1] += mass * (service + i * theta) / uniform
        line = moved
    return p_wait, abandon, ((1 - p_wait) + within) / (1 - abandon)


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
