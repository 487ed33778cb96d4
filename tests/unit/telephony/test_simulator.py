"""The simulator's core: traffic generation, agent behaviour, accounting, and the engine's rules in time."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import statistics
from collections import defaultdict

import pytest

from app.routing.engine import AgentConfig, EngineConfig, QueueConfig, RemovalReason, TenantConfig
from app.telephony.simulator import (
    AgentBehaviour,
    Arrivals,
    HandleTime,
    Scenario,
    SimulationResult,
    simulate,
    single_queue,
)


def small_queue(
    *,
    agents: int = 5,
    calls_per_interval: float = 200,
    patience_seconds: float | None = None,
    duration_seconds: float = 7200,
) -> Scenario:
    return single_queue(
        agents=agents,
        calls_per_interval=calls_per_interval,
        interval_seconds=3600,
        aht_seconds=60,
        answer_target_seconds=20,
        duration_seconds=duration_seconds,
        patience_seconds=patience_seconds,
    )


def check_accounting(result: SimulationResult) -> None:
    """Every contact has exactly one fate; no agent talks to two callers at once."""
    figures = result.overall
    assert figures.offered == len(result.contacts)
    assert figures.offered == figures.answered + figures.abandoned + figures.removed
    talks: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for contact in result.contacts:
        if contact.answered_at is not None:
            assert contact.left_at is None and contact.removal is None
            assert contact.agent_id is not None and contact.ended_at is not None
            assert contact.answered_at >= contact.arrived_at
            talks[contact.agent_id].append((contact.answered_at, contact.ended_at))
        else:
            assert contact.left_at is not None and contact.removal is not None
    for intervals in talks.values():
        intervals.sort()
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(intervals))


def test_the_same_seed_gives_the_same_run() -> None:
    scenario = small_queue(patience_seconds=60)
    first, again, other = simulate(scenario, seed=7), simulate(scenario, seed=7), simulate(scenario, seed=8)
    assert first.contacts == again.contacts
    assert first.overall == again.overall
    assert first.contacts != other.contacts
    check_accounting(first)
    check_accounting(other)


def test_figures_follow_their_definitions() -> None:
    result = simulate(small_queue(agents=4, patience_seconds=90), seed=3)
    check_accounting(result)
    figures = result.overall
    answered = [c for c in result.contacts if c.answered_at is not None]
    waits = [c.wait for c in answered]
    assert figures.abandoned > 0 and figures.answered > 0
    assert figures.asa_seconds == pytest.approx(statistics.fmean(w for w in waits if w is not None))
    assert figures.service_level == pytest.approx(sum(1 for w in waits if w is not None and w <= 20) / len(waits))
    finished = [c for c in result.contacts if c.answered_at is not None or c.removal is RemovalReason.ABANDONED]
    assert figures.p_wait == pytest.approx(sum(c.queued for c in finished) / len(finished))
    # With no accept delay, a contact that did not queue is answered the moment it arrives.
    assert all(c.wait == 0 for c in answered if not c.queued)
    assert figures.occupancy == pytest.approx(sum(result.busy_seconds.values()) / (4 * 7200))
    alone = result.tenants["tenant"]
    assert alone.occupancy == pytest.approx(figures.occupancy)  # summed in another order
    assert dataclasses.replace(alone, occupancy=figures.occupancy) == figures


def test_the_intraday_curve_shapes_arrivals() -> None:
    tenant = TenantConfig("t")
    queue = QueueConfig("q", "t")
    config = EngineConfig((tenant,), (queue,), tuple(AgentConfig(f"a{i}", frozenset({"t"})) for i in range(40)))
    curve = ((0.0, 400.0), (3600.0, 0.0), (7200.0, 1600.0))
    arrivals = Arrivals("q", curve, 3600, HandleTime(30))
    result = simulate(Scenario(config, (arrivals,), 10_800), seed=1)
    times = [c.arrived_at for c in result.contacts]
    counts = [sum(1 for t in times if start <= t < start + 3600) for start in (0, 3600, 7200)]
    assert counts[1] == 0
    # Poisson counts: within 4 standard deviations of their means.
    assert abs(counts[0] - 400) < 4 * math.sqrt(400)
    assert abs(counts[2] - 1600) < 4 * math.sqrt(1600)
    assert max(times) < 10_800


def test_lognormal_handle_times_have_the_given_mean_and_sigma() -> None:
    rng = random.Random(5)
    samples = [HandleTime(300, 150).sample(rng) for _ in range(40_000)]
    assert statistics.fmean(samples) == pytest.approx(300, rel=0.02)
    assert statistics.stdev(samples) == pytest.approx(150, rel=0.05)
    exponential = [HandleTime(300).sample(rng) for _ in range(40_000)]
    assert statistics.stdev(exponential) == pytest.approx(300, rel=0.05)  # sd = mean


def test_rejected_offers_are_offered_again() -> None:
    scenario = small_queue(agents=30, calls_per_interval=120)
    rejecting = Scenario(
        scenario.engine,
        scenario.arrivals,
        scenario.duration_seconds,
        AgentBehaviour(accept_delay_seconds=(1.0, 2.0), reject_probability=0.3),
    )
    result = simulate(rejecting, seed=2)
    check_accounting(result)
    figures = result.overall
    assert figures.answered == figures.offered  # nobody hangs up, so everyone is answered in the end
    waits = [c.wait for c in result.contacts if c.wait is not None]
    assert min(waits) >= 1.0
    # A single offer answers within 2 s: longer waits came from a rejection and a second offer.
    assert 0.2 < sum(1 for w in waits if w > 2.0) / len(waits) < 0.45


def test_unanswered_offers_time_out_and_agents_go_on_break() -> None:
    scenario = small_queue(agents=3, calls_per_interval=60, patience_seconds=120, duration_seconds=1800)
    silent = Scenario(
        scenario.engine,
        scenario.arrivals,
        scenario.duration_seconds,
        AgentBehaviour(accept_delay_seconds=(20.0, 20.0), break_seconds=30),  # past the 15 s offer timeout
    )
    result = simulate(silent, seed=4)
    check_accounting(result)
    assert result.overall.answered == 0
    assert result.overall.abandoned == result.overall.offered > 0
    assert result.overall.occupancy > 0  # agents were reserved by the offers they let ring


def test_max_wait_removes_contacts_exactly_on_time() -> None:
    tenant = TenantConfig("t")
    queue = QueueConfig("q", "t", max_wait_seconds=30)
    config = EngineConfig((tenant,), (queue,), (AgentConfig("a", frozenset({"t"})),))
    arrivals = Arrivals("q", ((0.0, 120.0),), 3600, HandleTime(120))
    result = simulate(Scenario(config, (arrivals,), 3600), seed=6)
    check_accounting(result)
    removed = [c for c in result.contacts if c.removal is RemovalReason.MAX_WAIT]
    assert result.overall.removed == len(removed) > 10
    # The loop ticks the engine when the rule is due, so the removal is not late.
    assert all(c.wait == pytest.approx(30) for c in removed)


def test_wrap_up_keeps_agents_busy() -> None:
    def run(wrap_up: float) -> SimulationResult:
        tenant = TenantConfig("t")
        queue = QueueConfig("q", "t", wrap_up_seconds=wrap_up)
        agents = tuple(AgentConfig(f"a{i}", frozenset({"t"})) for i in range(30))
        arrivals = Arrivals("q", ((0.0, 600.0),), 3600, HandleTime(60))
        return simulate(Scenario(EngineConfig((tenant,), (queue,), agents), (arrivals,), 20_000), seed=9)

    plain, wrapping = run(0), run(30)
    check_accounting(wrapping)
    # Same arrivals and handle times (same seed); each contact adds 30 s of wrap-up to the pool's busy time.
    assert plain.overall.offered == wrapping.overall.offered
    added = (wrapping.overall.occupancy - plain.overall.occupancy) * 30 * 20_000
    assert added == pytest.approx(30 * wrapping.overall.answered, rel=0.02)


def test_per_tenant_figures_of_a_shared_pool() -> None:
    tenants = (TenantConfig("x", answer_target_seconds=10), TenantConfig("y", answer_target_seconds=60))
    queues = (QueueConfig("qx", "x"), QueueConfig("qy", "y"))
    agents = tuple(AgentConfig(f"a{i}", frozenset({"x", "y"})) for i in range(12))
    arrivals = (
        Arrivals("qx", ((0.0, 300.0),), 3600, HandleTime(60), patience_seconds=120),
        Arrivals("qy", ((0.0, 300.0),), 3600, HandleTime(90, 40), patience_seconds=300),
    )
    result = simulate(Scenario(EngineConfig(tenants, queues, agents), arrivals, 14_400), seed=11)
    check_accounting(result)
    x, y = result.tenants["x"], result.tenants["y"]
    assert x.offered + y.offered == result.overall.offered
    assert x.answered + y.answered == result.overall.answered
    assert x.occupancy + y.occupancy == pytest.approx(result.overall.occupancy)
    assert {c.tenant_id for c in result.contacts if c.queue_id == "qx"} == {"x"}
    # Each tenant's service level uses its own answer target.
    y_waits = [c.wait for c in result.contacts if c.tenant_id == "y" and c.answered_at is not None]
    assert y.service_level == pytest.approx(sum(1 for w in y_waits if w is not None and w <= 60) / len(y_waits))


def test_bad_scenarios_are_refused() -> None:
    with pytest.raises(ValueError, match="mean handle time"):
        HandleTime(0)
    with pytest.raises(ValueError, match="curve"):
        Arrivals("q", ((60.0, 1.0), (0.0, 1.0)), 3600, HandleTime(60))
    with pytest.raises(ValueError, match="reject_probability"):
        AgentBehaviour(reject_probability=1.0)
    with pytest.raises(ValueError, match="unknown queues"):
        scenario = small_queue()
        Scenario(scenario.engine, (Arrivals("nope", ((0.0, 1.0),), 60, HandleTime(1)),), 60)
    with pytest.raises(ValueError, match="agents"):
        small_queue(agents=0)
