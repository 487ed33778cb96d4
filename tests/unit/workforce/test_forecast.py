"""The forecast: a seasonal index per 15-minute slot of the week times a linear trend, fitted by least squares.

Synthetic histories with a known weekly pattern and trend (and Poisson noise) check that the fit recovers
them and that the held-out error is reported; properties check what must hold for any history.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zoneinfo
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.workforce.forecast import (
    INTERVAL,
    SLOTS_PER_DAY,
    SLOTS_PER_WEEK,
    History,
    IntervalForecast,
    fit,
    forecast,
    held_out_error,
    score,
    slot_of_week,
)

MONDAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def day_shape(slot: int) -> float:
    """Open 07:00-21:00 with a midday peak; weekends at 60 %."""
    hour = (slot % SLOTS_PER_DAY) / 4
    shape = math.sin(math.pi * (hour - 7) / 14) if 7 <= hour < 21 else 0.0
    return shape * (0.6 if slot // SLOTS_PER_DAY >= 5 else 1.0)


MEAN_SHAPE = math.fsum(day_shape(k) for k in range(SLOTS_PER_WEEK)) / SLOTS_PER_WEEK


def true_index(slot: int) -> float:
    return day_shape(slot) / MEAN_SHAPE


def poisson(rng: random.Random, mean: float) -> int:
    """Poisson by inversion (the means here stay small enough)."""
    if mean <= 0:
        return 0
    if mean > 200:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def synthetic(
    weeks: int,
    *,
    level: float,
    trend: float,
    aht: Callable[[int], float],
    timezone: str = "UTC",
    start: dt.datetime = MONDAY,
    seed: int = 1,
) -> History:
    """Calls ~ Poisson((level + trend * week) * index(local slot)); every call handled in its interval."""
    rng = random.Random(seed)
    zone = zoneinfo.ZoneInfo(timezone)
    calls, handled, seconds = [], [], []
    for i in range(weeks * SLOTS_PER_WEEK):
        at = start + i * INTERVAL
        slot = slot_of_week(at, zone)
        count = poisson(rng, (level + trend * i / SLOTS_PER_WEEK) * true_index(slot))
        calls.append(float(count))
        handled.append(float(count))
        seconds.append(count * aht(slot))
    return History(start, tuple(calls), tuple(handled), tuple(seconds), timezone)


def daytime_aht(slot: int) -> float:
    """Longer calls in the evening."""
    return 240.0 + 60.0 * ((slot % SLOTS_PER_DAY) >= 17 * 4)


# --- recovery of a known pattern ------------------------------------------------------------------------


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_the_fit_recovers_a_known_season_and_trend(timezone: str) -> None:
    """Eight weeks at 20 calls per interval on average, growing by 1.5 per interval each week, with Poisson
    noise. America/New_York puts the pattern in local time across the March change to summer time (the
    history runs from 2 February to 30 March 2026), which the slots of the week must follow."""
    start = dt.datetime(2026, 2, 2, 5, tzinfo=dt.UTC) if timezone != "UTC" else MONDAY
    history = synthetic(8, level=20.0, trend=1.5, aht=daytime_aht, timezone=timezone, start=start)
    model = fit(history)

    # The trend, to a few percent: the Poisson noise on ~27,000 calls a week is about 0.6 %.
    assert model.volume.trend_per_week == pytest.approx(1.5, abs=0.15)
    assert model.volume.level == pytest.approx(20.0, abs=0.6)
    # Each open slot's index comes from its eight noisy weeks: its relative standard error is about
    # 1 / sqrt(the calls expected in it over the history); every index lies within 4.5 of them (the seed
    # is fixed; by chance about one run in two hundred would not), and a closed slot (no calls ever) is 0.
    relative_errors = []
    for slot in range(SLOTS_PER_WEEK):
        truth = true_index(slot)
        if truth == 0:
            assert model.volume.season[slot] == 0
            continue
        expected_calls = math.fsum((20.0 + 1.5 * (w + 0.5)) * truth for w in range(8))
        relative = abs(model.volume.season[slot] / truth - 1)
        assert relative < 4.5 / math.sqrt(expected_calls) + 0.01
        relative_errors.append(relative * math.sqrt(expected_calls))
    # In standard errors, the typical miss is about 0.8 (the mean absolute value of a standard normal).
    assert 0.5 < math.fsum(relative_errors) / len(relative_errors) < 1.1
    # AHT has no trend and no noise: recovered exactly wherever calls were handled.
    assert model.aht is not None and model.aht.trend_per_week == pytest.approx(0, abs=1e-6)

    # The next week against its true expectation: the workload-weighted error is small.
    following = history.end
    predicted = model.predict(following, SLOTS_PER_WEEK)
    zone = zoneinfo.ZoneInfo(timezone)
    expected = [
        (20.0 + 1.5 * 8 + 1.5 * i / SLOTS_PER_WEEK) * true_index(slot_of_week(p.start, zone))
        for i, p in enumerate(predicted)
    ]
    error = math.fsum(abs(p.calls - e) for p, e in zip(predicted, expected, strict=True)) / math.fsum(expected)
    assert error < 0.05
    for p in predicted:
        if p.calls > 0:
            assert p.aht_seconds == pytest.approx(daytime_aht(slot_of_week(p.start, zone)), rel=1e-6)


def test_the_held_out_error_is_reported_and_near_the_noise() -> None:
    """Seven weeks fit, the eighth forecast: with Poisson noise of ~5 calls on ~28 per open interval the WAPE
    is about 0.13 (the noise's own mean absolute deviation); bias near 0; AHT exact."""
    history = synthetic(8, level=20.0, trend=1.5, aht=daytime_aht, seed=7)
    error = held_out_error(history, weeks=1)
    assert error is not None
    assert error.weeks == 1 and error.intervals == SLOTS_PER_WEEK
    assert error.actual_calls == math.fsum(history.calls[-SLOTS_PER_WEEK:])
    assert error.wape is not None and 0.05 < error.wape < 0.2
    assert error.mape is not None and error.mape > error.wape  # quiet intervals weigh more in MAPE
    assert error.bias is not None and abs(error.bias) < 0.03
    assert error.aht_wape == pytest.approx(0, abs=1e-9) and error.aht_bias == pytest.approx(0, abs=1e-9)

    # Forecast, as the API calls it: the model of the whole history and its held-out error side by side.
    result = forecast(history, history.end, SLOTS_PER_WEEK, holdout_weeks=2)
    assert result.held_out is not None and result.held_out.weeks == 2
    assert len(result.intervals) == SLOTS_PER_WEEK and result.intervals[0].start == history.end
    assert forecast(history, history.end, 4, holdout_weeks=0).held_out is None


def test_a_forecast_that_ignores_the_trend_shows_it_in_the_bias() -> None:
    """A strong trend fitted from two weeks is carried into the held-out week; a flat model (one week of
    training) is not and under-forecasts: the bias says so."""
    history = synthetic(3, level=20.0, trend=8.0, aht=daytime_aht, seed=3)
    with_trend = held_out_error(history, weeks=1)  # fitted on two weeks
    flat = held_out_error(history.split(2 * SLOTS_PER_WEEK)[0], weeks=1)  # fitted on one
    assert with_trend is not None and flat is not None
    assert with_trend.bias is not None and abs(with_trend.bias) < 0.05
    assert flat.bias is not None and flat.bias < -0.15


@pytest.mark.parametrize(
    ("level", "trend"),
    [
        (10.0, 2.0),
        (0.0, 4.0),  # rising from nothing: a level of 0
        (12.0, -12.0 * SLOTS_PER_WEEK / (3 * SLOTS_PER_WEEK - 1)),  # falling to nothing at the last interval
    ],
)
def test_a_noise_free_history_is_forecast_exactly(level: float, trend: float) -> None:
    """Three weeks exactly on the model, whatever the line's shape: a line at 0 at either end of the history is
    fitted as well as a gentle one (and a line carried below 0 forecasts 0)."""

    def line(weeks: float) -> float:
        return level + trend * weeks

    calls = [max(0.0, line(i / SLOTS_PER_WEEK)) * true_index(i % SLOTS_PER_WEEK) for i in range(3 * SLOTS_PER_WEEK)]
    history = History(MONDAY, tuple(calls), tuple(calls), tuple(c * 300 for c in calls))
    result = forecast(history, history.end, SLOTS_PER_WEEK)
    assert result.model.volume.trend_per_week == pytest.approx(trend, rel=1e-9)
    assert result.model.volume.level == pytest.approx(level, rel=1e-9, abs=1e-9)
    for i, point in enumerate(result.intervals):
        expected = max(0.0, line(3 + i / SLOTS_PER_WEEK)) * true_index(i)
        assert point.calls == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert result.held_out is not None and result.held_out.wape == pytest.approx(0, abs=1e-9)


def test_slots_never_seen_take_their_time_of_day() -> None:
    """Three days of history (Monday to Wednesday): Thursday's 10:00 is forecast like the days seen."""
    calls = [float(day_shape(i % SLOTS_PER_DAY) * 10) for i in range(3 * SLOTS_PER_DAY)]
    history = History(MONDAY, tuple(calls), tuple([0.0] * len(calls)), tuple([0.0] * len(calls)))
    model = fit(history)
    thursday_ten = MONDAY + dt.timedelta(days=3, hours=10)
    monday_ten = MONDAY + dt.timedelta(hours=10)
    assert model.predict(thursday_ten, 1)[0].calls == pytest.approx(model.predict(monday_ten, 1)[0].calls)
    assert model.predict(thursday_ten, 1)[0].aht_seconds is None  # nothing handled: no AHT to learn


def test_a_handle_time_seen_once_per_slot_has_no_trend() -> None:
    """One contact a week over three weeks, each in another slot of the week: each slot's index fits its one
    handle time exactly whatever the line, so nothing tells a trend. The AHT line is flat and each slot
    forecasts its own handle time."""
    handled_at = {40: 100.0, SLOTS_PER_WEEK + 136: 200.0, 2 * SLOTS_PER_WEEK + 232: 300.0}
    length = 3 * SLOTS_PER_WEEK
    calls = tuple(1.0 if i in handled_at else 0.0 for i in range(length))
    history = History(MONDAY, calls, calls, tuple(handled_at.get(i, 0.0) for i in range(length)))
    model = fit(history)
    assert model.aht is not None and model.aht.trend_per_week == 0
    for at, seconds in handled_at.items():
        assert model.predict(history.end + (at % SLOTS_PER_WEEK) * INTERVAL, 1)[0].aht_seconds == pytest.approx(seconds)


def test_no_history_forecasts_nothing() -> None:
    empty = History(MONDAY, (), (), ())
    assert [p.calls for p in fit(empty).predict(MONDAY, 3)] == [0.0, 0.0, 0.0]
    assert held_out_error(empty) is None


# --- properties -----------------------------------------------------------------------------------------

# Contact counts (rollups may hold fractions, e.g. a share of a contact): none, or at least a thousandth.
counts = st.just(0.0) | st.floats(min_value=1e-3, max_value=500)


@st.composite
def histories(draw: st.DrawFn, *, min_weeks: int = 0, max_weeks: int = 3) -> History:
    weeks = draw(st.integers(min_value=min_weeks, max_value=max_weeks))
    extra = draw(st.integers(min_value=0 if weeks else 1, max_value=SLOTS_PER_WEEK - 1))
    length = weeks * SLOTS_PER_WEEK + extra
    pattern = draw(st.lists(counts, min_size=SLOTS_PER_DAY, max_size=SLOTS_PER_DAY))
    growth = draw(st.floats(min_value=-0.5, max_value=2.0))
    calls = tuple(max(0.0, pattern[i % SLOTS_PER_DAY] * (1 + growth * i / SLOTS_PER_WEEK)) for i in range(length))
    aht = draw(st.floats(min_value=30, max_value=900))
    offset = draw(st.integers(min_value=0, max_value=SLOTS_PER_WEEK))
    return History(MONDAY + offset * INTERVAL, calls, calls, tuple(c * aht for c in calls))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(history=histories())
def test_forecasts_are_never_negative(history: History) -> None:
    for point in fit(history).predict(history.end, SLOTS_PER_WEEK + 5):
        assert point.calls >= 0 and math.isfinite(point.calls)
        assert point.aht_seconds is None or point.aht_seconds >= 0


@settings(max_examples=30, deadline=None, derandomize=True)
@given(history=histories(), factor=st.floats(min_value=0.01, max_value=100))
def test_scaling_the_contacts_scales_the_forecast_and_keeps_the_aht(history: History, factor: float) -> None:
    scaled = History(
        history.start,
        tuple(c * factor for c in history.calls),
        history.handled,
        history.handle_seconds,
        history.timezone,
    )
    for plain, bigger in zip(
        fit(history).predict(history.end, SLOTS_PER_DAY), fit(scaled).predict(history.end, SLOTS_PER_DAY), strict=True
    ):
        assert bigger.calls == pytest.approx(plain.calls * factor, rel=1e-6, abs=1e-9)
        assert bigger.aht_seconds == plain.aht_seconds


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    day=st.lists(counts, min_size=SLOTS_PER_DAY, max_size=SLOTS_PER_DAY),
    weekdays=st.lists(st.just(0.0) | st.floats(min_value=0.1, max_value=3), min_size=7, max_size=7),
    weeks=st.integers(min_value=1, max_value=3),
    aht=st.lists(st.floats(min_value=30, max_value=900), min_size=SLOTS_PER_DAY, max_size=SLOTS_PER_DAY),
)
def test_a_repeating_week_is_forecast_as_itself(
    day: list[float], weekdays: list[float], weeks: int, aht: list[float]
) -> None:
    """No trend, the same week over and over: the next week is that week (volume and AHT)."""
    pattern = [day[k % SLOTS_PER_DAY] * weekdays[k // SLOTS_PER_DAY] for k in range(SLOTS_PER_WEEK)]
    handle = [aht[k % SLOTS_PER_DAY] * (1 + k // SLOTS_PER_DAY / 10) for k in range(SLOTS_PER_WEEK)]
    calls = tuple(pattern * weeks)
    seconds = tuple(c * a for c, a in zip(calls, handle * weeks, strict=True))
    history = History(MONDAY, calls, calls, seconds)
    result = forecast(history, history.end, SLOTS_PER_WEEK)
    assert result.model.volume.trend_per_week == pytest.approx(0, abs=1e-6 * max(1.0, max(pattern)))
    for slot, point in enumerate(result.intervals):
        assert point.calls == pytest.approx(pattern[slot], rel=1e-6, abs=1e-6)
        if pattern[slot] > 0:
            assert point.aht_seconds == pytest.approx(handle[slot], rel=1e-6)
    if weeks >= 2 and math.fsum(pattern) > 0:
        assert result.held_out is not None and result.held_out.wape == pytest.approx(0, abs=1e-6)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    actual=st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=50),
    over=st.floats(min_value=0.01, max_value=5),
)
def test_over_forecasting_is_a_positive_bias_and_a_perfect_one_scores_zero(actual: list[float], over: float) -> None:
    history = History(MONDAY, tuple(actual), tuple(actual), tuple(a * 100 for a in actual))
    starts = [MONDAY + i * INTERVAL for i in range(len(actual))]
    perfect = score(history, [IntervalForecast(s, a, 100.0) for s, a in zip(starts, actual, strict=True)])
    high = score(history, [IntervalForecast(s, a + over, 120.0) for s, a in zip(starts, actual, strict=True)])
    if math.fsum(actual) == 0:
        assert perfect.wape is None and perfect.bias is None
        return
    assert perfect.wape == 0 and perfect.bias == 0 and perfect.aht_wape == pytest.approx(0, abs=1e-12)
    assert high.bias is not None and high.bias > 0 and high.wape == pytest.approx(high.bias)
    assert high.aht_bias == pytest.approx(0.2) and high.aht_wape == pytest.approx(0.2)


def test_held_out_needs_a_week_more_than_it_keeps() -> None:
    almost = synthetic(2, level=5, trend=0, aht=daytime_aht).split(2 * SLOTS_PER_WEEK - 1)[0]
    assert held_out_error(almost, weeks=1) is None
    assert held_out_error(synthetic(2, level=5, trend=0, aht=daytime_aht), weeks=1) is not None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: History(MONDAY.replace(tzinfo=None), (1.0,), (1.0,), (60.0,)), "timezone-aware"),
        (lambda: History(MONDAY + dt.timedelta(minutes=5), (1.0,), (1.0,), (60.0,)), "15-minute boundary"),
        (lambda: History(MONDAY, (-1.0,), (0.0,), (0.0,)), "calls"),
        (lambda: History(MONDAY, (1.0,), (1.0,), (-60.0,)), "handle_seconds"),
        (lambda: History(MONDAY, (1.0, 2.0), (1.0,), (60.0,)), "one value per interval"),
        (lambda: History(MONDAY, (), (), (), "Mars/Olympus"), "time zone"),
    ],
)
def test_bad_histories_are_refused(build: Callable[[], History], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@settings(max_examples=25, deadline=None, derandomize=True)
@given(history=histories(min_weeks=2, max_weeks=3), step=st.floats(min_value=1e-4, max_value=1e-2))
def test_the_fit_is_a_least_squares_minimum(history: History, step: float) -> None:
    """No single parameter moved either way (level, trend, a busy slot's index) lowers the sum of squares,
    computed here straight from the intervals."""
    model = fit(history).volume
    zone = zoneinfo.ZoneInfo(history.timezone)
    points = [
        (
            (history.start + i * INTERVAL - model.origin) / dt.timedelta(weeks=1),
            slot_of_week(history.start + i * INTERVAL, zone),
            y,
        )
        for i, y in enumerate(history.calls)
    ]

    def squares(level: float, trend: float, season: tuple[float, ...]) -> float:
        return math.fsum((y - (level + trend * t) * season[k]) ** 2 for t, k, y in points)

    best = squares(model.level, model.trend_per_week, model.season)
    slack = 1e-9 * max(best, 1.0)
    size = max(abs(model.level), 1e-6)
    busiest = max(range(SLOTS_PER_WEEK), key=lambda k: model.season[k])
    for sign in (-1, 1):
        assert squares(model.level + sign * step * size, model.trend_per_week, model.season) >= best - slack
        assert squares(model.level, model.trend_per_week + sign * step * size, model.season) >= best - slack
        moved = tuple(s + sign * step * max(s, 1e-6) if k == busiest else s for k, s in enumerate(model.season))
        assert squares(model.level, model.trend_per_week, moved) >= best - slack
