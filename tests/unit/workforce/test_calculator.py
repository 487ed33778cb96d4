"""The Erlang calculator and `tenline wfm erlang`, checked against published worked examples and against a
second implementation written here.

Published worked examples (figures as the pages round them):
- Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example"
  (https://www.callcentrehelper.com/erlang-c-formula-example-121281.htm): 100 calls in 30 minutes, AHT
  180 s, 80 % answered within 20 s: 10 Erlangs; 13 agents reach 79.6 %, 14 agents 88.8 % (the answer),
  with P(wait) 17.4 %, ASA 7.8 s and occupancy 71.4 %; with 30 % shrinkage, 20 staff.
- Mitan, "The Erlang-C Formula" (http://www.mitan.co.uk/erlang/elgcmath.htm): 360 calls per half hour,
  4 minutes per call, 55 agents, T = 15 s: 48 Erlangs, occupancy 87.3 %, P(wait) 23.9 %, ASA 8.2 s,
  service level 84.6 %.

The second implementation (`textbook_erlang_c`) evaluates the defining sum of Erlang C term by term in
log space (no Erlang B recursion, unlike app.workforce.erlang) and searches agents one by one; Erlang A
rows are checked against the birth-death chain of tests/unit/workforce/reference.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from app.server.cli import main
from app.workforce.calculator import MAX_AGENTS, ArgumentError, Question, answer, parse, problems
from app.workforce.erlang import Workload
from tests.conftest import ROOT
from tests.unit.workforce.reference import independent_a

ROW_KEYS = {"agents", "p_wait", "service_level", "asa_seconds", "occupancy"}


def textbook_erlang_c(calls: float, interval: float, aht: float, agents: int, target: float) -> dict[str, float]:
    """P(wait) = (A^c / c!) (c / (c - A)) / (sum_{k<c} A^k / k! + (A^c / c!) (c / (c - A))), in log space."""
    load = calls / interval * aht
    logs = [k * math.log(load) - math.lgamma(k + 1) for k in range(agents + 1)]
    top = max(logs)
    waiting = math.exp(logs[agents] - top) * agents / (agents - load)
    p_wait = waiting / (math.fsum(math.exp(x - top) for x in logs[:agents]) + waiting)
    return {
        "agents": agents,
        "p_wait": p_wait,
        "service_level": 1 - p_wait * math.exp(-(agents - load) * target / aht),
        "asa_seconds": p_wait * aht / (agents - load),
        "occupancy": load / agents,
    }


def textbook_required(calls: float, interval: float, aht: float, target: float, goal: float) -> int:
    agents = math.floor(calls / interval * aht) + 1
    while textbook_erlang_c(calls, interval, aht, agents, target)["service_level"] < goal:
        agents += 1
    return agents


def erlang(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["wfm", "erlang", *args])
    return result.exit_code, result.stdout, result.stderr


CCH = ("--calls", "100", "--interval-seconds", "1800", "--aht-seconds", "180", "--answer-target-seconds", "20")


# --- the published examples ----------------------------------------------------------------------------


def test_the_call_centre_helper_example() -> None:
    code, out, err = erlang(*CCH, "--target-sl", "0.8", "--shrinkage", "0.3", "--json")
    assert code == 0, err
    output = json.loads(out)
    assert output["model"] == "erlang_c" and output["load_erlangs"] == pytest.approx(10.0)
    assert output["required_agents"] == 14 and output["required_staff"] == 20
    rows = {row["agents"]: row for row in output["rows"]}
    assert sorted(rows) == list(range(11, 18))  # the fewest stable (more than 10 Erlangs) to 14 + 3
    assert all(set(row) == ROW_KEYS for row in output["rows"])
    assert round(rows[13]["service_level"], 3) == 0.796
    assert round(rows[14]["service_level"], 3) == 0.888
    assert round(rows[14]["p_wait"], 3) == 0.174
    assert round(rows[14]["asa_seconds"], 1) == 7.8
    assert round(rows[14]["occupancy"], 3) == 0.714


def test_the_mitan_example() -> None:
    code, out, _ = erlang(
        "--calls", "360", "--interval-seconds", "1800", "--aht-seconds", "240",
        "--answer-target-seconds", "15", "--target-sl", "0.8", "--json",
    )  # fmt: skip
    assert code == 0
    output = json.loads(out)
    assert output["load_erlangs"] == pytest.approx(48.0)
    row = next(row for row in output["rows"] if row["agents"] == 55)
    assert round(row["occupancy"], 3) == 0.873
    assert round(row["p_wait"], 3) == 0.239
    assert round(row["asa_seconds"], 1) == 8.2
    assert round(row["service_level"], 3) == 0.846
    # 55 agents pass 80 %; the answer is the fewest that do, which the second implementation confirms.
    assert output["required_agents"] == textbook_required(360, 1800, 240, 15, 0.8) <= 55


# --- against the second implementation ----------------------------------------------------------------


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    calls=st.floats(min_value=1, max_value=2000),
    interval=st.sampled_from([900.0, 1800.0, 3600.0]),
    aht=st.floats(min_value=10, max_value=900),
    target=st.floats(min_value=1, max_value=120),
    goal=st.floats(min_value=0.5, max_value=0.95),
)
def test_erlang_c_answers_agree_with_the_textbook_sum(
    calls: float, interval: float, aht: float, target: float, goal: float
) -> None:
    if calls / interval * aht > 300:  # keep the one-by-one search of the reference quick
        return
    result = answer(Question(calls, interval, aht, target, goal))
    assert result.required_agents == textbook_required(calls, interval, aht, target, goal)
    assert result.rows[0].agents == math.floor(calls / interval * aht) + 1
    assert result.rows[-1].agents == result.required_agents + 3
    for row in result.rows:
        expected = textbook_erlang_c(calls, interval, aht, row.agents, target)
        assert row.p_wait == pytest.approx(expected["p_wait"], rel=1e-9, abs=1e-12)
        assert row.service_level == pytest.approx(expected["service_level"], rel=1e-9)
        assert row.asa_seconds == pytest.approx(expected["asa_seconds"], rel=1e-9, abs=1e-12)
        assert row.occupancy == pytest.approx(expected["occupancy"], rel=1e-12)


def test_erlang_a_rows_agree_with_the_birth_death_chain() -> None:
    code, out, _ = erlang(*CCH, "--target-sl", "0.8", "--patience-seconds", "60", "--json")
    assert code == 0
    output = json.loads(out)
    assert output["model"] == "erlang_a"
    rows = output["rows"]
    assert [row["agents"] for row in rows] == list(range(1, output["required_agents"] + 4))  # Erlang A: from 1
    workload = Workload(100, 1800, 180, 60.0)
    for row in rows:
        if row["agents"] < 6:  # few agents under heavy overload: the reference chain needs more states than it holds
            continue
        p_wait, abandon, service_level = independent_a(workload, row["agents"], 20)
        assert row["p_wait"] == pytest.approx(p_wait, rel=1e-9)
        assert row["service_level"] == pytest.approx(service_level, rel=1e-7)
        assert row["occupancy"] == pytest.approx(10 * (1 - abandon) / row["agents"], rel=1e-9)
    required = output["required_agents"]
    by_agents = {row["agents"]: row for row in rows}
    assert by_agents[required]["service_level"] >= 0.8 > by_agents[required - 1]["service_level"]


# --- the command line's contract -----------------------------------------------------------------------


def test_without_json_a_readable_table_marks_the_requirement() -> None:
    code, out, _ = erlang(*CCH, "--target-sl", "0.8", "--shrinkage", "0.3")
    assert code == 0
    lines = out.splitlines()
    assert "10 Erlangs" in lines[0]
    assert "needs 14 agents, 20 staff at 30% shrinkage" in lines[1]
    assert lines[2].split() == ["agents", "P(wait)", "service", "level", "ASA", "(s)", "occupancy"]
    marked = [line for line in lines[3:] if line.startswith("*")]
    assert len(marked) == 1 and marked[0].split()[1:3] == ["14", "17.41%"]
    assert len(lines) == 3 + 7


@pytest.mark.parametrize(
    ("changes", "option", "message"),
    [
        ({"--calls": "0"}, "--calls", "greater than 0"),
        ({"--calls": "-5"}, "--calls", "greater than 0"),
        ({"--calls": "nan"}, "--calls", "greater than 0"),
        ({"--interval-seconds": "0"}, "--interval-seconds", "greater than 0"),
        ({"--aht-seconds": "-1"}, "--aht-seconds", "greater than 0"),
        ({"--aht-seconds": "inf"}, "--aht-seconds", "greater than 0"),
        ({"--answer-target-seconds": "0"}, "--answer-target-seconds", "greater than 0"),
        ({"--target-sl": "1"}, "--target-sl", "between 0 and 1"),
        ({"--target-sl": "0"}, "--target-sl", "between 0 and 1"),
        ({"--target-sl": "80"}, "--target-sl", "between 0 and 1"),
        ({"--patience-seconds": "0"}, "--patience-seconds", "greater than 0"),
        ({"--shrinkage": "0.95"}, "--shrinkage", "from 0 to 0.9"),
        ({"--shrinkage": "-0.1"}, "--shrinkage", "from 0 to 0.9"),
        ({"--calls": "many"}, "--calls", "not a valid float"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(changes: dict[str, str], option: str, message: str) -> None:
    values = dict(zip(CCH[::2], CCH[1::2], strict=True)) | {"--target-sl": "0.8"} | changes
    code, out, err = erlang(*[part for pair in values.items() for part in pair], "--json")
    assert code == 2
    assert out == ""
    assert option in err and message in err


def test_an_unreachable_target_exits_2() -> None:
    # 100,000 calls of 3 minutes in 30 minutes: 10,000 Erlangs, beyond the calculator's agents.
    code, out, err = erlang(
        "--calls", "100000", "--interval-seconds", "1800", "--aht-seconds", "180",
        "--answer-target-seconds", "20", "--target-sl", "0.8", "--json",
    )  # fmt: skip
    assert code == 2 and out == ""
    assert f"unreachable: no staffing up to {MAX_AGENTS} agents reaches the target" in err


def test_a_missing_option_exits_2() -> None:
    code, out, err = erlang("--calls", "100", "--json")
    assert code == 2 and out == "" and "--interval-seconds" in err


def test_the_installed_command_prints_one_json_object_and_exits_2_on_bad_input() -> None:
    """The real entry point, in a process of its own: stdout is exactly one JSON object."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.server.cli", "wfm", "erlang", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )

    done = run(*CCH, "--target-sl", "0.8", "--json")
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert output["required_agents"] == 14 and len(output["rows"]) == 7
    assert "required_staff" not in output  # only with --shrinkage
    refused = run(*CCH, "--target-sl", "1.5", "--json")
    assert refused.returncode == 2 and refused.stdout == "" and "--target-sl" in refused.stderr


# --- the question ---------------------------------------------------------------------------------------


def test_every_problem_is_listed_at_once() -> None:
    found = problems(
        calls=0,
        interval_seconds=-1,
        aht_seconds=math.inf,
        answer_target_seconds=20,
        target_sl=1.0,
        patience_seconds=-3,
        shrinkage=2,
    )
    assert set(found) == {"calls", "interval_seconds", "aht_seconds", "target_sl", "patience_seconds", "shrinkage"}
    with pytest.raises(ArgumentError) as raised:
        Question(100, 1800, 180, 20, 0.8, shrinkage=0.91)
    assert raised.value.field == "shrinkage"
    assert problems(calls=1, interval_seconds=1, aht_seconds=1, answer_target_seconds=1, target_sl=0.5) == {}


def test_typed_text_is_parsed_into_the_same_question() -> None:
    typed = {
        "calls": " 100 ",
        "interval_seconds": "1800",
        "aht_seconds": "180",
        "answer_target_seconds": "20",
        "target_sl": "0.8",
        "patience_seconds": "",
        "shrinkage": "0.3",
    }
    question, found = parse(typed)
    assert found == {} and question == Question(100, 1800, 180, 20, 0.8, None, 0.3)
    question, found = parse(typed | {"calls": "", "aht_seconds": "three", "target_sl": "1"})
    assert question is None
    assert found == {"calls": "required", "aht_seconds": "must be a number"}  # numbers first, then their ranges
    _, found = parse(typed | {"target_sl": "1", "patience_seconds": "-1"})
    assert set(found) == {"target_sl", "patience_seconds"}
