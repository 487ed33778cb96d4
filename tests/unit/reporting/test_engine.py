"""The pure reporting core on hand-computed cases: intervals, histograms, the event fold, wrap-ups, presence, periods."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest

from app.reporting.engine.figures import SlCounts, service_level, sl_counts
from app.reporting.engine.intervals import (
    WAIT_EDGES,
    count_wait,
    edge_at_or_below,
    edge_index,
    empty_histogram,
    interval_start,
    split_by_interval,
)
from app.reporting.engine.periods import next_due, preset_days, utc_window
from app.reporting.engine.presence import OpenState, fold_presence
from app.reporting.engine.rollup import EventRecord, PresenceChange, RollupKey, WrapStart, fold, wrap_up_end

Q1, Q2 = uuid.UUID(int=1), uuid.UUID(int=2)
A, B = uuid.UUID(int=10), uuid.UUID(int=11)
C1, C2, C3 = uuid.UUID(int=100), uuid.UUID(int=101), uuid.UUID(int=102)
SECOND = 1_000_000


def at(clock: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2026-03-02T{clock}+00:00")


def test_intervals_are_utc_quarter_hours_and_spans_split_exactly() -> None:
    assert interval_start(at("10:14:59.999999")) == at("10:00:00")
    assert interval_start(at("10:15:00")) == at("10:15:00")
    assert list(split_by_interval(at("10:14:30"), at("10:30:00.5"))) == [
        (at("10:00:00"), 30 * SECOND),
        (at("10:15:00"), 900 * SECOND),
        (at("10:30:00"), SECOND // 2),
    ]


def test_wait_histograms_are_cumulative_over_fixed_edges() -> None:
    assert len(WAIT_EDGES) == 71 and WAIT_EDGES[4] == 20 and WAIT_EDGES[60] == 300 and WAIT_EDGES[61] == 360
    histogram = empty_histogram()
    count_wait(histogram, 12 * SECOND)
    count_wait(histogram, 15 * SECOND)  # not shorter than 15: counts from the 20 s edge on
    assert histogram[:6] == [0, 0, 0, 1, 2, 2] and histogram[-1] == 2
    assert edge_index(20) == 4 and edge_at_or_below(22) == 4 and edge_at_or_below(7200) == 69
    with pytest.raises(ValueError, match="not a wait histogram edge"):
        edge_index(7)
    counts = sl_counts(5, histogram, [0, 1, 1, 1] + [1] * 67, 15, 5)
    assert counts == SlCounts(
        offered=5, answered=2, answered_within=1, abandoned=1, abandoned_within=1, abandoned_short=1
    )
    assert service_level(counts) == pytest.approx(1 / 3)
    assert service_level(SlCounts(0, 0, 0, 0, 0, 0)) is None


def _event(
    contact: uuid.UUID,
    seq: int,
    kind: str,
    clock: str,
    agent: uuid.UUID | None = None,
    queue: uuid.UUID = Q1,
    **data: str,
) -> EventRecord:
    return EventRecord(contact, seq, 1, kind, at(clock), agent, queue, data)


# A transferred contact (hold on the first leg), a quick abandon and a removal by max wait.
LOG = [
    _event(C1, 1, "arrived", "10:00:00"),
    _event(C2, 2, "arrived", "10:00:01"),
    _event(C3, 3, "arrived", "10:00:02"),
    _event(C2, 4, "abandoned", "10:00:04"),
    _event(C1, 5, "offered", "10:00:10", A),
    _event(C1, 6, "answered", "10:00:12", A),
    _event(C1, 7, "held", "10:01:00", A),
    _event(C1, 8, "resumed", "10:01:30", A),
    _event(C1, 9, "transferred", "10:02:00", A),
    _event(C1, 10, "answered", "10:02:05", B, Q2),
    _event(C3, 11, "max_wait", "10:05:02"),
    _event(C1, 12, "ended", "10:16:00", B, Q2),
    _event(C1, 13, "wrapped_up", "10:16:20", B, Q2, disposition="resolved"),
]


def test_one_fold_counts_by_arrival_and_by_end_of_work() -> None:
    rollups = fold([], LOG)
    q1 = rollups.tallies[RollupKey(at("10:00:00"), Q1, None)]
    assert (q1.offered, q1.answered, q1.abandoned, q1.removed) == (3, 1, 1, 1)
    assert q1.wait_micros == 12 * SECOND and q1.answered_wait_hist[3] == 1 and q1.answered_wait_hist[2] == 0
    assert q1.abandoned_wait_hist[0:2] == [0, 1]  # 3 s: shorter than 5 s
    # A's leg: 108 s connected, 30 of them on hold; it ended with a transfer, not a handled contact.
    a = rollups.tallies[RollupKey(at("10:00:00"), Q1, A)]
    assert (a.answered, a.talk_micros, a.hold_micros, a.transfers, a.handled) == (1, 78 * SECOND, 30 * SECOND, 1, 0)
    assert (q1.talk_micros, q1.hold_micros, q1.transfers) == (78 * SECOND, 30 * SECOND, 1)
    # B's leg ends in the next interval, in the queue B answered it in: the handled contact and its code.
    b = rollups.tallies[RollupKey(at("10:15:00"), Q2, B)]
    q2 = rollups.tallies[RollupKey(at("10:15:00"), Q2, None)]
    for tally in (b, q2):
        assert (tally.handled, tally.talk_micros, tally.resolved, tally.dispositions) == (
            1,
            835 * SECOND,
            1,
            {"resolved": 1},
        )
        assert tally.offered == tally.answered == 0  # C1 arrived, and was first answered, in Q1
    assert [(w.agent_id, w.key, w.log_seq) for w in rollups.wraps] == [
        (A, RollupKey(at("10:00:00"), Q1, A), 9),
        (B, RollupKey(at("10:15:00"), Q2, B), 12),
    ]


@pytest.mark.parametrize("split", range(len(LOG) + 1))
def test_folding_in_batches_adds_up_to_one_fold(split: int) -> None:
    whole = fold([], LOG)
    first, rest = fold([], LOG[:split]), fold(LOG[:split], LOG[split:])
    for key, tally in rest.tallies.items():
        if key in first.tallies:
            first.tallies[key].add(tally)
        else:
            first.tallies[key] = tally
    assert first.tallies == whole.tallies
    assert first.wraps + rest.wraps == whole.wraps


def test_wrap_up_lasts_until_the_agents_next_presence_change() -> None:
    start = WrapStart(C1, A, RollupKey(at("10:00:00"), Q1, A), at("10:02:00"), 9)
    wrapping = PresenceChange(A, 9, "wrap_up", at("10:02:00"))
    assert wrap_up_end(start, [wrapping]) is None  # still running
    assert wrap_up_end(start, [wrapping, PresenceChange(A, 14, "available", at("10:02:25"))]) == 25 * SECOND
    # No wrap-up after the entry that ended the work (none configured, or other work in hand): none.
    assert wrap_up_end(start, [PresenceChange(A, 9, "available", at("10:02:00"))]) == 0
    assert wrap_up_end(start, [PresenceChange(A, 12, "wrap_up", at("10:03:00"))]) == 0
    assert wrap_up_end(start, []) == 0


def test_presence_is_counted_by_state_when_it_ends() -> None:
    states: dict[uuid.UUID, OpenState] = {}
    added = fold_presence(
        states,
        [
            PresenceChange(A, 1, "available", at("10:10:00")),
            PresenceChange(A, 2, "on_contact", at("10:20:00")),
            PresenceChange(A, 2, "wrap_up", at("10:21:00")),  # same log entry again: already applied
            PresenceChange(A, 3, "wrap_up", at("10:21:00")),
        ],
    )
    assert added == {
        (A, at("10:00:00")): {
            "available": 300 * SECOND,
            "offered": 0,
            "on_contact": 0,
            "wrap_up": 0,
            "break": 0,
            "offline": 0,
        },
        (A, at("10:15:00")): {
            "available": 300 * SECOND,
            "offered": 0,
            "on_contact": 60 * SECOND,
            "wrap_up": 0,
            "break": 0,
            "offline": 0,
        },
    }
    assert states[A] == OpenState("wrap_up", at("10:21:00"), 3)


def test_periods_are_local_days_and_schedules_fall_due_in_local_time() -> None:
    wednesday = dt.date(2026, 3, 4)
    assert preset_days("yesterday", wednesday) == (dt.date(2026, 3, 3), dt.date(2026, 3, 3))
    assert preset_days("last_7_days", wednesday) == (dt.date(2026, 2, 25), dt.date(2026, 3, 3))
    assert preset_days("this_week", wednesday) == (dt.date(2026, 3, 2), wednesday)
    assert preset_days("last_week", wednesday) == (dt.date(2026, 2, 23), dt.date(2026, 3, 1))
    assert preset_days("last_month", wednesday) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    oslo = ZoneInfo("Europe/Oslo")
    # The day clocks go forward is 23 hours long.
    start, end = utc_window(dt.date(2026, 3, 29), dt.date(2026, 3, 29), oslo)
    assert (start.isoformat(), end - start) == ("2026-03-28T23:00:00+00:00", dt.timedelta(hours=23))
    seven = dt.time(7, 0)
    after = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.UTC)  # 07:00 in Oslo: due now, so next is tomorrow
    assert next_due(after, oslo, "daily", None, seven) == dt.datetime(2026, 3, 5, 6, 0, tzinfo=dt.UTC)
    assert next_due(after - dt.timedelta(seconds=1), oslo, "daily", None, seven) == after
    assert next_due(after, oslo, "weekly", 0, seven) == dt.datetime(2026, 3, 9, 6, 0, tzinfo=dt.UTC)  # Monday
    assert next_due(dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC), oslo, "daily", None, seven) == dt.datetime(
        2026, 3, 29, 5, 0, tzinfo=dt.UTC
    )  # summer time from that night on
