"""Report figures from summed rollups: service-level counts, averages and rates.

Ratios with nothing to divide by are None (shown as blank), never 0: "no calls" is not "0 % answered".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from app.reporting.engine.intervals import edge_index


@dataclasses.dataclass(frozen=True, slots=True)
class SlCounts:
    """What every service-level definition is computed from (waits measured from arrival).

    ``answered_within``/``abandoned_within``: waits shorter than the target; ``abandoned_short``: abandons
    with a wait shorter than the short-abandon threshold.
    """

    offered: int
    answered: int
    answered_within: int
    abandoned: int
    abandoned_within: int
    abandoned_short: int


def sl_counts(
    offered: int,
    answered_wait_hist: Sequence[int],
    abandoned_wait_hist: Sequence[int],
    target_seconds: float,
    short_abandon_seconds: float,
) -> SlCounts:
    """SlCounts from summed cumulative histograms; the target and threshold must be histogram edges."""
    target = edge_index(target_seconds)
    short = edge_index(short_abandon_seconds)
    return SlCounts(
        offered=offered,
        answered=answered_wait_hist[-1],
        answered_within=answered_wait_hist[target],
        abandoned=abandoned_wait_hist[-1],
        abandoned_within=abandoned_wait_hist[target],
        abandoned_short=abandoned_wait_hist[short],
    )


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def service_level(counts: SlCounts) -> float | None:
    """Answered within the target over answered and abandoned: the routing engine's own measure."""
    return ratio(counts.answered_within, counts.answered + counts.abandoned)
