"""Request and response structs of the SLA API, and the payload of its alert events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from app.core.structs import Input, Output

DefinitionName = Annotated[
    Literal["answered", "answered_and_abandoned", "offered_less_short_abandons"],
    msgspec.Meta(
        description="the service-level definition: answered = answered within T / answered; "
        "answered_and_abandoned = (answered within T + abandoned within T) / (answered + abandoned); "
        "offered_less_short_abandons = answered within T / (offered - abandoned within the short-abandon threshold)"
    ),
]
MeasureName = Annotated[
    Literal["service_level", "abandonment_rate", "asa", "aht", "fcr", "csat", "serious_error_rate"],
    msgspec.Meta(
        description="service_level (share answered within within_seconds, by the contract's definition; minimum), "
        "abandonment_rate (share, short abandons excluded; maximum), asa (average speed of answer, seconds; "
        "maximum), aht (average handle time = talk + hold + wrap-up, seconds; the band minimum to maximum), "
        "fcr (first contact resolution: resolved / handled; minimum), csat (customer satisfaction, share; "
        "minimum), serious_error_rate (quality, share; maximum)"
    ),
]
WindowName = Annotated[
    Literal["15min", "30min", "60min", "day", "month"],
    msgspec.Meta(description="the measurement window, aligned in the tenant's time zone"),
]
WaitEdge = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=3600,
        description="seconds, one of the wait buckets: 0 to 300 in steps of 5, then 360, 420, 480, 540, 600, "
        "900, 1200, 1800 or 3600",
    ),
]
Goal = Annotated[
    float, msgspec.Meta(ge=0, le=86_400, description="a share from 0 to 1 (0.85 is 85%), or seconds for asa and aht")
]
StateName = Literal["met", "at_risk", "breached", "no_data"]


class TargetIn(Input):
    """One target. Which of minimum, maximum and within_seconds it takes depends on its measure."""

    measure: MeasureName
    window: WindowName
    business_hours_only: bool = False
    minimum: Goal | None = None
    maximum: Goal | None = None
    within_seconds: WaitEdge | None = None


class ContractCreate(Input):
    """A new version of the acting tenant's contract, in force from ``effective_from`` (its local date) on."""

    effective_from: Annotated[dt.date, msgspec.Meta(description="first day in force, in the tenant's time zone")]
    definition: DefinitionName
    targets: Annotated[list[TargetIn], msgspec.Meta(min_length=1, max_length=30)]
    short_abandon_seconds: WaitEdge = 5
    note: Annotated[str, msgspec.Meta(max_length=1000, description="what the version rests on, e.g. amendment 3")] = ""


class TargetOut(Output):
    id: uuid.UUID
    measure: str
    window: str
    business_hours_only: bool
    minimum: float | None
    maximum: float | None
    within_seconds: int | None


class ContractOut(Output):
    id: uuid.UUID
    version: int
    effective_from: dt.date
    definition: str
    short_abandon_seconds: int
    note: str
    created_by: str
    created_at: dt.datetime
    # in_force: the version of today; scheduled: from a later day; superseded: no longer in force.
    status: Literal["in_force", "scheduled", "superseded"]
    targets: list[TargetOut]


class TargetAttainment(Output):
    """A target in its current window, as the last evaluation left it (state no_data before the first)."""

    target: TargetOut
    window_start: dt.datetime
    window_end: dt.datetime
    value: float | None
    projected: float | None
    state: StateName
    volume: float
    evaluated_at: dt.datetime | None


class AttainmentOut(Output):
    contract: ContractOut
    targets: list[TargetAttainment]


class IntervalPoint(Output):
    start: dt.datetime
    contacts: int  # the service level's denominator in the interval
    service_level: float | None


class IntervalSeriesOut(Output):
    """The service level of each 15-minute interval of a local day, by the contract in force that day."""

    day: dt.date
    timezone: str
    definition: str
    within_seconds: int
    minimum: float
    points: list[IntervalPoint]


class AlertOut(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    contract_id: uuid.UUID
    contract_version: int
    target: TargetOut
    window_start: dt.datetime
    window_end: dt.datetime
    state: StateName
    value: float | None
    projected: float | None
    raised_at: dt.datetime


class SlaAlertRaised(msgspec.Struct, kw_only=True, frozen=True):
    """The payload of ``sla.at_risk`` and ``sla.breached`` outbox events (what tenants' webhooks will carry)."""

    alert_id: uuid.UUID
    tenant_id: uuid.UUID
    contract_id: uuid.UUID
    contract_version: int
    target_id: uuid.UUID
    measure: str
    window: str
    window_start: dt.datetime
    window_end: dt.datetime
    state: str
    value: float | None
    projected: float | None
    minimum: float | None
    maximum: float | None
    within_seconds: int | None
