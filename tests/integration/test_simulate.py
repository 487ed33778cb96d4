"""`tenline simulate`: the simulator driving the real routing engine agrees with queueing theory.

M/M/c: 20 agents, 960 calls per hour, AHT 60 s (16 Erlangs, 80 % occupancy), T = 10 s. Erlang C gives
P(wait) 0.256, service level 0.869 and ASA 3.84 s. A run of about 155,000 contacts (580,000 simulated
seconds, some 15 s of wall time) must agree within:

- service level and P(wait): 0.035 absolute;
- ASA: 30 % relative (waits are a heavy-tailed mix of zeros and exponentials, so their mean is noisy);
- occupancy: 0.015 absolute.

Why these: successive contacts' waits are strongly correlated (a busy spell delays many in a row), so
the sampling error is estimated by batch means (20 batches of consecutive arrivals), not by the
binomial formula. Over several seeds it came out at 0.006-0.010 (service level, P(wait)) and 6-9 %
(ASA): the tolerances are 3.5 to 5 standard errors. The test also asserts that the measured standard
errors stay below 40 % of the tolerances, so a shorter, noisier run cannot pass by luck. Erlang A
(patience 120 s) gets the same treatment on a shorter run with wider tolerances.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app.telephony.simulator import ContactOutcome, SimulationResult, simulate, single_queue
from app.workforce.erlang import Workload, evaluate

ROOT = Path(__file__).resolve().parents[2]
BATCHES = 20


def batch_error(
    result: SimulationResult, duration: float, measure: Callable[[Sequence[ContactOutcome]], float]
) -> float:
    """Standard error of `measure` by batch means over consecutive arrival windows."""
    batches: list[list[ContactOutcome]] = [[] for _ in range(BATCHES)]
    for contact in result.contacts:
        batches[min(BATCHES - 1, int(contact.arrived_at / duration * BATCHES))].append(contact)
    return statistics.stdev(measure(batch) for batch in batches) / math.sqrt(BATCHES)


def answered(batch: Sequence[ContactOutcome]) -> list[float]:
    return [c.answered_at - c.arrived_at for c in batch if c.answered_at is not None]


def service_level(target: float) -> Callable[[Sequence[ContactOutcome]], float]:
    def measure(batch: Sequence[ContactOutcome]) -> float:
        waits = answered(batch)
        return sum(1 for w in waits if w <= target) / len(waits)

    return measure


def asa(batch: Sequence[ContactOutcome]) -> float:
    return statistics.fmean(answered(batch))


def p_wait(batch: Sequence[ContactOutcome]) -> float:
    finished = [c for c in batch if c.answered_at is not None or c.removal is not None]
    return sum(c.queued for c in finished) / len(finished)


def abandon_rate(batch: Sequence[ContactOutcome]) -> float:
    return sum(1 for c in batch if c.removal is not None) / len(batch)


def test_the_simulated_queue_agrees_with_erlang_c() -> None:
    agents, calls, aht, target, duration = 20, 960.0, 60.0, 10.0, 580_000.0
    theory = evaluate(Workload(calls, 3600, aht), agents, target)
    scenario = single_queue(
        agents=agents,
        calls_per_interval=calls,
        interval_seconds=3600,
        aht_seconds=aht,
        answer_target_seconds=target,
        duration_seconds=duration,
    )
    result = simulate(scenario, seed=20_251_125)
    figures = result.overall
    assert figures.offered > 150_000
    assert figures.abandoned == 0 and figures.answered == figures.offered

    tolerances = {"service_level": 0.035, "p_wait": 0.035, "asa": 0.3 * theory.asa_seconds}
    errors = {
        "service_level": batch_error(result, duration, service_level(target)),
        "p_wait": batch_error(result, duration, p_wait),
        "asa": batch_error(result, duration, asa),
    }
    for name, error in errors.items():
        assert error < 0.4 * tolerances[name], f"the run is too short for a tight {name} estimate: {error}"
    assert abs(figures.service_level - theory.service_level) < tolerances["service_level"]
    assert abs(figures.p_wait - theory.p_wait) < tolerances["p_wait"]
    assert abs(figures.asa_seconds - theory.asa_seconds) < tolerances["asa"]
    assert abs(figures.occupancy - theory.occupancy) < 0.015


def test_the_simulated_queue_with_abandonment_agrees_with_erlang_a() -> None:
    """Erlang A: 18 Erlangs on 18 agents, patience 120 s (only abandonment keeps it stable), 45,000 contacts.

    Erlang A gives service level 0.654, P(wait) 0.611, P(abandon) 0.078, ASA 9.05 s. Batch-means
    standard errors over several seeds: 0.012 (service level, P(wait)), 0.0035 (abandonment), 4.5 % (ASA);
    the tolerances are about four of them.
    """
    agents, calls, aht, target, patience, duration = 18, 1080.0, 60.0, 10.0, 120.0, 150_000.0
    theory = evaluate(Workload(calls, 3600, aht, patience), agents, target)
    scenario = single_queue(
        agents=agents,
        calls_per_interval=calls,
        interval_seconds=3600,
        aht_seconds=aht,
        answer_target_seconds=target,
        duration_seconds=duration,
        patience_seconds=patience,
    )
    result = simulate(scenario, seed=7)
    figures = result.overall
    assert figures.offered > 40_000 and figures.abandoned > 0
    tolerances = {"service_level": 0.05, "p_wait": 0.05, "abandon": 0.015, "asa": 0.2 * theory.asa_seconds}
    errors = {
        "service_level": batch_error(result, duration, service_level(target)),
        "p_wait": batch_error(result, duration, p_wait),
        "abandon": batch_error(result, duration, abandon_rate),
        "asa": batch_error(result, duration, asa),
    }
    for name, error in errors.items():
        assert error < 0.4 * tolerances[name], f"the run is too short for a tight {name} estimate: {error}"
    assert abs(figures.service_level - theory.service_level) < tolerances["service_level"]
    assert abs(figures.p_wait - theory.p_wait) < tolerances["p_wait"]
    assert abs(figures.abandoned / figures.offered - theory.abandon_probability) < tolerances["abandon"]
    assert abs(figures.asa_seconds - theory.asa_seconds) < tolerances["asa"]
    assert abs(figures.occupancy - theory.occupancy) < 0.02


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "app.server.cli", "simulate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


COMMON = ("--interval-seconds", "3600", "--aht-seconds", "60", "--answer-target-seconds", "10")


def test_the_command_prints_simulated_and_predicted_figures() -> None:
    done = run_cli(
        "--agents", "20", "--calls-per-interval", "960", *COMMON, "--duration-seconds", "7200", "--seed", "3", "--json"
    )
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    for key in ("offered", "answered", "abandoned", "service_level", "asa_seconds", "occupancy", "p_wait"):
        assert key in output
    assert output["offered"] == output["answered"] > 1000
    assert 0 <= output["service_level"] <= 1 and 0 <= output["p_wait"] <= 1
    assert output["erlang"]["model"] == "erlang_c"
    assert abs(output["erlang"]["p_wait"] - 0.2561) < 1e-3

    patient = run_cli(
        "--agents", "18", "--calls-per-interval", "1080", *COMMON, "--duration-seconds", "3600",
        "--patience-seconds", "120", "--json",
    )  # fmt: skip
    assert patient.returncode == 0, patient.stderr
    output = json.loads(patient.stdout)
    assert output["erlang"]["model"] == "erlang_a" and output["erlang"]["abandon_probability"] > 0


def test_bad_arguments_exit_with_2_and_a_clear_message() -> None:
    unstable = run_cli("--agents", "16", "--calls-per-interval", "960", *COMMON, "--duration-seconds", "600", "--json")
    assert unstable.returncode == 2
    assert "unstable" in unstable.stderr and unstable.stdout == ""
    negative = run_cli("--agents", "20", "--calls-per-interval", "-5", *COMMON, "--duration-seconds", "600", "--json")
    assert negative.returncode == 2
    assert "--calls-per-interval" in negative.stderr
    missing = run_cli("--agents", "20", *COMMON, "--json")
    assert missing.returncode == 2
