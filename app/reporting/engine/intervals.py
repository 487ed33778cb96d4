"""Time in 15-minute intervals (aligned in UTC) and waits in fixed histogram buckets.

Durations are integer microseconds inside the core, so sums are exact whatever the order they are added
in: incremental maintenance and a rebuild from the log reach the same figures to the microsecond.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence

INTERVAL = dt.timedelta(minutes=15)
INTERVAL_MICROS = 15 * 60 * 1_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)

# Edges in seconds: every 5 s up to 5 minutes, then coarser up to an hour, then everything.
WAIT_EDGES: tuple[float, ...] = (
    *(float(s) for s in range(0, 301, 5)),
    360.0,
    420.0,
    480.0,
    540.0,
    600.0,
    900.0,
    1200.0,
    1800.0,
    3600.0,
    math.inf,
)
HISTOGRAM_SIZE = len(WAIT_EDGES)
_EDGE_MICROS = tuple(math.inf if edge == math.inf else int(edge) * 1_000_000 for edge in WAIT_EDGES)


def micros(delta: dt.timedelta) -> int:
    return delta // _MICRO


def interval_start(at: dt.datetime) -> dt.datetime:
    """The start of the 15-minute interval (UTC-aligned) holding ``at``."""
    since_epoch = micros(at - _EPOCH)
    return _EPOCH + dt.timedelta(microseconds=since_epoch - since_epoch % INTERVAL_MICROS)


def split_by_interval(start: dt.datetime, end: dt.datetime) -> Iterator[tuple[dt.datetime, int]]:
    """(interval start, microseconds of [start, end) in it) for each interval the span touches."""
    current = start
    while current < end:
        bucket = interval_start(current)
        stop = min(end, bucket + INTERVAL)
        yield bucket, micros(stop - current)
        current = stop


def edge_index(seconds: float) -> int:
    """The position of an edge in ``WAIT_EDGES``; a target that is not an edge is refused."""
    try:
        return WAIT_EDGES.index(float(seconds))
    except ValueError:
        coarse = ", ".join(f"{edge:g}" for edge in WAIT_EDGES[61:-1])
        raise ValueError(f"{seconds:g} s is not a wait histogram edge (0 to 300 s by 5 s, then {coarse})") from None


def edge_at_or_below(seconds: float) -> int:
    """The position of the largest edge not above ``seconds``: a queue's own answer target, as measured."""
    return max(index for index, edge in enumerate(WAIT_EDGES) if edge <= seconds)


def empty_histogram() -> list[int]:
    return [0] * HISTOGRAM_SIZE


def count_wait(histogram: list[int], wait_micros: int) -> None:
    """Histograms are cumulative: entry i counts the waits shorter than ``WAIT_EDGES[i]``."""
    for index, edge in enumerate(_EDGE_MICROS):
        if wait_micros < edge:
            histogram[index] += 1


def add_histograms(total: list[int], more: Sequence[int]) -> None:
    for index, count in enumerate(more):
        total[index] += count
