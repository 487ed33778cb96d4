"""Whether a tenant is open: its business hours and holidays, read in its own time zone (pure, no I/O).

The shape is the tenant's (``tenants.schemas.TenantCreate``): ``{"mon": [["08:00", "20:00"], ...], ...}``
with a missing day closed, and holidays as ISO dates. A range includes its start and excludes its end,
except that an end of ``23:59`` runs to midnight: the format has no ``24:00`` and a range may not wrap
past midnight, so overnight hours are written as two ranges, ``fri 22:00-23:59`` and ``sat 00:00-06:00``.
A holiday closes the whole local day it names, including that day's part of an overnight opening.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
END_OF_DAY = "23:59"


def is_open(
    at: dt.datetime,
    *,
    timezone: str,
    business_hours: Mapping[str, Sequence[Sequence[str]]],
    holidays: Collection[str],
) -> bool:
    """True when ``at`` (an aware datetime) falls in the business hours and not on a holiday, locally."""
    if at.tzinfo is None:
        raise ValueError("is_open needs an aware datetime")
    local = at.astimezone(ZoneInfo(timezone))
    if local.date().isoformat() in holidays:
        return False
    minute = local.strftime("%H:%M")
    return any(
        start <= minute and (minute < end or end == END_OF_DAY)
        for start, end in business_hours.get(WEEKDAYS[local.weekday()], ())
    )
