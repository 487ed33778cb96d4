"""Independent implementations of Erlang B, C and A for the tests: other methods than app.workforce.erlang.

Exact rational arithmetic on the defining sums (Erlang B and C), and a truncated birth-death chain whose
waiting time is computed state by state (Erlang C: an arrival finding n >= c agents busy waits for
n - c + 1 completions at rate c mu; Erlang A: a uniformized chain of the tagged caller's place in line,
with its own abandonment).
"""

from __future__ import annotations

import math
from fractions import Fraction

from app.workforce.erlang import Workload


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
