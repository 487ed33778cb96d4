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
    "callback.due",
    "sla.at_risk",
    "sla.breached",
    "report.delivered",
    "billing.invoice_overdue",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]

Url = Annotated[
    str, msgspec.Meta(min_length=8, max_length=2000, pattern=r"^https?://", description="an http or https URL")
]
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
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


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


# --- the CRM lookup (screen pop) --------------------------------------------------------------------

TimeoutMs = Annotated[
    int, msgspec.Meta(ge=100, le=5000, description="milliseconds, 100 to 5000: how long the agent's desktop waits")
]
CacheTtlSeconds = Annotated[
    int, msgspec.Meta(ge=0, le=86_400, description="seconds, 0 to 86400: how long an answer is reused for a caller")
]


class CrmLookupPut(Input):
    """The tenant's CRM lookup: when a contact is offered, the agent's desktop asks ``url`` about the caller."""

    url: Url
    timeout_ms: TimeoutMs = 1500
    cache_ttl_seconds: CacheTtlSeconds = 300
    enabled: bool = True


class CrmLookupOut(Output):
    url: str
    timeout_ms: int
    cache_ttl_seconds: int
    enabled: bool
    previous_secret_expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int  # also the ETag


class CrmLookupSaved(CrmLookupOut):
    """The answer to a PUT: the signing secret when this PUT created the setting (shown this once), else null."""

    secret: str | None


class CrmLookupWithSecret(CrmLookupOut):
    """The answer to a rotation: the new signing secret, shown this once."""

    secret: str


class CrmLookupData(Output):
    interaction_id: uuid.UUID
    caller: str  # E.164, as the telephony layer gave it
    queue_id: uuid.UUID
    queue_name: str
    ivr: dict[str, Any]  # what the caller chose before the queue: language, menu choice...


class CrmLookupRequest(Output, kw_only=True):
    """The body Tenline POSTs to the lookup URL, signed with the Standard Webhooks headers."""

    type: Literal["crm.lookup"] = "crm.lookup"
    timestamp: dt.datetime
    data: CrmLookupData


CrmOutcome = Literal["found", "empty", "unusable", "timeout", "failed", "refused"]


class CrmAnswer(msgspec.Struct, kw_only=True, frozen=True):
    """What the desktop shows of one lookup; kept in Redis for the cache's time.

    ``outcome``: found (a record: title, url, fields), empty (the CRM answered with nothing to show),
    unusable (an answer Tenline cannot show), timeout, failed (an HTTP error status or no connection:
    ``http_status`` when there was one), refused (the URL resolves to an address Tenline may not reach).
    """

    outcome: CrmOutcome
    title: str = ""
    url: str = ""
    fields: list[tuple[str, str]] = msgspec.field(default_factory=list)
    http_status: int | None = None
