"""Optimistic concurrency for versioned rows (ETag / If-Match): one check, one way to apply a change.

A versioned row has ``version`` (bumped on every change) and ``updated_at``. A client that read version
N sends ``If-Match`` N with its change; if the row has moved on, the change is refused with 412, nothing
written, so a stale edit never silently undoes another.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from app.core.clock import utcnow
from app.core.errors import PreconditionFailedError


class Versioned(Protocol):
    version: int
    updated_at: dt.datetime


def check_version(what: str, row: Versioned | None, if_match: int | None) -> None:
    """If-Match against the row's version; ``row`` None: a record not saved yet, version 0 (If-Match "0": save
    it only if nobody has meanwhile)."""
    version = 0 if row is None else row.version
    if if_match is not None and if_match != version:
        now = "none is saved (version 0)" if row is None else f"it is now version {version}"
        raise PreconditionFailedError(f"{what} changed since version {if_match}; {now}")


def given_fields(data: msgspec.Struct) -> dict[str, Any]:
    """The fields a partial update sets (the unset ones stay as they are; null clears an optional one)."""
    return {name: value for name, value in msgspec.structs.asdict(data).items() if value is not msgspec.UNSET}


def apply_changes(row: Versioned, changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_at = utcnow()
