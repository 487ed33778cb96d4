"""Forecast of contacts and handle time per 15-minute interval: a weekly seasonal index times a linear trend.

Pure (stdlib only). A `History` is a run of consecutive 15-minute intervals (aligned to the quarter hour,
UTC instants) with the contacts offered in each (by arrival) and the contacts handled in each with their
handle seconds (by end), as the reporting rollups count them.

The model, for each series y over the intervals, with t the interval's start in weeks since the first one
and slot(t) its 15-minute slot of the week in the tenant's time zone (672 slots, Monday 00:00 first):

    y(t) ~ (level + trend * t) * season[slot(t)],        the seasonal indices averaging 1,

fitted by weighted least squares: minimise sum w (y - (level + trend t) season[slot])^2. Only the line's
shape matters (scaling the line and dividing the indices by the same number changes nothing), so write it
by its values at the history's start and end, cos a and sin a for an angle a in [0, pi): every line up to
scale, a flat one, one rising from 0 or falling to 0, one crossing 0 within the history. For a given angle
each slot's level x index has a closed form (a one-variable least squares within the slot), so the sum of
squares left is a function of the angle alone (variable projection). It is minimised over a grid of 64
angles, then at the root of its derivative next to the best grid point (false position), to 1e-14. The
level is then the mean of the slots' level x index (so the indices average 1). A multiplicative season is
the usual choice for contact volumes: the daily peaks grow with the trend, and a slot that never has
contacts (a closed night) forecasts exactly 0.

- Volume: y = contacts offered in the interval, w = 1 for every interval (a quiet interval is a 0).
- AHT: y = the interval's mean handle time, w = the contacts handled in it, so busy intervals count for
  more and an interval where nothing was handled counts for nothing.

Limits, on purpose: the trend needs two weeks of history (with less, each slot is seen at most once and
any trend could hide in the indices, so the line is flat; the same when no slot has values at two
instants, as for a handle time measured once per slot); a slot of the week never seen takes the mean
index of the same time of day on the days that were seen (1, the level, when that time of day was never
seen either); forecasts below zero (a falling trend carried far, or a line that crossed 0 within the
history) are 0. Holidays and one-off events are not modelled: they show up in the held-out error.

Held-out error: the last `weeks` whole weeks of the history are kept out, the model is fitted on the rest
and forecasts them. Volume: WAPE = sum |actual - forecast| / sum actual; MAPE = the mean of
|actual - forecast| / actual over the intervals with contacts; bias = sum (forecast - actual) / sum actual
(above 0: over-forecast). AHT, weighted by the contacts handled in each interval (h): sum h |a - f| /
sum h a and sum h (f - a) / sum h a.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

INTERVAL = dt.timedelta(minutes=15)
INTERVAL_SECONDS = 900
SLOTS_PER_DAY = 96
SLOTS_PER_WEEK = 7 * SLOTS_PER_DAY
_WEEK_SECONDS = 7 * 86_400.0
_ANGLES = 64  # the grid of the line's shapes: a step of under 3 degrees
_ROOT_STEPS = 100  # at most; it stops when the bracket is narrower than _ANGLE_TOLERANCE
_ANGLE_TOLERANCE = 1e-14


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def check_interval_start(start: dt.datetime) -> None:
    """An aware instant on a quarter hour (UTC)."""
    _check(start.tzinfo is not None and start.utcoffset() is not None, "interval starts must be timezone-aware")
    _check(start.timestamp() % INTERVAL_SECONDS == 0, f"{start.isoformat()} is not on a 15-minute boundary")


def interval_starts(start: dt.datetime, count: int) -> list[dt.datetime]:
    return [start + i * INTERVAL for i in range(count)]


def slot_of_week(start: dt.datetime, zone: zoneinfo.ZoneInfo) -> int:
    """0 for Monday 00:00-00:15 local time, up to 671 for Sunday 23:45-24:00."""
    local = start.astimezone(zone)
    return local.weekday() * SLOTS_PER_DAY + local.hour * 4 + local.minute // 15


@dataclass(frozen=True, slots=True)
class History:
    """Consecutive 15-minute intervals from ``start``: contacts offered, contacts handled and their handle time."""

    start: dt.datetime
    calls: tuple[float, ...]  # offered, by the interval of arrival
    handled: tuple[float, ...]  # by the interval of the end
    handle_seconds: tuple[float, ...]  # talk + hold + wrap-up of the contacts handled in the interval
    timezone: str = "UTC"  # where the weekly pattern lives (a Monday morning is the tenant's)

    def __post_init__(self) -> None:
        check_interval_start(self.start)
        _zone(self.timezone)
        _check(
            len(self.calls) == len(self.handled) == len(self.handle_seconds),
            "calls, handled and handle_seconds must have one value per interval",
        )
        for name, values in (("calls", self.calls), ("handled", self.handled), ("handle_seconds", self.handle_seconds)):
            _check(all(math.isfinite(v) and v >= 0 for v in values), f"{name} must be finite numbers >= 0")

    @property
    def aht_seconds(self) -> tuple[float | None, ...]:
        """Each interval's mean handle time (None: nothing handled in it)."""
        return tuple(s / h if h > 0 else None for h, s in zip(self.handled, self.handle_seconds, strict=True))

    def __len__(self) -> int:
        return len(self.calls)

    @property
    def end(self) -> dt.datetime:
        return self.start + len(self) * INTERVAL

    def split(self, at: int) -> tuple[History, History]:
        """The first ``at`` intervals and the rest."""
        later = self.start + at * INTERVAL
        return (
            History(self.start, self.calls[:at], self.handled[:at], self.handle_seconds[:at], self.timezone),
            History(later, self.calls[at:], self.handled[at:], self.handle_seconds[at:], self.timezone),
        )


@dataclass(frozen=True, slots=True)
class SeasonalTrend:
    """(level + trend_per_week * weeks since origin) * season[slot of the week], never below 0."""

    origin: dt.datetime
    level: float
    trend_per_week: float
    season: tuple[float, ...]  # SLOTS_PER_WEEK indices averaging 1
    timezone: str

    def value(self, start: dt.datetime) -> float:
        weeks = (start - self.origin).total_seconds() / _WEEK_SECONDS
        line = self.level + self.trend_per_week * weeks
        return max(0.0, line * self.season[slot_of_week(start, _zone(self.timezone))])

    def weekly_mean(self, start: dt.datetime) -> float:
        """The trend line at ``start``: the mean value per interval over a week around it."""
        return self.level + self.trend_per_week * (start - self.origin).total_seconds() / _WEEK_SECONDS


@dataclass(frozen=True, slots=True)
class IntervalForecast:
    start: dt.datetime
    calls: float
    aht_seconds: float | None  # None: no handled contact in the history to learn from


@dataclass(frozen=True, slots=True)
class Model:
    volume: SeasonalTrend
    aht: SeasonalTrend | None  # None: nothing handled in the history

    def predict(self, start: dt.datetime, count: int) -> tuple[IntervalForecast, ...]:
        check_interval_start(start)
        _check(count >= 0, "count must be >= 0")
        return tuple(
            IntervalForecast(at, self.volume.value(at), self.aht.value(at) if self.aht is not None else None)
            for at in interval_starts(start, count)
        )


@dataclass(frozen=True, slots=True)
class HeldOutError:
    weeks: int
    intervals: int
    actual_calls: float
    forecast_calls: float
    wape: float | None  # None when the held-out weeks had no contacts
    mape: float | None
    bias: float | None
    aht_wape: float | None  # None when nothing was handled in them (or the model had no AHT to offer)
    aht_bias: float | None


@dataclass(frozen=True, slots=True)
class Forecast:
    model: Model
    intervals: tuple[IntervalForecast, ...]
    held_out: HeldOutError | None  # None: too little history to keep weeks out


# --- fitting -------------------------------------------------------------------------------------------


class _Slot(NamedTuple):
    """The weighted sums the least squares needs for one slot of the week with weight, times t in units of the
    history's span (0 at its start, 1 at its end): with them each evaluation costs one pass over at most 672
    slots, however long the history."""

    of_week: int  # the slot of the week (0-671)
    weight: float  # W = sum w
    mean_time: float  # m = sum w t / W
    spread: float  # V = sum w (t - m)^2: exactly 0 for a slot with weight at one instant only
    value: float  # Y = sum w y
    value_time: float  # YT = sum w y t

    def fit(self, start: float, rise: float) -> tuple[float, float]:
        """(sum w y L, sum w L^2) for the line L(t) = start + rise t. The second as W (start + rise m)^2 +
        rise^2 V: two terms >= 0, where expanding the square would cancel when the line nears 0 in the slot."""
        at_mean = start + rise * self.mean_time
        return start * self.value + rise * self.value_time, self.weight * at_mean * at_mean + rise * rise * self.spread


def _slot_sums(
    times: Sequence[float], slots: Sequence[int], values: Sequence[float], weights: Sequence[float]
) -> list[_Slot]:
    """The sums of each slot of the week with weight, in the slots' order."""
    weight, mean, spread, value, value_time = ([0.0] * SLOTS_PER_WEEK for _ in range(5))
    for t, k, y, w in zip(times, slots, values, weights, strict=True):
        if w:
            # The weighted running mean and spread (West): no cancellation, and a spread of exactly 0 for a
            # slot seen once, which the line's shape must then leave alone (see fit_seasonal_trend).
            weight[k] += w
            delta = t - mean[k]
            mean[k] += delta * (w / weight[k])
            spread[k] += w * delta * (t - mean[k])
            value[k] += w * y
            value_time[k] += w * y * t
    return [
        _Slot(k, weight[k], mean[k], spread[k], value[k], value_time[k]) for k in range(SLOTS_PER_WEEK) if weight[k] > 0
    ]


def _line(angle: float) -> tuple[float, float]:
    """The line worth cos(angle) at the history's start and sin(angle) at its end, as (start, rise)."""
    start, end = math.cos(angle), math.sin(angle)
    return start, end - start


def _explained(sums: Sequence[_Slot], angle: float) -> float:
    """sum over slots of (sum w y L)^2 / sum w L^2: the sum of squares the fit removes with the line at ``angle``."""
    start, rise = _line(angle)
    fits = [slot.fit(start, rise) for slot in sums]
    return math.fsum(fitted * fitted / square for fitted, square in fits)


def _slope(sums: Sequence[_Slot], angle: float) -> float:
    """d/d(angle) of ``_explained``: zero at the fit."""
    start, rise = _line(angle)
    start_turn, rise_turn = -math.sin(angle), math.cos(angle) + math.sin(angle)  # d/d(angle) of start and rise
    terms = []
    for slot in sums:
        fitted, square = slot.fit(start, rise)
        index = fitted / square
        fitted_turn = start_turn * slot.value + rise_turn * slot.value_time
        square_turn = 2 * (
            (start_turn + rise_turn * slot.mean_time) * slot.weight * (start + rise * slot.mean_time)
            + rise_turn * rise * slot.spread
        )
        terms.append(index * (2 * fitted_turn - index * square_turn))
    return math.fsum(terms)


def _best_line(sums: Sequence[_Slot]) -> tuple[float, float]:
    """The (start, rise) of the least squares (see the module docstring), for slots each seen at two instants
    or more: then every sum w L^2 is above 0, whatever the line."""
    step = math.pi / _ANGLES
    grid = [i * step for i in range(_ANGLES)]
    scores = [_explained(sums, angle) for angle in grid]
    best = grid[max(range(_ANGLES), key=scores.__getitem__)]
    # A line and its opposite fit alike (the indices change sign): the angles go round, and the neighbours of
    # 0 are -step and step.
    low, high = best - step, best + step
    rising, falling = _slope(sums, low), _slope(sums, high)
    if rising <= 0 or falling >= 0:
        return _line(best)  # the explained sum wiggles within a grid step (weight piled on few instants)
    # The explained sum rises then falls around its maximum: the root of its slope, by false position with
    # the Illinois step (the end that stays put has its value halved), which keeps the bracket and
    # converges superlinearly where bisection would need some fifty steps.
    kept = 0
    for _ in range(_ROOT_STEPS):
        middle = high - falling * (high - low) / (falling - rising)
        if not low < middle < high:
            middle = (low + high) / 2
        value = _slope(sums, middle)
        if value > 0:
            low, rising = middle, value
            falling, kept = (falling / 2, kept) if kept == 1 else (falling, 1)
        elif value < 0:
            high, falling = middle, value
            rising, kept = (rising / 2, kept) if kept == -1 else (rising, -1)
        else:
            return _line(middle)
        if high - low <= _ANGLE_TOLERANCE:
            break
    return _line((low + high) / 2)


def _fill(season: list[float | None]) -> list[float]:
    """Slots never seen: the mean index of that time of day over the days seen, else 1."""
    by_time: list[list[float]] = [[] for _ in range(SLOTS_PER_DAY)]
    for slot, index in enumerate(season):
        if index is not None:
            by_time[slot % SLOTS_PER_DAY].append(index)
    means = [math.fsum(seen) / len(seen) if seen else 1.0 for seen in by_time]
    return [index if index is not None else means[slot % SLOTS_PER_DAY] for slot, index in enumerate(season)]


def fit_seasonal_trend(
    starts: Sequence[dt.datetime],
    values: Sequence[float],
    weights: Sequence[float],
    *,
    origin: dt.datetime,
    timezone: str,
) -> SeasonalTrend | None:
    """The least-squares seasonal index times linear trend (see the module docstring); None without weight."""
    zone = _zone(timezone)
    times = [(at - origin).total_seconds() / _WEEK_SECONDS for at in starts]
    seen = [t for t, w in zip(times, weights, strict=True) if w > 0]
    if not seen:
        return None
    span = max(seen) + 1 / SLOTS_PER_WEEK  # in weeks, to the end of the last weighted interval
    sums = _slot_sums([t / span for t in times], [slot_of_week(at, zone) for at in starts], values, weights)
    flat = SeasonalTrend(origin, 0.0, 0.0, tuple([1.0] * SLOTS_PER_WEEK), timezone)
    if math.fsum(slot.value for slot in sums) == 0:
        return flat  # nothing but zeros
    # The line's shape is told from the season only by slots with values at two instants or more (a slot seen
    # once is fitted exactly by its index, whatever the line), and over two weeks at least between the first
    # and the last weighted interval; otherwise it is flat.
    shaping = [slot for slot in sums if slot.spread > 0 and slot.value > 0]
    long_enough = max(seen) - min(seen) >= 2 - 1 / SLOTS_PER_WEEK
    start, rise = _best_line(shaping) if long_enough and shaping else (1.0, 0.0)
    scaled: list[float | None] = [None] * SLOTS_PER_WEEK
    for slot in sums:
        fitted, square = slot.fit(start, rise)
        # square is 0 only for a slot seen once exactly where the line is 0: any index fits it as well, 0 does.
        scaled[slot.of_week] = fitted / square if square else 0.0
    known = [c for c in scaled if c is not None]
    mean = math.fsum(known) / len(known)
    if mean == 0:
        return flat  # the indices cancel out: none averaging 1 describes them
    # Dividing by the mean (of either sign) makes the indices average 1 and leaves the product unchanged.
    season = [c / mean if c is not None else None for c in scaled]
    return SeasonalTrend(origin, mean * start, mean * rise / span, tuple(_fill(season)), timezone)


def fit(history: History) -> Model:
    """The volume and AHT models of a history (an empty history forecasts no contacts)."""
    starts = interval_starts(history.start, len(history))
    volume = fit_seasonal_trend(
        starts, history.calls, [1.0] * len(history), origin=history.start, timezone=history.timezone
    )
    aht = fit_seasonal_trend(
        starts,
        [a or 0.0 for a in history.aht_seconds],
        history.handled,
        origin=history.start,
        timezone=history.timezone,
    )
    if volume is None:  # no interval at all
        volume = SeasonalTrend(history.start, 0.0, 0.0, tuple([1.0] * SLOTS_PER_WEEK), history.timezone)
    return Model(volume=volume, aht=aht)


# --- evaluation ----------------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def score(actual: History, predicted: Sequence[IntervalForecast]) -> HeldOutError:
    """The errors of ``predicted`` against ``actual``, interval by interval (see the module docstring)."""
    _check(len(predicted) == len(actual), "one forecast per actual interval")
    calls = actual.calls
    forecast_calls = [p.calls for p in predicted]
    total = math.fsum(calls)
    relative = [abs(a - f) / a for a, f in zip(calls, forecast_calls, strict=True) if a > 0]
    handled = [
        (h, s / h, p.aht_seconds)
        for h, s, p in zip(actual.handled, actual.handle_seconds, predicted, strict=True)
        if h > 0 and p.aht_seconds is not None
    ]
    handled_work = math.fsum(h * a for h, a, _ in handled)
    return HeldOutError(
        weeks=len(actual) // SLOTS_PER_WEEK,
        intervals=len(actual),
        actual_calls=total,
        forecast_calls=math.fsum(forecast_calls),
        wape=_ratio(math.fsum(abs(a - f) for a, f in zip(calls, forecast_calls, strict=True)), total),
        mape=math.fsum(relative) / len(relative) if relative else None,
        bias=_ratio(math.fsum(f - a for a, f in zip(calls, forecast_calls, strict=True)), total),
        aht_wape=_ratio(math.fsum(h * abs(a - f) for h, a, f in handled), handled_work),
        aht_bias=_ratio(math.fsum(h * (f - a) for h, a, f in handled), handled_work),
    )


def held_out_error(history: History, weeks: int = 1) -> HeldOutError | None:
    """Fit on all but the last ``weeks`` weeks and score the forecast of those; None with under weeks + 1 weeks."""
    _check(weeks >= 1, "weeks must be >= 1")
    kept = weeks * SLOTS_PER_WEEK
    if len(history) < kept + SLOTS_PER_WEEK:
        return None
    training, held = history.split(len(history) - kept)
    return score(held, fit(training).predict(held.start, len(held)))


def forecast(history: History, start: dt.datetime, count: int, *, holdout_weeks: int = 1) -> Forecast:
    """``count`` intervals from ``start`` by the model fitted on the whole history, and its held-out error
    (``holdout_weeks`` 0: not measured)."""
    _check(holdout_weeks >= 0, "holdout_weeks must be >= 0")
    model = fit(history)
    held_out = held_out_error(history, holdout_weeks) if holdout_weeks else None
    return Forecast(model=model, intervals=model.predict(start, count), held_out=held_out)
