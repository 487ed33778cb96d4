"""Live evaluation of a target over its window: the value so far, the projected end-of-window value, a state.

Projection. With ``n / d`` so far in the window, the window's rest is expected to bring ``V`` more
contacts (in the measure's denominator) at the recent ratio ``r``::

    V = recent denominator / recent open seconds * open seconds left in the window
    r = recent numerator / recent denominator   (the ratio so far when the recent span is empty)
    projected = (n + r * V) / (d + V)

"Recent" is the current 15-minute interval and the one before it (up to now), so a projection early in a
window still rests on a quarter of an hour of traffic; "open seconds" are the seconds the target counts
(business hours only, when the contract says so). A closed window's projection is its final value.

States, in this order:

- ``no_data``: nothing to measure (no contacts in the denominator, so far or expected), or a measure with
  no source yet;
- closed window: ``met`` if the final value meets the goal, else ``breached``;
- ``breached``: the goal can no longer be met even if every contact of the expected rest goes perfectly
  (for a share at least X: ``(n + V) / (d + V) < X``; for a maximum: ``n / (d + V) > max``);
- ``at_risk``: the projection misses the goal, or the value so far misses it on at least ``MIN_VOLUME``
  contacts;
- ``met``: on track.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.sla.engine.measures import Ratio
from app.sla.engine.windows import INTERVAL, INTERVAL_SECONDS, Window, interval_start, interval_starts

# Contacts the value so far must rest on before it alone puts a target at risk.
MIN_VOLUME = 20


class State(enum.StrEnum):
    MET = "met"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class Goal:
    """The values that meet a target: at least ``minimum`` and at most ``maximum`` (None: no bound)."""

    minimum: float | None = None
    maximum: float | None = None

    def holds(self, value: float) -> bool:
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a window stands at an instant: its sums so far, the recent sums, and the open time around now."""

    so_far: Ratio
    recent: Ratio
    recent_seconds: float
    remaining_seconds: float
    closed: bool


@dataclass(frozen=True, slots=True)
class Assessment:
    value: float | None
    projected: float | None
    state: State
    volume: float  # the denominator so far
    expected_rest: float  # V: the denominator the rest of the window is expected to add


def project(progress: Progress) -> tuple[float | None, float]:
    """The projected end-of-window value and the expected rest volume ``V`` (see the module docstring)."""
    so_far = progress.so_far
    if progress.closed or progress.recent_seconds <= 0:
        return so_far.value, 0.0
    rest_volume = progress.recent.denominator / progress.recent_seconds * progress.remaining_seconds
    rest_ratio = progress.recent.value if progress.recent.value is not None else so_far.value
    if rest_ratio is None:
        return so_far.value, rest_volume
    total = so_far.denominator + rest_volume
    return (so_far.numerator + rest_ratio * rest_volume) / total if total > 0 else None, rest_volume


def _out_of_reach(progress: Progress, goal: Goal, rest_volume: float, share: bool) -> bool:
    """Whether the goal is missed even if every expected remaining contact goes perfectly."""
    n, d = progress.so_far.numerator, progress.so_far.denominator
    total = d + rest_volume
    if total <= 0:
        return False
    if goal.maximum is not None and n / total > goal.maximum:
        return True
    # Only a share has a best case above: a contact adds at most 1 to it (seconds have no ceiling).
    return share and goal.minimum is not None and (n + rest_volume) / total < goal.minimum


def assess(progress: Progress, goal: Goal, *, share: bool, min_volume: int = MIN_VOLUME) -> Assessment:
    """The state of one target in one window (rules in the module docstring). ``share``: the measure is a share."""
    value = progress.so_far.value
    projected, rest_volume = project(progress)
    volume = progress.so_far.denominator

    def result(state: State) -> Assessment:
        return Assessment(value, projected, state, volume, rest_volume)

    if projected is None:
        return result(State.NO_DATA)
    if progress.closed:
        return result(State.MET if goal.holds(projected) else State.BREACHED)
    if _out_of_reach(progress, goal, rest_volume, share):
        return result(State.BREACHED)
    if not goal.holds(projected) or (value is not None and volume >= min_volume and not goal.holds(value)):
        return result(State.AT_RISK)
    return result(State.MET)


def no_data() -> Assessment:
    """The assessment of a measure nothing feeds yet."""
    return Assessment(None, None, State.NO_DATA, 0.0, 0.0)


def progress_of(
    window: Window,
    now: dt.datetime,
    by_interval: Mapping[dt.datetime, Ratio],
    counts: Callable[[dt.datetime], bool],
) -> Progress:
    """A window's progress at ``now`` from its measure per 15-minute interval (keyed by interval start).

    ``counts(interval start)`` says whether an interval counts for the target (its business hours); the
    current interval counts for the part of it already past, the recent span for its open seconds up to now.
    """
    closed = now >= window.end
    so_far = sum(
        (
            by_interval.get(start, Ratio())
            for start in interval_starts(window.start, min(now, window.end))
            if counts(start)
        ),
        Ratio(),
    )
    current = interval_start(now)
    recent_starts = [start for start in (current - INTERVAL, current) if counts(start)]
    recent = sum((by_interval.get(start, Ratio()) for start in recent_starts), Ratio())
    recent_seconds = sum(min(INTERVAL_SECONDS, (now - start).total_seconds()) for start in recent_starts)
    remaining = 0.0
    if not closed:
        for start in interval_starts(now, window.end):
            if counts(start):
                remaining += (min(start + INTERVAL, window.end) - max(start, now)).total_seconds()
    return Progress(so_far, recent, recent_seconds, remaining, closed)
