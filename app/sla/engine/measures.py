"""What a window's contacts add up to, and each contract measure as a ratio of two sums (pure).

Every measure is ``numerator / denominator`` over the contacts of a window, so windows, business-hours
filters and projections treat them all alike: sums of 15-minute intervals added up, never averages of
averages.

Service level, the three definitions in use (a contract picks one; T is its answer target):

1. ``answered``: answered within T / answered. Abandoned contacts are left out altogether.
2. ``answered_and_abandoned``: (answered within T + abandoned within T) / (answered + abandoned). A
   caller who gave up before T counts as served in time; one who gave up later counts as a miss.
3. ``offered_less_short_abandons``: answered within T / (offered - abandoned within the short-abandon
   threshold). Every contact counts against the target (also those removed by a queue's rules), except
   callers who hung up within a few seconds (misdials, IVR slips).

The other measures: abandonment rate = (abandoned - short abandons) / (offered - short abandons); ASA =
seconds waited by answered contacts / answered; AHT = handle seconds (talk + hold + wrap-up) / handled;
first contact resolution = resolved / handled. Customer satisfaction and the serious-error rate have no
source yet: they read as "no data".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any, TypeVar


class Definition(enum.StrEnum):
    """The service-level definition a contract is measured by (see the module docstring)."""

    ANSWERED = "answered"
    ANSWERED_AND_ABANDONED = "answered_and_abandoned"
    OFFERED_LESS_SHORT_ABANDONS = "offered_less_short_abandons"


class Measure(enum.StrEnum):
    SERVICE_LEVEL = "service_level"
    ABANDONMENT_RATE = "abandonment_rate"
    ASA = "asa"
    AHT = "aht"
    FCR = "fcr"
    CSAT = "csat"
    SERIOUS_ERROR_RATE = "serious_error_rate"


# Measures that are shares of contacts (each contact adds at most 1 to the numerator); the others are seconds.
SHARES = frozenset(
    {Measure.SERVICE_LEVEL, Measure.ABANDONMENT_RATE, Measure.FCR, Measure.CSAT, Measure.SERIOUS_ERROR_RATE}
)
# Measures nothing feeds yet (surveys, quality evaluations): always "no data".
WITHOUT_SOURCE = frozenset({Measure.CSAT, Measure.SERIOUS_ERROR_RATE})


@dataclass(frozen=True, slots=True)
class SlCounts:
    """Arrival-based counts of the contacts that arrived in a span, for one answer target T.

    ``answered_within``: answered with a wait < T; ``abandoned_within``: abandoned after a wait < T;
    ``abandoned_short``: abandoned after a wait < the short-abandon threshold.
    """

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    abandoned_within: int = 0
    abandoned_short: int = 0

    def __add__(self, other: SlCounts) -> SlCounts:
        return _sum(self, other)


@dataclass(frozen=True, slots=True)
class WorkFigures:
    """What the contacts of a span cost: waits of the answered ones, handling and resolution of the handled ones.

    Waits count in the interval of arrival; handling (``handle_seconds`` = talk + hold + wrap-up) and
    ``resolved`` in the interval the contact ended in.
    """

    answered: int = 0
    answer_wait_seconds: float = 0.0
    handled: int = 0
    handle_seconds: float = 0.0
    resolved: int = 0

    def __add__(self, other: WorkFigures) -> WorkFigures:
        return _sum(self, other)


@dataclass(frozen=True, slots=True)
class Ratio:
    """``numerator / denominator``; no value while the denominator is zero."""

    numerator: float = 0.0
    denominator: float = 0.0

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator > 0 else None

    def __add__(self, other: Ratio) -> Ratio:
        return _sum(self, other)


_Summed = TypeVar("_Summed", SlCounts, WorkFigures, Ratio)


def _sum(first: _Summed, second: _Summed) -> _Summed:
    """Field by field: spans add up by adding their sums."""
    values: dict[str, Any] = {f.name: getattr(first, f.name) + getattr(second, f.name) for f in fields(first)}
    return type(first)(**values)


def service_level(counts: SlCounts, definition: Definition) -> Ratio:
    """The service level of ``counts`` by ``definition`` (see the module docstring)."""
    if definition is Definition.ANSWERED:
        return Ratio(counts.answered_within, counts.answered)
    if definition is Definition.ANSWERED_AND_ABANDONED:
        return Ratio(counts.answered_within + counts.abandoned_within, counts.answered + counts.abandoned)
    return Ratio(counts.answered_within, counts.offered - counts.abandoned_short)


def measure_ratio(measure: Measure, counts: SlCounts, work: WorkFigures, definition: Definition) -> Ratio | None:
    """The measure over one span as a ratio; None for the measures with no source yet."""
    if measure is Measure.SERVICE_LEVEL:
        return service_level(counts, definition)
    if measure is Measure.ABANDONMENT_RATE:
        return Ratio(counts.abandoned - counts.abandoned_short, counts.offered - counts.abandoned_short)
    if measure is Measure.ASA:
        return Ratio(work.answer_wait_seconds, work.answered)
    if measure is Measure.AHT:
        return Ratio(work.handle_seconds, work.handled)
    if measure is Measure.FCR:
        return Ratio(work.resolved, work.handled)
    return None


@dataclass(frozen=True, slots=True)
class EngineAttainment:
    """The routing engine's counters (``app.routing.commands.AttainmentUpdate``), which it reads as
    ``answered_within_target / (answered + abandoned)``."""

    answered: int
    answered_within_target: int
    abandoned: int


def engine_attainment(counts: SlCounts, definition: Definition) -> EngineAttainment:
    """The contract's service level in the engine's terms: the engine's formula gives exactly ``service_level``.

    1 drops the abandons; 2 counts abandons within T as served; 3 puts every offered contact but the answered
    and the short abandons in the engine's "abandoned" (abandons, removals, contacts still waiting), so its
    denominator is offered - short abandons.
    """
    if definition is Definition.ANSWERED:
        return EngineAttainment(counts.answered, counts.answered_within, 0)
    if definition is Definition.ANSWERED_AND_ABANDONED:
        return EngineAttainment(counts.answered, counts.answered_within + counts.abandoned_within, counts.abandoned)
    return EngineAttainment(
        counts.answered, counts.answered_within, counts.offered - counts.answered - counts.abandoned_short
    )
