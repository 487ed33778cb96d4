"""Report requests and results, scheduled reports, and the figures other domains read from the rollups."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

from app.core.structs import Input, Output
from app.reporting.engine.figures import SlCounts, sl_counts
from app.reporting.engine.periods import Frequency

ReportKind = Literal["service-level", "volumes", "occupancy", "agents", "dispositions"]
REPORT_KINDS: tuple[ReportKind, ...] = ("service-level", "volumes", "occupancy", "agents", "dispositions")
REPORT_TITLES = {
    "service-level": "Service level",
    "volumes": "Volumes and handling",
    "occupancy": "Occupancy and utilisation",
    "agents": "Agent performance",
    "dispositions": "Dispositions",
    "tenants": "Tenants overview",
}
Granularity = Literal["interval", "day"]
ExportFormat = Literal["csv", "xlsx"]

Seconds = Annotated[float | None, msgspec.Meta(description="seconds; null when there is nothing to average")]
Rate = Annotated[float | None, msgspec.Meta(description="a share, 0..1; null when there is nothing to divide by")]


# --- what other domains read (SLA, WFM) ------------------------------------------------------------


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    """Rollup rows summed: counts, cumulative wait histograms (see ``WAIT_EDGES``), seconds."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    removed: int = 0
    answered_wait_hist: tuple[int, ...]
    abandoned_wait_hist: tuple[int, ...]
    wait_seconds: float = 0.0
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    wrap_seconds: float = 0.0
    handled: int = 0
    transfers: int = 0
    resolved: int = 0
    dispositions: dict[str, int] = msgspec.field(default_factory=dict)

    def sl_counts(self, target_seconds: float, short_abandon_seconds: float) -> SlCounts:
        """Both thresholds must be wait histogram edges."""
        return sl_counts(
            self.offered, self.answered_wait_hist, self.abandoned_wait_hist, target_seconds, short_abandon_seconds
        )


class IntervalFigures(Figures, frozen=True, kw_only=True):
    """One queue's totals in one 15-minute interval (arrival-based and handle-based, see the engine)."""

    interval_start: dt.datetime
    queue_id: uuid.UUID


class PresenceFigures(msgspec.Struct, frozen=True, kw_only=True):
    """One agent's seconds per presence state in one 15-minute interval (across every tenant it works for)."""

    agent_id: uuid.UUID
    interval_start: dt.datetime
    available: float
    offered: float
    on_contact: float
    wrap_up: float
    on_break: float
    offline: float


class HandledContact(msgspec.Struct, frozen=True, kw_only=True):
    """A contact whose handling ended, its work counted as the rollups count it (exact seconds); billing meters it.

    Talk and hold are summed over its connected segments (a transferred contact has several), and so is the
    wrap-up of each segment's agent after it; ``wrap_seconds`` is None while one of them is still running.
    """

    interaction_id: uuid.UUID
    log_seq: int  # the log position of its ``ended`` event
    position: int
    ended_at: dt.datetime
    queue_id: uuid.UUID  # the queue it was last answered in (where its end counts)
    agent_id: uuid.UUID  # the agent who ended it
    channel: str
    talk_seconds: Decimal
    hold_seconds: Decimal
    wrap_seconds: Decimal | None
    transfers: int
    outbound: bool  # a callback: the platform dialled the customer for the agent (an outbound attempt)


class PoolPresence(msgspec.Struct, frozen=True, kw_only=True):
    """The whole pool's seconds per presence state over a span (offline left out: not staffed time), with
    occupancy (on contact and wrap-up over working time: not on break) and utilisation (working over staffed)."""

    available: float
    offered: float
    on_contact: float
    wrap_up: float
    on_break: float
    occupancy: float | None
    utilisation: float | None


# --- reports -----------------------------------------------------------------------------------------


class ReportQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A report's period (local days of the tenant, both included) and filters."""

    first_day: dt.date
    last_day: dt.date
    granularity: Granularity = "day"
    queue_ids: tuple[uuid.UUID, ...] = ()
    agent_id: uuid.UUID | None = None


class ServiceLevelRow(Output):
    period_start: dt.datetime
    queue_id: uuid.UUID
    queue: str
    offered: int
    answered: int
    answered_within: int
    abandoned: int
    abandoned_within: int
    abandoned_short: int
    answer_target_seconds: Annotated[float, msgspec.Meta(description="T: waits shorter than this are within")]
    target_service_level: Annotated[float | None, msgspec.Meta(description="the goal, 0..1")]
    service_level: Annotated[float | None, msgspec.Meta(description="by ``definition``; null with no contacts")]
    met: bool | None
    definition: Annotated[
        str,
        msgspec.Meta(
            description="the SLA contract's service-level definition (answered, answered_and_abandoned, "
            "offered_less_short_abandons) when the tenant has a contract; otherwise routing's own measure, "
            "answered within T / (answered + abandoned), with each queue's answer target and goal"
        ),
    ]
    contract_version: Annotated[int | None, msgspec.Meta(description="the SLA contract version measured against")]


class VolumeRow(Output):
    period_start: dt.datetime
    offered: Annotated[int | None, msgspec.Meta(description="null when filtered by agent: arrivals have none")]
    answered: int
    abandoned: int | None
    removed: int | None
    abandon_rate: Rate
    asa_seconds: Seconds
    handled: int
    aht_seconds: Seconds
    talk_seconds: Seconds
    hold_seconds: Seconds
    wrap_up_seconds: Seconds
    transfers: int
    fcr: Rate


class OccupancyRow(Output):
    period_start: dt.datetime
    agents: int
    staffed_seconds: float
    available_seconds: float
    offered_seconds: float
    on_contact_seconds: float
    wrap_up_seconds: float
    break_seconds: float
    occupancy: Annotated[
        float | None, msgspec.Meta(description="(on contact + wrap-up) / (available + offered + on contact + wrap-up)")
    ]
    utilisation: Annotated[
        float | None, msgspec.Meta(description="(available + offered + on contact + wrap-up) / staffed (not offline)")
    ]
    tenant_busy_seconds: float
    tenant_share: Annotated[
        float | None,
        msgspec.Meta(description="this tenant's talk, hold and wrap-up / the agents' on contact + wrap-up"),
    ]


class AgentRow(Output):
    agent_id: uuid.UUID
    agent: str
    answered: int
    handled: int
    aht_seconds: Seconds
    talk_seconds: Seconds
    hold_seconds: Seconds
    wrap_up_seconds: Seconds
    transfers: int
    fcr: Rate
    staffed_seconds: float
    occupancy: Rate
    utilisation: Rate
    tenant_share: Rate


class DispositionRow(Output):
    disposition: str
    contacts: int
    share: Rate
    label: str | None = None  # the code's label; null: not one of the tenant's codes


class TenantOverviewRow(Output):
    tenant_id: uuid.UUID
    tenant: str
    offered: int
    answered: int
    abandoned: int
    abandon_rate: Rate
    service_level: Rate
    asa_seconds: Seconds
    aht_seconds: Seconds
    fcr: Rate


RowT = TypeVar("RowT")


class Report(Output, Generic[RowT]):
    report: str
    tenant_id: uuid.UUID | None
    timezone: str
    first_day: dt.date
    last_day: dt.date
    granularity: str
    queue_ids: list[uuid.UUID]
    agent_id: uuid.UUID | None
    rows: list[RowT]


# --- scheduled reports -------------------------------------------------------------------------------

ScheduleName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
TimeOfDay = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, local time")]
Weekday = Annotated[int, msgspec.Meta(ge=0, le=6, description="0 Monday .. 6 Sunday")]
Email = Annotated[
    str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254, description="an email address")
]
Recipients = Annotated[
    list[Email],
    msgspec.Meta(
        max_length=20,
        description="email addresses; empty: delivered only to the tenant's webhook endpoints subscribed to "
        "report.delivered (the event carries the file)",
    ),
]
ScheduledPeriod = Literal["yesterday", "last_7_days", "last_week", "last_month"]
QueueIds = Annotated[list[uuid.UUID], msgspec.Meta(max_length=50)]


class ReportScheduleCreate(Input):
    """Sent at ``time_of_day``, daily or weekly on ``weekday``, for ``period``: by email (CSV or XLSX attached) to
    the recipients, and always as a ``report.delivered`` webhook event carrying the file."""

    name: ScheduleName
    report: ReportKind
    recipients: Recipients
    granularity: Granularity = "day"
    queue_ids: QueueIds = msgspec.field(default_factory=list)
    agent_id: uuid.UUID | None = None
    period: ScheduledPeriod = "yesterday"
    frequency: Frequency = "daily"
    weekday: Weekday | None = None
    time_of_day: TimeOfDay = "07:00"
    format: ExportFormat = "csv"
    enabled: bool = True


class ReportScheduleUpdate(Input):
    name: ScheduleName | msgspec.UnsetType = msgspec.UNSET
    report: ReportKind | msgspec.UnsetType = msgspec.UNSET
    granularity: Granularity | msgspec.UnsetType = msgspec.UNSET
    queue_ids: QueueIds | msgspec.UnsetType = msgspec.UNSET
    agent_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    period: ScheduledPeriod | msgspec.UnsetType = msgspec.UNSET
    frequency: Frequency | msgspec.UnsetType = msgspec.UNSET
    weekday: Weekday | msgspec.UnsetType | None = msgspec.UNSET
    time_of_day: TimeOfDay | msgspec.UnsetType = msgspec.UNSET
    format: ExportFormat | msgspec.UnsetType = msgspec.UNSET
    recipients: Recipients | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class ReportScheduleOut(Output):
    id: uuid.UUID
    name: str
    report: str
    granularity: str
    queue_ids: list[uuid.UUID]
    agent_id: uuid.UUID | None
    period: str
    frequency: str
    weekday: int | None
    time_of_day: str
    format: str
    recipients: list[str]
    enabled: bool
    next_due_at: dt.datetime
    last_delivered_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ReportDelivered(msgspec.Struct, frozen=True, kw_only=True):
    """Payload of the ``report.delivered`` outbox event (the webhooks issue delivers it to tenants' endpoints)."""

    schedule_id: uuid.UUID
    schedule: str
    report: str
    format: str
    first_day: dt.date
    last_day: dt.date
    due_at: dt.datetime
    filename: str
    rows: int
    recipients: int
    media_type: str
    # The file itself, base64, for the tenant's webhook endpoints (None above WEBHOOK_FILE_LIMIT_BYTES:
    # the export API gives the same report for the same period).
    content_base64: str | None
