"""The simulate-day benchmark: a quick smoke run, and its SimPy baseline checked against Erlang C."""

from __future__ import annotations

import random

import pytest

from app.telephony.simulator import sample_calls, single_queue
from app.workforce.erlang import Workload, evaluate
from tests.benchmarks.simulate_day import SimpyCenter, run


def test_a_quick_run_compares_both_models_on_the_same_contacts() -> None:
    figures = run(quick=True)
    assert figures["simulated_seconds"] == 7200 and figures["agents"] == 1500
    assert figures["contacts"] > 1000
    assert figures["ours"]["answered"] + figures["ours"]["abandoned"] == figures["contacts"]
    assert figures["simpy"]["answered"] + figures["simpy"]["abandoned"] == figures["contacts"]
    assert figures["engine_events"] > 2 * figures["contacts"]
    assert figures["ratio"] == pytest.approx(figures["simpy_wall_seconds"] / figures["ours_wall_seconds"], abs=0.01)
    assert len(figures["tenants"]) == 40
    for row in figures["tenants"].values():
        assert set(row) == {
            "target",
            "answer_target_seconds",
            "ours_service_level",
            "simpy_service_level",
            "ours_met",
            "simpy_met",
        }
        # The night is overstaffed: both models answer nearly everyone at once.
        assert abs(row["ours_service_level"] - row["simpy_service_level"]) < 0.1
    assert figures["ours"]["tenants_met"] >= 39 and figures["simpy"]["tenants_met"] >= 39


def test_the_simpy_baseline_agrees_with_erlang_c() -> None:
    """M/M/c, 20 agents at 80 % occupancy (Erlang C: service level 0.869 within 10 s), about 13,000 contacts."""
    agents, calls, aht, target, duration = 20, 960.0, 60.0, 10.0, 50_000.0
    scenario = single_queue(
        agents=agents,
        calls_per_interval=calls,
        interval_seconds=3600,
        aht_seconds=aht,
        answer_target_seconds=target,
        duration_seconds=duration,
    )
    center = SimpyCenter(scenario, sample_calls(scenario, random.Random(11)))
    center.run()
    theory = evaluate(Workload(calls, 3600, aht), agents, target)
    assert center.offered > 12_000 and len(center.waits) == center.offered
    assert abs(center.service_level(None) - theory.service_level) < 0.05
    p_wait = sum(1 for wait in center.waits.values() if wait > 0) / center.offered
    assert abs(p_wait - theory.p_wait) < 0.04
