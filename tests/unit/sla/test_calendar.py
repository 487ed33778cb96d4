"""Which 15-minute intervals a business-hours target counts: the tenant's hours and holidays, in its time zone."""

from __future__ import annotations

import datetime as dt

from app.sla.service import Calendar

OSLO = Calendar("Europe/Oslo", {"mon": [["08:00", "17:00"]], "tue": [["08:00", "17:00"]]}, ["2026-12-01"])
SUNDAY, MONDAY, TUESDAY = dt.date(2026, 11, 29), dt.date(2026, 11, 30), dt.date(2026, 12, 1)


def utc(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def test_business_hours_count_intervals_that_start_open() -> None:
    counts = OSLO.counts(business_hours_only=True)
    # Oslo is UTC+1 in winter: open 07:00-16:00 UTC on Monday.
    assert not counts(utc(MONDAY, 6, 45))
    assert counts(utc(MONDAY, 7, 0))
    assert counts(utc(MONDAY, 15, 45))
    assert not counts(utc(MONDAY, 16, 0))
    # Tuesday 1 December is a holiday; Sunday is closed.
    assert not counts(utc(TUESDAY, 10, 0))
    assert not counts(utc(SUNDAY, 10, 0))


def test_all_hours_count_every_interval() -> None:
    counts = OSLO.counts(business_hours_only=False)
    assert counts(utc(SUNDAY, 3, 15)) and counts(utc(TUESDAY, 10, 0))
