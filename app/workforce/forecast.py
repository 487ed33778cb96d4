"""Forecast of contacts and handle time per 15-minute interval: a weekly seasonal index times a linear trend.

Pure (stdlib only). A `History` is a run of consecutive 15-minute intervals (aligned to the quarter hour,
UTC instants) with the contacts offered in each (by arrival) and the contacts handled in each with their
handle seconds (by end), as the reporting rollups count them.

The model, for each series y over the intervals, with t the interval's start in weeks since the first one
and slot(t) its 15-minute slot of the week in the tenant's time zone (672 slots, Monday 00:00 first):

    y(t) ~ (level + trend * t) * season[slot(t)],        the seasonal indices averaging 1,

fitted by weighted least squares: minimise sum w (y - (level + trend t) season[slot])^2. Write the line
as level (1 + r t): for a given ratio r each slot's level x index has a closed form (a one-variable least
squares within the slot), so the sum of squares left is a function of r alone (variable projection). It
is minimised over the ratios that keep the line positive across the history: a grid of end/start ratios
from e^-4 to e^4, then the root of its derivative next to the best grid point (false position), to
1e-14. The level is then the mean of the slots' level x index (so the indices average 1). A
multiplicative season is the usual choice for contact volumes: the daily peaks grow with the trend, and
a slot that never has contacts (a closed night) forecasts exactly 0.

- Volume: y = contacts offered in the interval, w = 1 for every interval (a quiet interval is a 0).
- AHT: y = the interval's mean handle time, w = the contacts handled in it, so busy intervals count for
  more and an interval where nothing was handled counts for nothing.

Limits, on purpose: the trend needs two weeks of history (with less, each slot is seen at most once and
any trend could hide in the indices, so the line is flat); a slot of the week never seen takes the mean
index of the same time of day on the days that were seen (1, the level, when that time of day was never
seen either); forecasts below zero (a falling trend carried far) are 0. Holidays and one-off events are
not modelled: they show up in the held-out error.

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

INTERVAL = dt.timedelta(minutes=15)
INTERVAL_SECONDS = 900
SLOTS_PER_DAY = 96
SLOTS_PER_WEEK = 7 * SLOTS_PER_DAY
_WEEK_SECONDS = 7 * 86_400.0
_RATIO_GRID = [i / 4 for i in range(-16, 17)]  # log of the line's end/start ratio over the history
_ROOT_STEPS = 100  # at most; it stops when the bracket is narrower than 1e-14 of the ratios' scale


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


@dataclass(frozen=True)
class _SlotSums:
    """The weighted sums the least squares needs, per slot of the week that has any weight: with them each
    evaluation costs one pass over at most 672 slots, however long the history."""

    slots: tuple[int, ...]  # the slots with weight
    weight: tuple[float, ...]  # W = sum w
    time: tuple[float, ...]  # T = sum w t
    time2: tuple[float, ...]  # TT = sum w t^2
    value: tuple[float, ...]  # Y = sum w y
    value_time: tuple[float, ...]  # YT = sum w y t
    mean_time: tuple[float, ...]  # T / W
    spread: tuple[float, ...]  # TT - T^2 / W, the weighted spread of the times (>= 0)

    @classmethod
    def of(
        cls, times: Sequence[float], slots: Sequence[int], values: Sequence[float], weights: Sequence[float]
    ) -> _SlotSums:
        sums = [[0.0] * SLOTS_PER_WEEK for _ in range(5)]
        weight, time, time2, value, value_time = sums
        for t, k, y, w in zip(times, slots, values, weights, strict=True):
            if w:
                weight[k] += w
                time[k] += w * t
                time2[k] += w * t * t
                value[k] += w * y
                value_time[k] += w * y * t
        used = [k for k in range(SLOTS_PER_WEEK) if weight[k] > 0]
        mean = [time[k] / weight[k] for k in used]
        return cls(
            slots=tuple(used),
            weight=tuple(weight[k] for k in used),
            time=tuple(time[k] for k in used),
            time2=tuple(time2[k] for k in used),
            value=tuple(value[k] for k in used),
            value_time=tuple(value_time[k] for k in used),
            mean_time=tuple(mean),
            spread=tuple(max(0.0, time2[k] - time[k] * m) for k, m in zip(used, mean, strict=True)),
        )

    def _fits(self, ratio: float) -> list[tuple[float, float]]:
        """Per slot: (Y + r YT, sum w (1 + r t)^2). The second is W (1 + r mean_t)^2 + r^2 spread: two terms
        >= 0, where W + 2 r T + r^2 TT would cancel to 0 (or below) when the line nears 0 in the slot."""
        return [
            (y + ratio * yt, w * (1 + ratio * m) ** 2 + ratio * ratio * v)
            for y, yt, w, m, v in zip(
                self.value, self.value_time, self.weight, self.mean_time, self.spread, strict=True
            )
        ]

    def season(self, ratio: float) -> list[float | None]:
        """Each slot's level x index for the line 1 + ratio t (None: the slot has no weight)."""
        found: list[float | None] = [None] * SLOTS_PER_WEEK
        for k, (fitted, square) in zip(self.slots, self._fits(ratio), strict=True):
            found[k] = fitted / square
        return found

    def explained(self, ratio: float) -> float:
        """sum over slots of (Y + r YT)^2 / sum w (1 + r t)^2: the sum of squares the fit removes."""
        return math.fsum(fitted * fitted / square for fitted, square in self._fits(ratio))

    def slope(self, ratio: float) -> float:
        """d/dr of ``explained``: zero at the fit."""
        return math.fsum(
            fitted / square * (2 * yt - fitted * (2 * t + 2 * ratio * t2) / square)
            for (fitted, square), yt, t, t2 in zip(
                self._fits(ratio), self.value_time, self.time, self.time2, strict=True
            )
        )

    def best_ratio(self, span: float) -> float:
        """The ratio r of the least squares over a history ``span`` weeks long (see the module docstring)."""
        grid = [math.expm1(u) / span for u in _RATIO_GRID]
        scores = [self.explained(r) for r in grid]
        best = max(range(len(grid)), key=lambda i: (scores[i], -abs(grid[i])))
        low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        rising, falling = self.slope(low), self.slope(high)
        if rising <= 0 or falling >= 0:
            return grid[best]  # the maximum is on the grid's edge
        # The explained sum rises then falls around its maximum: the root of its slope, by false position with
        # the Illinois step (the end that stays put has its value halved), which keeps the bracket and
        # converges superlinearly where bisection would need some fifty steps.
        tolerance = 1e-14 / span
        kept = 0
        for _ in range(_ROOT_STEPS):
            middle = high - falling * (high - low) / (falling - rising)
            if not low < middle < high:
                middle = (low + high) / 2
            value = self.slope(middle)
            if value > 0:
                low, rising = middle, value
                falling, kept = (falling / 2, kept) if kept == 1 else (falling, 1)
            elif value < 0:
                high, falling = middle, value
                rising, kept = (rising / 2, kept) if kept == -1 else (rising, -1)
            else:
                return middle
            if high - low <= tolerance:
                break
        return (low + high) / 2


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
    sums = _SlotSums.of(times, [slot_of_week(at, zone) for at in starts], values, weights)
    if not sums.slots:
        return None
    flat = SeasonalTrend(origin, 0.0, 0.0, tuple([1.0] * SLOTS_PER_WEEK), timezone)
    if math.fsum(sums.value) == 0:
        return flat  # nothing but zeros
    # Two weeks at least between the first and the last weighted interval, or a trend is not told from the season.
    seen = [t for t, w in zip(times, weights, strict=True) if w > 0]
    span = max(seen) + 1 / SLOTS_PER_WEEK  # the line must stay positive up to the end of the last interval
    ratio = sums.best_ratio(span) if max(seen) - min(seen) >= 2 - 1 / SLOTS_PER_WEEK else 0.0
    scaled = sums.season(ratio)
    known = [c for c in scaled if c is not None]
    level = math.fsum(known) / len(known)
    if level <= 0:
        return flat
    season = [c / level if c is not None else None for c in scaled]
    return SeasonalTrend(origin, level, level * ratio, tuple(_fill(season)), timezone)


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
