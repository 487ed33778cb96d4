"""Requests and responses of /api/v1/webhook-endpoints, and the payload a webhook carries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

from app.core.structs import Input, Job, Output

# The catalogue a tenant chooses from: the router's interaction events, and outbox topics of other domains.
EventType = Literal[
    "interaction.offered",
    "interaction.answered",
    "interaction.ended",
    "interaction.abandoned",
    "sla.at_risk",
    "sla.breached",
    "report.delivered",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]

Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2000, pattern=r"^https?://")]
EventTypes = Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=len(EVENT_TYPES))]
Description = Annotated[str, msgspec.Meta(max_length=500)]
# Up to a week: long enough for a receiver to roll out the new secret.
OverlapSeconds = Annotated[int, msgspec.Meta(ge=0, le=7 * 86_400)]


class EndpointCreate(Input):
    url: Url
    event_types: EventTypes
    description: Description = ""
    enabled: bool = True


class EndpointUpdate(Input):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    event_types: EventTypes | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class SecretRotate(Input):
    """The previous secret keeps signing (next to the new one) for ``overlap_seconds``."""

    overlap_seconds: OverlapSeconds = 86_400


class EndpointOut(Output):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    # "sustained_failure" when Tenline disabled it after failing for a day; empty otherwise.
    disabled_reason: str
    failing_since: dt.datetime | None
    previous_secret_expires_at: dt.datetime | None
    created_at: dt.datetime


class EndpointWithSecret(EndpointOut):
    """The answer to a creation or a rotation: the signing secret, shown this once."""

    secret: str


class DeliveryOut(Output):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_attempt_at: dt.datetime | None
    request_headers: dict[str, Any]
    request_body: str
    response_status: int | None
    response_headers: dict[str, Any]
    response_body: str
    duration_ms: int | None
    error: str
    created_at: dt.datetime


class DeliveryDue(Job, frozen=True):
    """A delivery to attempt now (its row says whether it still is due)."""

    delivery_id: uuid.UUID
