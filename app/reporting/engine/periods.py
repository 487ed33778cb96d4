"""Report periods in a tenant's time zone, and when a scheduled report is next due.

A period is a range of whole local days (both ends included); in UTC it runs from the first day's local
midnight to the local midnight after the last day, so a day across a daylight-saving change has 23 or
25 hours, as the tenant lived it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from zoneinfo import ZoneInfo

PeriodPreset = Literal["today", "yesterday", "last_7_days", "this_week", "last_week", "this_month", "last_month"]
PRESETS: tuple[PeriodPreset, ...] = (
    "today",
    "yesterday",
    "last_7_days",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
)
Frequency = Literal["daily", "weekly"]
_DAY = dt.timedelta(days=1)


def preset_days(preset: PeriodPreset, today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of a preset period, seen on ``today`` (weeks start on Monday)."""
    monday = today - dt.timedelta(days=today.weekday())
    first_of_month = today.replace(day=1)
    match preset:
        case "today":
            return today, today
        case "yesterday":
            return today - _DAY, today - _DAY
        case "last_7_days":
            return today - 7 * _DAY, today - _DAY
        case "this_week":
            return monday, today
        case "last_week":
            return monday - 7 * _DAY, monday - _DAY
        case "this_month":
            return first_of_month, today
        case "last_month":
            last = first_of_month - _DAY
            return last.replace(day=1), last


def utc_window(first: dt.date, last: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC of the local days ``first`` to ``last``."""
    start = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(last + _DAY, dt.time(), zone).astimezone(dt.UTC)
    return start, end


def next_due(after: dt.datetime, zone: ZoneInfo, frequency: Frequency, weekday: int | None, at: dt.time) -> dt.datetime:
    """The first time strictly after ``after`` the schedule falls due (``at`` local time; weekly on ``weekday``)."""
    day = after.astimezone(zone).date()
    for _ in range(9):
        if frequency == "daily" or day.weekday() == weekday:
            due = dt.datetime.combine(day, at, zone).astimezone(dt.UTC)
            if due > after:
                return due
        day += _DAY
    raise ValueError(f"no due time for a {frequency} schedule on weekday {weekday}")
