"""The Erlang calculator: one staffing question, checked the same way wherever it is asked, and its answer.

`tenline wfm erlang` and the calculator page both build a `Question` from what was typed, so they accept
and refuse exactly the same values; `problems` lists every problem at once (a form shows each next to its
field), and `Question(...)` raises the first as `ArgumentError` (the command line stops on it, exit 2).

The answer: the offered load, the fewest agents whose service level within T reaches the target, the
staff to schedule for them after shrinkage (when a shrinkage is given), and a table of the figures for
every agent count from the fewest the model accepts (more agents than Erlangs for Erlang C, one for
Erlang A) up to three past the requirement. Without patience the model is Erlang C; with it, Erlang A.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from app.workforce.erlang import (
    MAX_SHRINKAGE,
    Staffing,
    Workload,
    evaluate,
    minimum_agents,
    required_agents,
    required_staff,
)

# One queue needing more is beyond a calculator: the table of such an Erlang A question (every count
# from one agent up) takes seconds per thousand rows.
MAX_AGENTS = 1000
EXTRA_ROWS = 3

Field = Literal[
    "calls", "interval_seconds", "aht_seconds", "answer_target_seconds", "target_sl", "patience_seconds", "shrinkage"
]
FIELDS: tuple[Field, ...] = (
    "calls",
    "interval_seconds",
    "aht_seconds",
    "answer_target_seconds",
    "target_sl",
    "patience_seconds",
    "shrinkage",
)
_POSITIVE = "must be a number greater than 0"


class ArgumentError(ValueError):
    """A question the calculator cannot answer; ``field`` names the value at fault (None: the whole question)."""

    def __init__(self, field: Field | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def problems(
    *,
    calls: float,
    interval_seconds: float,
    aht_seconds: float,
    answer_target_seconds: float,
    target_sl: float,
    patience_seconds: float | None = None,
    shrinkage: float | None = None,
) -> dict[Field, str]:
    """Every value at fault, with what it must be (empty: a question the calculator takes)."""
    positive: tuple[tuple[Field, float], ...] = (
        ("calls", calls),
        ("interval_seconds", interval_seconds),
        ("aht_seconds", aht_seconds),
        ("answer_target_seconds", answer_target_seconds),
    )
    found: dict[Field, str] = {name: _POSITIVE for name, value in positive if not _positive(value)}
    if not (0 < target_sl < 1):  # also refuses NaN
        found["target_sl"] = "must be a fraction between 0 and 1, both excluded (0.8 for 80 %)"
    if patience_seconds is not None and not _positive(patience_seconds):
        found["patience_seconds"] = _POSITIVE + " (leave it out for callers who never hang up)"
    if shrinkage is not None and not (0 <= shrinkage <= MAX_SHRINKAGE):
        found["shrinkage"] = f"must be a fraction from 0 to {MAX_SHRINKAGE} (0.3 for 30 %)"
    return found


@dataclass(frozen=True, slots=True)
class Question:
    calls: float  # offered in the interval
    interval_seconds: float
    aht_seconds: float
    answer_target_seconds: float  # T
    target_sl: float  # X: the share to answer within T, a fraction
    patience_seconds: float | None = None  # mean patience; None: Erlang C
    shrinkage: float | None = None

    def __post_init__(self) -> None:
        found = problems(
            calls=self.calls,
            interval_seconds=self.interval_seconds,
            aht_seconds=self.aht_seconds,
            answer_target_seconds=self.answer_target_seconds,
            target_sl=self.target_sl,
            patience_seconds=self.patience_seconds,
            shrinkage=self.shrinkage,
        )
        if found:
            field, message = next(iter(found.items()))
            raise ArgumentError(field, message)

    @property
    def workload(self) -> Workload:
        return Workload(self.calls, self.interval_seconds, self.aht_seconds, self.patience_seconds)


OPTIONAL: frozenset[Field] = frozenset({"patience_seconds", "shrinkage"})


def parse(values: Mapping[str, str]) -> tuple[Question | None, dict[Field, str]]:
    """A question from typed text (a form): the question, or every problem, by field."""
    numbers: dict[Field, float | None] = {}
    found: dict[Field, str] = {}
    for name in FIELDS:
        text = values.get(name, "").strip()
        if not text:
            numbers[name] = None
            if name not in OPTIONAL:
                found[name] = "required"
            continue
        try:
            numbers[name] = float(text)
        except ValueError:
            found[name] = "must be a number"
    if found:
        return None, found

    def number(name: Field) -> float:
        value = numbers[name]
        assert value is not None  # a required field, checked above
        return value

    question = {
        "calls": number("calls"),
        "interval_seconds": number("interval_seconds"),
        "aht_seconds": number("aht_seconds"),
        "answer_target_seconds": number("answer_target_seconds"),
        "target_sl": number("target_sl"),
    }
    patience, shrinkage = numbers["patience_seconds"], numbers["shrinkage"]
    found = problems(**question, patience_seconds=patience, shrinkage=shrinkage)
    if found:
        return None, found
    return Question(**question, patience_seconds=patience, shrinkage=shrinkage), {}


@dataclass(frozen=True, slots=True)
class Answer:
    question: Question
    model: Literal["erlang_c", "erlang_a"]
    load_erlangs: float
    required_agents: int
    required_staff: int | None  # None: no shrinkage given
    rows: tuple[Staffing, ...]


def answer(question: Question) -> Answer:
    """Required agents (and staff) and the table; ``ArgumentError`` when no staffing up to MAX_AGENTS will do."""
    workload = question.workload
    try:
        agents = required_agents(workload, question.answer_target_seconds, question.target_sl, max_agents=MAX_AGENTS)
        rows = tuple(
            evaluate(workload, count, question.answer_target_seconds)
            for count in range(minimum_agents(workload), agents + EXTRA_ROWS + 1)
        )
    except ValueError as exc:  # unreachable, or a patience too long for the overload to solve
        raise ArgumentError(None, str(exc)) from None
    return Answer(
        question=question,
        model="erlang_c" if question.patience_seconds is None else "erlang_a",
        load_erlangs=workload.load,
        required_agents=agents,
        required_staff=None if question.shrinkage is None else required_staff(agents, question.shrinkage),
        rows=rows,
    )


def row_figures(row: Staffing) -> dict[str, float]:
    """One row as the command line's JSON and the page show it."""
    return {
        "agents": row.agents,
        "p_wait": row.p_wait,
        "service_level": row.service_level,
        "asa_seconds": row.asa_seconds,
        "occupancy": row.occupancy,
    }


def answer_json(result: Answer) -> dict[str, object]:
    """The command line's one JSON object: required_agents and rows, with the model, load and staff beside them."""
    output: dict[str, object] = {
        "model": result.model,
        "load_erlangs": result.load_erlangs,
        "required_agents": result.required_agents,
        "rows": [row_figures(row) for row in result.rows],
    }
    if result.required_staff is not None:
        output["shrinkage"] = result.question.shrinkage
        output["required_staff"] = result.required_staff
    return output
