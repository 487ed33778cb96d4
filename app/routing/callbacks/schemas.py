"""Requests and responses of /api/v1/callbacks, and the payload of the ``callback.due`` event."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from app.core.structs import Input, Output

CallbackStatusName = Literal["scheduled", "queued", "cancelled", "completed", "failed"]
SortName = Literal["due_at", "-due_at", "created_at", "-created_at", "updated_at", "-updated_at"]

Phone = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=40,
        description="the customer's number: international form (E.164, +442071838750), or national when the "
        "tenant's locale names a country (en-GB: 020 7183 8750); spaces, dashes and dots are allowed",
        examples=["+442071838750"],
    ),
]
DueAt = Annotated[
    dt.datetime,
    msgspec.Meta(
        tz=True,
        description="when to call back, with its offset (RFC 3339); in the future, at most 30 days ahead",
        examples=["2026-12-01T14:30:00+01:00"],
    ),
]
Note = Annotated[str, msgspec.Meta(max_length=500, description="shown to the agent who calls back")]


class CallbackCreate(Input):
    queue_id: Annotated[uuid.UUID, msgspec.Meta(description="one of the tenant's active voice queues")]
    phone: Phone
    due_at: DueAt
    customer_id: Annotated[uuid.UUID | None, msgspec.Meta(description="the customer's id in Tenline, if known")] = None
    note: Note = ""


class CallbackOut(Output):
    id: uuid.UUID
    queue_id: uuid.UUID
    phone: str
    customer_id: uuid.UUID | None
    due_at: dt.datetime
    note: str
    status: str
    # Why a failed callback failed ("" otherwise).
    failure_reason: str
    # The contact put in line at the due time (an interaction's id), once queued.
    interaction_id: uuid.UUID | None
    queued_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CallbackDue(msgspec.Struct, frozen=True, kw_only=True):
    """The ``callback.due`` event: a callback was put in line. Also the data of the webhook of that name."""

    callback_id: uuid.UUID
    interaction_id: uuid.UUID
    queue_id: uuid.UUID
    phone: str
    customer_id: uuid.UUID | None
    due_at: dt.datetime
    note: str


class CallbackCancelledEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A queued callback was cancelled: its contact is to leave the line."""

    callback_id: uuid.UUID
    interaction_id: uuid.UUID
