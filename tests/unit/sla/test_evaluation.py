"""Projection and states, on hand-computed windows and by property; measurement windows in time zones."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.sla.engine import (
    MIN_VOLUME,
    Goal,
    Progress,
    Ratio,
    State,
    WindowKind,
    assess,
    interval_start,
    previous_window,
    progress_of,
    project,
    window_at,
)

UTC = dt.UTC
TEN = dt.datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
QUARTER = dt.timedelta(minutes=15)
SL_80 = Goal(minimum=0.8)


def at(minutes: float) -> dt.datetime:
    return TEN + dt.timedelta(minutes=minutes)


def quarter(so_far: Ratio, previous: Ratio = Ratio(18, 20)) -> dict[dt.datetime, Ratio]:
    """The 10:00-10:15 interval so far and the quarter before it."""
    return {TEN - QUARTER: previous, TEN: so_far}


def always(start: dt.datetime) -> bool:
    return True


WINDOW = window_at(TEN, WindowKind.MINUTES_15, "UTC")


def test_projection_by_hand() -> None:
    """10:05 in the 10:00-10:15 window: 4 of 10 so far; 09:45-10:05 brought 22 of 30 over 1200 s.

    V = 30 / 1200 s * 600 s left = 15 contacts; r = 22/30; projected = (4 + 15 * 22/30) / (10 + 15) = 15/25.
    """
    progress = progress_of(WINDOW, at(5), quarter(Ratio(4, 10)), always)
    assert progress == Progress(Ratio(4, 10), Ratio(22, 30), 1200.0, 600.0, closed=False)
    projected, rest = project(progress)
    assert rest == pytest.approx(15.0)
    assert projected == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("so_far", "state", "projected"),
    [
        # best case (4 + 15) / 25 = 0.76 < 0.8: out of reach even if all 15 go well.
        (Ratio(4, 10), State.BREACHED, 0.6),
        # r = (18 + 7) / 30: (7 + 15 * 25/30) / 25 = 0.78 projected, but (7 + 15) / 25 = 0.88 still reachable.
        (Ratio(7, 10), State.AT_RISK, 0.78),
        # r = (18 + 9) / 30: (9 + 15 * 27/30) / 25 = 0.90: on target.
        (Ratio(9, 10), State.MET, 0.9),
    ],
)
def test_states_of_an_open_window_by_hand(so_far: Ratio, state: State, projected: float) -> None:
    assessment = assess(progress_of(WINDOW, at(5), quarter(so_far), always), SL_80, share=True)
    assert assessment.state is state
    assert assessment.projected == pytest.approx(projected)
    assert assessment.value == so_far.value


def test_enough_volume_below_target_is_at_risk_even_when_the_projection_recovers() -> None:
    # 15 of 20 so far (0.75) after a perfect quarter: projected (15 + 60 * 115/120) / 80 = 0.906.
    assessment = assess(progress_of(WINDOW, at(5), quarter(Ratio(15, 20), Ratio(100, 100)), always), SL_80, share=True)
    assert assessment.projected == pytest.approx(72.5 / 80)
    assert assessment.volume == MIN_VOLUME
    assert assessment.state is State.AT_RISK
    # One contact fewer (14 of 19 = 0.74): too few to call it, and the projection (0.904) is on target.
    fewer = assess(progress_of(WINDOW, at(5), quarter(Ratio(14, 19), Ratio(100, 100)), always), SL_80, share=True)
    assert fewer.projected == pytest.approx((14 + 59.5 * 114 / 119) / 78.5)
    assert fewer.state is State.MET


def test_a_closed_window_is_final() -> None:
    late = at(20)  # 10:20: the 10:00-10:15 window is over
    breached = assess(progress_of(WINDOW, late, {TEN: Ratio(7, 10), at(15): Ratio(0, 50)}, always), SL_80, share=True)
    assert (breached.state, breached.value, breached.projected) == (State.BREACHED, 0.7, 0.7)
    met = assess(progress_of(WINDOW, late, {TEN: Ratio(8, 10)}, always), SL_80, share=True)
    assert met.state is State.MET
    empty = assess(progress_of(WINDOW, late, {}, always), SL_80, share=True)
    assert empty.state is State.NO_DATA


def test_business_hours_only_count_open_intervals() -> None:
    """Closed at 09:45-10:00: the recent span is 10:00-10:05 only (300 s), V = 10 / 300 * 600 = 20."""
    progress = progress_of(WINDOW, at(5), quarter(Ratio(4, 10)), lambda start: start >= TEN)
    assert progress == Progress(Ratio(4, 10), Ratio(4, 10), 300.0, 600.0, closed=False)
    projected, rest = project(progress)
    assert (projected, rest) == (pytest.approx(0.4), pytest.approx(20.0))
    # The day's window, open 10:00-10:30 only: 10 minutes of the current interval and the next one left.
    day = window_at(TEN, WindowKind.DAY, "UTC")
    closing = progress_of(day, at(5), quarter(Ratio(4, 10)), lambda start: TEN <= start < at(30))
    assert closing.remaining_seconds == 600.0 + 900.0


def test_maxima_and_seconds() -> None:
    """Abandonment at most 10%: 3 of 20 so far with V = 15 more: best case 3 / 35 = 0.086, not out of reach."""
    progress = Progress(Ratio(3, 20), Ratio(3, 20), 600.0, 450.0, closed=False)
    assessment = assess(progress, Goal(maximum=0.1), share=True)
    assert assessment.expected_rest == pytest.approx(15.0)
    assert assessment.projected == pytest.approx(0.15)
    assert assessment.state is State.AT_RISK
    heavy = Progress(Ratio(5, 20), Ratio(5, 20), 600.0, 450.0, closed=False)  # 5 / 35 = 0.14 > 0.1
    assert assess(heavy, Goal(maximum=0.1), share=True).state is State.BREACHED
    # AHT band 240-360 s: 10 contacts averaging 500 s. Seconds have no ceiling, so only the maximum can be
    # out of reach: 5000 / (10 + 15) = 200 s <= 360, still reachable.
    aht = Progress(Ratio(5000, 10), Ratio(5000, 10), 600.0, 900.0, closed=False)
    assert assess(aht, Goal(minimum=240, maximum=360), share=False).state is State.AT_RISK
    # Average 100 s: below the band, never out of reach while open (a long call can still lift it).
    short = Progress(Ratio(1000, 10), Ratio(1000, 10), 600.0, 10.0, closed=False)
    assert assess(short, Goal(minimum=240, maximum=360), share=False).state is State.AT_RISK


def test_no_contacts_yet_is_no_data() -> None:
    assert assess(progress_of(WINDOW, at(5), {}, always), SL_80, share=True).state is State.NO_DATA
    # Nothing so far in the window, but the recent quarter had traffic: the projection stands on it.
    quiet = assess(progress_of(WINDOW, at(0.5), {TEN - QUARTER: Ratio(10, 20)}, always), SL_80, share=True)
    assert quiet.value is None
    assert quiet.projected == pytest.approx(0.5)
    assert quiet.state is State.AT_RISK


ratios = st.builds(lambda good, bad: Ratio(good, good + bad), st.integers(0, 300), st.integers(0, 300))


@st.composite
def progresses(draw: st.DrawFn) -> Progress:
    return Progress(
        so_far=draw(ratios),
        recent=draw(ratios),
        recent_seconds=draw(st.sampled_from([0.0, 60.0, 900.0, 1800.0])),
        remaining_seconds=draw(st.floats(0, 86_400)),
        closed=draw(st.booleans()),
    )


@given(progresses())
def test_the_projection_lies_between_the_value_so_far_and_the_recent_ratio(progress: Progress) -> None:
    projected, rest = project(progress)
    values = [v for v in (progress.so_far.value, progress.recent.value if rest > 0 else None) if v is not None]
    if projected is None:
        assert not values
    else:
        assert min(values) - 1e-9 <= projected <= max(values) + 1e-9


@given(progresses(), st.floats(0.01, 1.0))
def test_states_agree_with_the_projection(progress: Progress, minimum: float) -> None:
    goal = Goal(minimum=minimum)
    assessment = assess(progress, goal, share=True)
    if assessment.state is State.NO_DATA:
        assert assessment.projected is None
        return
    assert assessment.projected is not None
    if progress.closed:
        assert assessment.state is (State.MET if goal.holds(assessment.projected) else State.BREACHED)
    elif assessment.state is State.MET:
        assert goal.holds(assessment.projected)
    elif assessment.state is State.BREACHED:
        # Out of reach with the best rest is surely out of reach with the projected one.
        assert not goal.holds(assessment.projected)
        n, d = progress.so_far.numerator, progress.so_far.denominator
        assert (n + assessment.expected_rest) / (d + assessment.expected_rest) < minimum


moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 1, 1), timezones=st.just(UTC))
zones = st.sampled_from(["UTC", "Europe/Oslo", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham"])


@given(moments, st.sampled_from(list(WindowKind)), zones)
def test_windows_hold_their_instant_and_follow_one_another(moment: dt.datetime, kind: WindowKind, zone: str) -> None:
    window = window_at(moment, kind, zone)
    assert window.start <= moment < window.end
    assert interval_start(window.start) == window.start and interval_start(window.end) == window.end
    assert previous_window(window, zone).end == window.start
    assert window_at(window.end, kind, zone).start == window.end


def test_windows_in_a_time_zone_by_hand() -> None:
    # Oslo springs forward on 2026-03-29: that local day has 23 hours, from 23:00 UTC the day before.
    day = window_at(dt.datetime(2026, 3, 29, 12, tzinfo=UTC), WindowKind.DAY, "Europe/Oslo")
    assert (day.start, day.seconds) == (dt.datetime(2026, 3, 28, 23, tzinfo=UTC), 23 * 3600)
    # Kolkata is UTC+05:30: its hours start at half past in UTC.
    hour = window_at(dt.datetime(2026, 11, 26, 10, 10, tzinfo=UTC), WindowKind.MINUTES_60, "Asia/Kolkata")
    assert (hour.start, hour.end) == (
        dt.datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
        dt.datetime(2026, 11, 26, 10, 30, tzinfo=UTC),
    )
    month = window_at(dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC), WindowKind.MONTH, "Europe/Oslo")
    assert (month.start, month.end) == (
        dt.datetime(2026, 12, 31, 23, tzinfo=UTC),
        dt.datetime(2027, 1, 31, 23, tzinfo=UTC),
    )


def test_windows_where_the_clock_goes_back_inside_one() -> None:
    # Chatham went from +13:45 to +12:45 at 14:00 UTC on 2016-04-02 (local 03:45 -> 02:45), inside an hour:
    # the windows are cut at the change, so they still tile time.
    change = dt.datetime(2016, 4, 2, 14, 0, tzinfo=UTC)
    quarter = dt.timedelta(minutes=15)
    for kind in (WindowKind.MINUTES_30, WindowKind.MINUTES_60):
        window = window_at(change, kind, "Pacific/Chatham")
        assert (window.start, window.end) == (change, change + quarter)  # from 02:45 to 03:00, local
        before = previous_window(window, "Pacific/Chatham")
        assert before.end == change
        assert (
            before.start.astimezone(ZoneInfo("Pacific/Chatham")).minute % (30 if kind is WindowKind.MINUTES_30 else 60)
            == 0
        )
