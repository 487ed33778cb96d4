"""Measurement windows, in 15-minute intervals (pure: stdlib only).

Windows are aligned in the tenant's time zone: 30- and 60-minute intervals on the local clock, days at
local midnight, months on the local first of the month. Every window is a whole number of the platform's
15-minute intervals (UTC-aligned; every time zone's offset is a multiple of 15 minutes), the unit the
reporting rollups and the routing engine count in.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from zoneinfo import ZoneInfo

INTERVAL = dt.timedelta(minutes=15)
INTERVAL_SECONDS = INTERVAL.total_seconds()
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class WindowKind(enum.StrEnum):
    """How long a target is measured over before it starts again."""

    MINUTES_15 = "15min"
    MINUTES_30 = "30min"
    MINUTES_60 = "60min"
    DAY = "day"
    MONTH = "month"


_MINUTES = {WindowKind.MINUTES_15: 15, WindowKind.MINUTES_30: 30, WindowKind.MINUTES_60: 60}


@dataclass(frozen=True, slots=True)
class Window:
    """One measurement window: ``[start, end)``, both aware UTC datetimes."""

    kind: WindowKind
    start: dt.datetime
    end: dt.datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError("windows need aware datetimes")
    return at.astimezone(dt.UTC)


def interval_start(at: dt.datetime) -> dt.datetime:
    """The start of the 15-minute interval holding ``at`` (UTC-aligned, as the rollups and the engine count)."""
    seconds = (_aware(at) - _EPOCH).total_seconds()
    return _EPOCH + dt.timedelta(seconds=seconds // INTERVAL_SECONDS * INTERVAL_SECONDS)


def interval_starts(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every 15-minute interval start in ``[start, end)``, from the interval holding ``start``."""
    current, stop = interval_start(start), _aware(end)
    starts = []
    while current < stop:
        starts.append(current)
        current += INTERVAL
    return starts


def _local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def day_bounds(day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """A local calendar day as ``[start, end)`` in UTC (23 or 25 hours on daylight-saving changes)."""
    zone = ZoneInfo(timezone)
    return _local_midnight(day, zone), _local_midnight(day + dt.timedelta(days=1), zone)


def local_date(at: dt.datetime, timezone: str) -> dt.date:
    return _aware(at).astimezone(ZoneInfo(timezone)).date()


def window_at(at: dt.datetime, kind: WindowKind, timezone: str) -> Window:
    """The window of ``kind`` holding ``at``, aligned in ``timezone``."""
    zone = ZoneInfo(timezone)
    local = _aware(at).astimezone(zone)
    if kind in _MINUTES:
        minutes = _MINUTES[kind]
        start = interval_start(at)
        while not _minutes_boundary(start, minutes, zone):
            start -= INTERVAL
        end = start + INTERVAL
        while not _minutes_boundary(end, minutes, zone):
            end += INTERVAL
        return Window(kind, start, end)
    if kind is WindowKind.DAY:
        start, end = day_bounds(local.date(), timezone)
        return Window(kind, start, end)
    first = local.date().replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return Window(kind, _local_midnight(first, zone), _local_midnight(following, zone))


def _minutes_boundary(at: dt.datetime, minutes: int, zone: ZoneInfo) -> bool:
    """Whether a 30- or 60-minute window starts at ``at`` (a 15-minute interval start): the local clock shows
    a whole half hour or hour, or the clock changed at ``at``. Windows so tile time even where the clock
    changes inside one (Chatham at :45) or by half an hour (Lord Howe): the window around a change is cut
    there, never doubled or lost."""
    local = at.astimezone(zone)
    return (
        local.minute % minutes == 0
        or local.utcoffset() != (at - dt.timedelta(microseconds=1)).astimezone(zone).utcoffset()
    )


def previous_window(window: Window, timezone: str) -> Window:
    """The window of the same kind that ended when ``window`` started."""
    return window_at(window.start - dt.timedelta(microseconds=1), window.kind, timezone)
