"""One clock for the whole platform, so tests can move time and nothing reads the wall clock directly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

_now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)  # noqa: E731


def utcnow() -> dt.datetime:
    return _now()


def set_clock(now: Callable[[], dt.datetime] | None) -> None:
    """Tests only: replace the clock (None restores the wall clock)."""
    global _now
    _now = now or (lambda: dt.datetime.now(dt.UTC))
