"""Business hours and holidays, read in the tenant's time zone."""

from __future__ import annotations

import datetime as dt

import pytest

from app.telephony.hours import is_open

WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_open_inside_a_range_including_its_start_and_excluding_its_end() -> None:
    # 2026-11-23 is a Monday.
    at = {
        "2026-11-23T08:59:59": False,
        "2026-11-23T09:00:00": True,
        "2026-11-23T16:59:59": True,
        "2026-11-23T17:00:00": False,
    }
    for when, expected in at.items():
        assert is_open(utc(when), timezone="UTC", business_hours=WEEKDAYS_9_TO_5, holidays=[]) is expected, when


def test_a_missing_day_is_closed_and_several_ranges_a_day_are_allowed() -> None:
    hours = {"sat": [["09:00", "12:00"], ["14:00", "18:00"]]}
    saturday, sunday = "2026-11-28", "2026-11-29"
    assert is_open(utc(f"{saturday}T10:00:00"), timezone="UTC", business_hours=hours, holidays=[])
    assert not is_open(utc(f"{saturday}T13:00:00"), timezone="UTC", business_hours=hours, holidays=[])
    assert is_open(utc(f"{saturday}T15:00:00"), timezone="UTC", business_hours=hours, holidays=[])
    assert not is_open(utc(f"{sunday}T10:00:00"), timezone="UTC", business_hours=hours, holidays=[])
    assert not is_open(utc(f"{saturday}T10:00:00"), timezone="UTC", business_hours={}, holidays=[])


def test_hours_are_local_to_the_tenant_across_daylight_saving() -> None:
    """08:30 UTC is 09:30 in London in summer (open) and 08:30 in winter (closed)."""
    london = {"timezone": "Europe/London", "business_hours": WEEKDAYS_9_TO_5, "holidays": []}
    assert is_open(utc("2026-07-06T08:30:00"), **london)  # Monday, BST
    assert not is_open(utc("2026-01-05T08:30:00"), **london)  # Monday, GMT
    # New York is UTC-5 in winter: 14:30 UTC is 09:30 there.
    assert is_open(utc("2026-01-05T14:30:00"), timezone="America/New_York", business_hours=WEEKDAYS_9_TO_5, holidays=[])


def test_the_weekday_is_the_local_one() -> None:
    """Monday 01:00 in Auckland is still Sunday in UTC."""
    hours = {"mon": [["00:00", "06:00"]]}
    at = utc("2026-11-22T12:00:00")  # Sunday 12:00 UTC = Monday 01:00 NZDT (UTC+13)
    assert is_open(at, timezone="Pacific/Auckland", business_hours=hours, holidays=[])
    assert not is_open(at, timezone="UTC", business_hours=hours, holidays=[])


def test_a_holiday_closes_the_whole_local_day() -> None:
    every_day = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    auckland = {"timezone": "Pacific/Auckland", "business_hours": every_day}
    # 2026-12-24 12:00 UTC is 2026-12-25 01:00 in Auckland: the local date is the holiday.
    assert not is_open(utc("2026-12-24T12:00:00"), holidays=["2026-12-25"], **auckland)
    assert is_open(utc("2026-12-24T12:00:00"), holidays=["2026-12-24"], **auckland)
    assert is_open(utc("2026-12-25T12:00:00"), holidays=["2026-12-25"], **auckland)  # the 26th there


def test_overnight_hours_span_midnight_in_two_ranges() -> None:
    """Friday 22:00 to Saturday 06:00: an end of 23:59 runs to midnight, so there is no gap."""
    night = {"fri": [["22:00", "23:59"]], "sat": [["00:00", "06:00"]]}
    paris = {"timezone": "Europe/Paris", "business_hours": night, "holidays": []}
    # Paris is UTC+1 in November; 2026-11-27 is a Friday.
    assert not is_open(utc("2026-11-27T20:59:00"), **paris)  # 21:59
    assert is_open(utc("2026-11-27T21:00:00"), **paris)  # 22:00
    assert is_open(utc("2026-11-27T22:59:30"), **paris)  # 23:59:30
    assert is_open(utc("2026-11-27T23:00:00"), **paris)  # 00:00 Saturday
    assert is_open(utc("2026-11-28T04:59:59"), **paris)  # 05:59:59
    assert not is_open(utc("2026-11-28T05:00:00"), **paris)  # 06:00
    # A holiday on the Saturday closes the morning part only.
    assert not is_open(
        utc("2026-11-27T23:30:00"), timezone="Europe/Paris", business_hours=night, holidays=["2026-11-28"]
    )
    assert is_open(utc("2026-11-27T22:30:00"), timezone="Europe/Paris", business_hours=night, holidays=["2026-11-28"])


def test_only_the_last_minute_of_the_day_runs_to_midnight() -> None:
    hours = {"mon": [["09:00", "23:58"]]}
    assert not is_open(utc("2026-11-23T23:58:30"), timezone="UTC", business_hours=hours, holidays=[])


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(dt.datetime(2026, 11, 23, 10), timezone="UTC", business_hours=WEEKDAYS_9_TO_5, holidays=[])
