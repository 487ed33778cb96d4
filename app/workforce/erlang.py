"""Erlang C (M/M/c) and Erlang A (M/M/c+M) staffing math: pure, stdlib `math` only.

Inputs: `Workload(calls, interval_seconds, aht_seconds, patience_seconds)`: calls offered per interval
(Poisson arrivals at rate lambda = calls / interval), exponential handle times with mean AHT (mu = 1 / AHT),
offered load A = lambda * AHT Erlangs; and, for Erlang A, exponential caller patience with mean
`patience_seconds` (theta = 1 / patience). Without patience the model is Erlang C, which is only stable
with more agents than Erlangs (`ValueError` otherwise).

Erlang C. Erlang B is computed by the stable recursion B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)) and
C from it: C = c B / (c - A (1 - B)). Then P(wait) = C, P(W <= T) = 1 - C exp(-(c - A) T / AHT),
ASA = C AHT / (c - A), occupancy = A / c.

Erlang A, by an exact birth-death solution (no approximation formula). States n >= 0 contacts in the
system, births lambda, deaths min(n, c) mu + max(n - c, 0) theta. Probabilities are taken relative to
state c: below c their sum is 1/B(c, A) - 1 (the same Erlang B recursion, inverted); above c the
terms q_j = prod_{i<=j} lambda / (c mu + i theta) are summed in log scale until they fall below e^-50 of
the peak (they eventually fall faster than any geometric series), so the truncation error is below
1e-20. By PASTA, P(wait) = P(N >= c), and P(abandon) = theta E[queue] / lambda.
Waiting-time figures come from the virtual wait of an arrival finding j waiting ahead,
V_j = sum_{i=0..j} Exp(c mu + i theta), for which exp(-theta V_j) is Beta(c mu / theta, j + 1); summed over
the stationary j this gives the density of "answered after waiting s" as
pi_c c mu exp(g(s)), g(s) = -(c mu + theta) s + (lambda / theta)(1 - exp(-theta s)),
a concave exponent, integrated by adaptive Simpson (in log scale, split at its peak). The same result
underlies the formulas of Palm and of Garnett, Mandelbaum and Reiman (2002). Its integral over all s
equals P(answered after waiting) = 1 - P(abandon) - P(no wait), which the tests check against the
birth-death sums.

Service level is answered within T / answered (for Erlang C, everyone is answered); ASA is the mean
wait of answered contacts; occupancy is the carried load per agent, lambda (1 - P(abandon)) AHT / c.

Shrinkage is the share of paid time in which scheduled staff do not work contacts (breaks, meetings,
training, absence): `required_staff` = agents / (1 - shrinkage), rounded up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

_TAIL_LOG = 50.0  # birth-death terms and integrands below e^-50 of their peak are dropped
_MAX_STATES = 2_000_000  # waiting states summed at most (a very long patience under heavy overload)
_MAX_AGENTS = 1_000_000
MAX_SHRINKAGE = 0.9  # beyond it a plan is mostly absence: almost certainly a mistyped figure


@dataclass(frozen=True, slots=True)
class Workload:
    calls: float  # offered per interval
    interval_seconds: float
    aht_seconds: float
    patience_seconds: float | None = None  # mean of exponential patience; None: nobody abandons (Erlang C)

    def __post_init__(self) -> None:
        _check(self.calls >= 0 and math.isfinite(self.calls), "calls must be a finite number >= 0")
        _check(self.interval_seconds > 0 and math.isfinite(self.interval_seconds), "interval_seconds must be > 0")
        _check(self.aht_seconds > 0 and math.isfinite(self.aht_seconds), "aht_seconds must be > 0")
        if self.patience_seconds is not None:
            _check(
                self.patience_seconds > 0 and math.isfinite(self.patience_seconds),
                "patience_seconds must be > 0 (or None for callers who never hang up)",
            )

    @property
    def arrival_rate(self) -> float:
        """Calls per second."""
        return self.calls / self.interval_seconds

    @property
    def load(self) -> float:
        """Offered load in Erlangs."""
        return self.arrival_rate * self.aht_seconds


@dataclass(frozen=True, slots=True)
class Staffing:
    agents: int
    p_wait: float
    service_level: float  # answered within T / answered
    asa_seconds: float  # mean wait of answered contacts
    occupancy: float
    abandon_probability: float  # 0 under Erlang C


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_agents(agents: int) -> None:
    _check(isinstance(agents, int) and agents >= 1, f"agents must be an integer >= 1, not {agents!r}")


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of M/M/c/c with `load` Erlangs (the stable recursion)."""
    _check_agents(agents)
    _check(load >= 0 and math.isfinite(load), "load must be a finite number >= 0")
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """Probability of waiting in M/M/c; needs agents > load."""
    b = erlang_b(agents, load)
    _check(
        agents > load,
        f"unstable: {agents} agents cannot carry {load:.4g} Erlangs without abandonment (need more agents than Erlangs)",
    )
    return agents * b / (agents - load * (1.0 - b))


def minimum_agents(workload: Workload) -> int:
    """The fewest agents the model accepts: more than the load for Erlang C, one for Erlang A."""
    if workload.patience_seconds is not None:
        return 1
    return math.floor(workload.load) + 1


def evaluate(workload: Workload, agents: int, answer_target_seconds: float) -> Staffing:
    """P(wait), service level within T, ASA, occupancy (and abandonment for Erlang A) for `agents`."""
    _check_agents(agents)
    _check(answer_target_seconds >= 0 and math.isfinite(answer_target_seconds), "answer_target_seconds must be >= 0")
    if workload.calls == 0:
        return Staffing(agents, 0.0, 1.0, 0.0, 0.0, 0.0)
    if workload.patience_seconds is None:
        return _erlang_c_staffing(workload, agents, answer_target_seconds)
    return _erlang_a_staffing(workload, agents, answer_target_seconds)


def required_agents(
    workload: Workload, answer_target_seconds: float, target_service_level: float, *, max_agents: int = _MAX_AGENTS
) -> int:
    """The fewest agents whose service level within T reaches the target (a fraction in (0, 1]).

    The service level rises with the agents, so the search gallops up from the minimum (1, 2, 4 ... more)
    and then bisects: a few dozen evaluations where a walk up from one agent would take hundreds (Erlang A
    starts at one agent). ``ValueError`` when more than ``max_agents`` would be needed.
    """
    _check(0 < target_service_level <= 1, "target_service_level must be a fraction in (0, 1]")

    def meets(agents: int) -> bool:
        return evaluate(workload, agents, answer_target_seconds).service_level >= target_service_level

    unreachable = f"unreachable: no staffing up to {max_agents} agents reaches the target"
    short = minimum_agents(workload)  # the largest count known to fall short, once it is checked
    _check(short <= max_agents, unreachable)
    if meets(short):
        return short
    step = 1
    while True:
        enough = min(short + step, max_agents)
        if meets(enough):
            break
        _check(enough < max_agents, unreachable)
        short, step = enough, step * 2
    while enough - short > 1:
        middle = (short + enough) // 2
        if meets(middle):
            enough = middle
        else:
            short = middle
    return enough


def required_staff(agents: int, shrinkage: float) -> int:
    """Staff to schedule so that ``agents`` are working contacts after shrinkage (breaks, training, absence).

    agents / (1 - shrinkage), rounded up; a relative 1e-9 is forgiven first, so that 7 agents at 30 %
    shrinkage are the 10 staff they are and not 11 (7 / 0.7 is 10.000000000000002 in floating point).
    """
    _check(isinstance(agents, int) and agents >= 0, f"agents must be an integer >= 0, not {agents!r}")
    _check(0 <= shrinkage <= MAX_SHRINKAGE, f"shrinkage must be a fraction in [0, {MAX_SHRINKAGE}]")
    exact = agents / (1.0 - shrinkage)
    return math.ceil(exact * (1 - 1e-9))


# --- Erlang C ----------------------------------------------------------------------------------------


def _erlang_c_staffing(workload: Workload, agents: int, target: float) -> Staffing:
    load = workload.load
    p_wait = erlang_c(agents, load)
    spare = agents - load
    return Staffing(
        agents=agents,
        p_wait=p_wait,
        service_level=1.0 - p_wait * math.exp(-spare * target / workload.aht_seconds),
        asa_seconds=p_wait * workload.aht_seconds / spare,
        occupancy=load / agents,
        abandon_probability=0.0,
    )


# --- Erlang A ----------------------------------------------------------------------------------------


def _erlang_a_staffing(workload: Workload, agents: int, target: float) -> Staffing:
    assert workload.patience_seconds is not None
    lam = workload.arrival_rate
    service = agents / workload.aht_seconds  # c mu
    theta = 1.0 / workload.patience_seconds

    # Below state c, relative to p_c: 1/B(c, A) - 1 (1/B by the inverted recursion; inf means p_c ~ 0).
    inverse_b = 1.0
    for k in range(1, agents + 1):
        inverse_b = 1.0 + k / workload.load * inverse_b
    below = inverse_b - 1.0
    if math.isinf(below):  # p_c underflows: nobody waits
        return Staffing(agents, 0.0, 1.0, 0.0, lam * workload.aht_seconds / agents, 0.0)

    # From state c up, relative to p_c, in log scale: log q_j.
    logs = [0.0]
    log_q = 0.0
    peak = 0.0
    j = 0
    while True:
        j += 1
        log_q += math.log(lam / (service + j * theta))
        logs.append(log_q)
        peak = max(peak, log_q)
        if log_q < peak - _TAIL_LOG and lam < service + j * theta:
            break
        _check(
            j < _MAX_STATES,
            "patience is too long for this overload to solve exactly (add agents or shorten patience_seconds)",
        )
    above = math.fsum(math.exp(x - peak) for x in logs)  # scaled by e^-peak
    queue = math.fsum(i * math.exp(x - peak) for i, x in enumerate(logs))
    total = below * math.exp(-peak) + above  # (sum of all p_n / p_c) * e^-peak
    p_wait = above / total
    log_pi_c = -(peak + math.log(total))
    abandon = theta * (queue / total) / lam
    answered = 1.0 - abandon

    def g(s: float) -> float:
        return -(service + theta) * s - lam / theta * math.expm1(-theta * s)

    top = math.log(lam / (service + theta)) / theta if lam > service + theta else 0.0
    # The density of "answered after waiting s" is pi_c c mu e^g(s).
    end = _tail_end(g, top)
    log_within, within = _integrate_concave(g, 0.0, min(target, top), min(target, end), weight=False)
    log_waited, waited = _integrate_concave(g, 0.0, top, end, weight=True)
    return Staffing(
        agents=agents,
        p_wait=min(1.0, p_wait),
        service_level=min(1.0, ((1.0 - p_wait) + service * math.exp(log_pi_c + log_within) * within) / answered),
        asa_seconds=service * math.exp(log_pi_c + log_waited) * waited / answered,
        occupancy=min(1.0, lam * answered * workload.aht_seconds / agents),
        abandon_probability=abandon,
    )


def _tail_end(g: Callable[[float], float], top: float) -> float:
    """A point past the peak of the concave g where it has fallen by more than _TAIL_LOG."""
    g_top = g(top)
    step = 1.0
    while g(top + step) > g_top - _TAIL_LOG:
        step *= 2.0
    return top + step


def _integrate_concave(
    g: Callable[[float], float], start: float, split: float, end: float, *, weight: bool
) -> tuple[float, float]:
    """(g(split), integral over [start, end] of e^(g(s) - g(split)), times s when `weight`).

    `split` is where the concave g peaks inside [start, end]: scaling by it keeps the integrand's
    largest value at 1 (a relative tolerance then means something), and splitting there lets the
    adaptive refinement see the peak.
    """
    g_peak = g(split)

    def f(s: float) -> float:
        value = math.exp(g(s) - g_peak)
        return s * value if weight else value

    return g_peak, _simpson(f, start, split) + _simpson(f, split, end)


def _simpson(f: Callable[[float], float], a: float, b: float, tolerance: float = 1e-11) -> float:
    """Adaptive Simpson (iterative) on [a, b], to a tolerance relative to a first 64-panel estimate."""
    if b <= a:
        return 0.0
    panels = 64
    width = (b - a) / panels
    stack: list[tuple[float, float, float, float, float, float, int]] = []
    for i in range(panels):
        lo, hi = a + i * width, a + (i + 1) * width
        mid = (lo + hi) / 2
        f_lo, f_mid, f_hi = f(lo), f(mid), f(hi)
        stack.append((lo, hi, f_lo, f_mid, f_hi, (hi - lo) / 6 * (f_lo + 4 * f_mid + f_hi), 0))
    allowed = tolerance * max(abs(math.fsum(entry[5] for entry in stack)), 1e-300)
    total = 0.0
    while stack:
        lo, hi, f_lo, f_mid, f_hi, whole, depth = stack.pop()
        mid = (lo + hi) / 2
        f_left, f_right = f((lo + mid) / 2), f((mid + hi) / 2)
        left = (mid - lo) / 6 * (f_lo + 4 * f_left + f_mid)
        right = (hi - mid) / 6 * (f_mid + 4 * f_right + f_hi)
        # Each panel gets its share of the error budget; depth is capped (rounding can stall convergence).
        if depth >= 14 or abs(left + right - whole) <= 15 * allowed * (hi - lo) / (b - a):
            total += left + right + (left + right - whole) / 15
        else:
            stack.append((lo, mid, f_lo, f_left, f_mid, left, depth + 1))
            stack.append((mid, hi, f_mid, f_right, f_hi, right, depth + 1))
    return total
