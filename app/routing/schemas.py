"""Request and response structs of the routing API: configuration, disposition codes, interactions, queues now."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

from app.core.structs import Input, Output

SkillName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        description="lowercase letters, digits, '_', '.' and '-', e.g. billing or spanish.tier2",
    ),
]
Proficiency = Annotated[int, msgspec.Meta(ge=1, le=5, description="1 (novice) to 5 (expert)")]
SkillMap = Annotated[
    dict[SkillName, Proficiency],
    msgspec.Meta(max_length=50, description="skill name -> minimum proficiency (1-5)"),
]
Seconds = Annotated[int, msgspec.Meta(ge=1, le=86_400, description="seconds")]
AttributeKindName = Literal["language", "certification", "clearance"]
AttributeValue = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="a language tag (fr, pt-BR) or a certification/clearance code (pci-dss); case-insensitive",
    ),
]
ChannelName = Literal["voice", "chat"]
QueueName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Priority = Annotated[int, msgspec.Meta(ge=0, le=100, description="higher is served first")]
ServiceLevel = Annotated[float, msgspec.Meta(gt=0, le=1, description="share to answer within the target, 0..1")]
Script = Annotated[str, msgspec.Meta(max_length=4000, description="shown to the agent with each contact")]


class RelaxationStepIn(Input):
    after_seconds: Seconds
    skills: SkillMap = msgspec.field(default_factory=dict)


class RelaxationStepOut(Output):
    after_seconds: int
    skills: dict[str, int]


class Attribute(Input):
    """A hard attribute: a language, certification or clearance."""

    kind: AttributeKindName
    value: AttributeValue


class AttributeOut(Output):
    kind: str
    value: str


RelaxationSteps = Annotated[list[RelaxationStepIn], msgspec.Meta(max_length=10)]
Attributes = Annotated[list[Attribute], msgspec.Meta(max_length=20)]


class QueueCreate(Input):
    name: QueueName
    channel: ChannelName = "voice"
    priority: Priority = 0
    skills: SkillMap = msgspec.field(default_factory=dict)
    relaxation: RelaxationSteps = msgspec.field(default_factory=list)
    required_attributes: Attributes = msgspec.field(default_factory=list)
    answer_target_seconds: Seconds = 20
    target_service_level: ServiceLevel = 0.8
    max_wait_seconds: Seconds | None = None
    overflow_queue_id: uuid.UUID | None = None
    overflow_after_seconds: Seconds | None = None
    wrap_up_seconds: Annotated[int, msgspec.Meta(ge=0, le=3_600)] = 0
    callback_offer_after_seconds: Seconds | None = None
    script: Script = ""
    is_active: bool = True


class QueueUpdate(Input):
    """Only the fields given change; null clears an optional one."""

    name: QueueName | msgspec.UnsetType = msgspec.UNSET
    channel: ChannelName | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    skills: SkillMap | msgspec.UnsetType = msgspec.UNSET
    relaxation: RelaxationSteps | msgspec.UnsetType = msgspec.UNSET
    required_attributes: Attributes | msgspec.UnsetType = msgspec.UNSET
    answer_target_seconds: Seconds | msgspec.UnsetType = msgspec.UNSET
    target_service_level: ServiceLevel | msgspec.UnsetType = msgspec.UNSET
    max_wait_seconds: Seconds | msgspec.UnsetType | None = msgspec.UNSET
    overflow_queue_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    overflow_after_seconds: Seconds | msgspec.UnsetType | None = msgspec.UNSET
    wrap_up_seconds: Annotated[int, msgspec.Meta(ge=0, le=3_600)] | msgspec.UnsetType = msgspec.UNSET
    callback_offer_after_seconds: Seconds | msgspec.UnsetType | None = msgspec.UNSET
    script: Script | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class QueueOut(Output):
    id: uuid.UUID
    name: str
    channel: str
    priority: int
    skills: dict[str, int]
    relaxation: list[RelaxationStepOut]
    required_attributes: list[AttributeOut]
    answer_target_seconds: int
    target_service_level: float
    max_wait_seconds: int | None
    overflow_queue_id: uuid.UUID | None
    overflow_after_seconds: int | None
    wrap_up_seconds: int
    callback_offer_after_seconds: int | None
    script: str
    is_active: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


NumberLabel = Annotated[str, msgspec.Meta(max_length=100, description="what the number is for, e.g. UK support")]


class PhoneNumberCreate(Input):
    number: Annotated[
        str,
        msgspec.Meta(
            min_length=3, max_length=40, description="E.164 (+442071838750); spaces, dashes and dots are allowed"
        ),
    ]
    # Where calls go: through an entry point (hours, IVR) or straight to a voice queue; exactly one.
    queue_id: uuid.UUID | None = None
    entry_point_id: uuid.UUID | None = None
    label: NumberLabel = ""


class PhoneNumberUpdate(Input):
    """Points a number at another voice queue or entry point (one of the two), or relabels it."""

    queue_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    entry_point_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    label: NumberLabel | msgspec.UnsetType = msgspec.UNSET


class PhoneNumberOut(Output):
    id: uuid.UUID
    number: str
    queue_id: uuid.UUID | None
    entry_point_id: uuid.UUID | None
    label: str
    created_at: dt.datetime


class AgentSkillIn(Input):
    """Sets an agent's proficiency in a skill for the acting tenant (replaces the current one)."""

    agent_id: uuid.UUID
    skill: SkillName
    proficiency: Proficiency


class AgentSkillOut(Output):
    id: uuid.UUID
    agent_id: uuid.UUID
    skill: str
    proficiency: int
    created_at: dt.datetime
    updated_at: dt.datetime


class AgentAttributeIn(Input):
    """Gives an agent a hard attribute for the acting tenant (replaces the expiry of an existing one)."""

    agent_id: uuid.UUID
    kind: AttributeKindName
    value: AttributeValue
    valid_until: dt.date | None = None


class AgentAttributeOut(Output):
    id: uuid.UUID
    agent_id: uuid.UUID
    kind: str
    value: str
    valid_until: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime


# --- disposition codes -------------------------------------------------------------------------------

DispositionCodeName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="lowercase letters, digits, '-' and '_', up to 64, e.g. follow-up; interactions and reports "
        "keep it, so it never changes",
    ),
]
DispositionLabel = Annotated[
    str, msgspec.Meta(min_length=1, max_length=100, description="what agents and reports show, e.g. Follow-up needed")
]
DispositionDescription = Annotated[str, msgspec.Meta(max_length=500, description="when agents should choose it")]
DispositionSortOrder = Annotated[
    int, msgspec.Meta(ge=0, le=10_000, description="place in the agents' list: smaller first, then by label")
]


class DispositionCodeCreate(Input):
    code: DispositionCodeName
    label: DispositionLabel
    description: DispositionDescription = ""
    is_active: bool = True
    sort_order: DispositionSortOrder = 0


class DispositionCodeUpdate(Input):
    """Only the fields given change. The code itself stays: deactivate it and create another instead."""

    label: DispositionLabel | msgspec.UnsetType = msgspec.UNSET
    description: DispositionDescription | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    sort_order: DispositionSortOrder | msgspec.UnsetType = msgspec.UNSET


class DispositionCodeOut(Output):
    id: uuid.UUID
    code: str
    label: str
    description: str
    is_active: bool
    sort_order: int
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- interactions (read only: the router writes them) -----------------------------------------------

InteractionStateName = Literal["waiting", "offered", "connected", "ended", "abandoned", "removed"]
InteractionSort = Literal["arrived_at", "-arrived_at"]


class AgentRef(Output):
    """An agent as the tenant knows them: the alias of their assignment, never the operator's personal data."""

    agent_id: uuid.UUID
    alias: Annotated[str | None, msgspec.Meta(description="null: the agent no longer works for the tenant")]


class DispositionRef(Output):
    code: str
    label: Annotated[str | None, msgspec.Meta(description="null: not one of the tenant's disposition codes")]


class InteractionSummary(Output):
    """One contact of the tenant, as the router last recorded it."""

    id: uuid.UUID
    queue_id: Annotated[uuid.UUID, msgspec.Meta(description="the queue it is in now (or ended in)")]
    channel: str
    state: InteractionStateName
    caller: str
    agent: Annotated[AgentRef | None, msgspec.Meta(description="the agent on offer or connected, or who ended it")]
    arrived_at: dt.datetime
    answered_at: Annotated[
        dt.datetime | None, msgspec.Meta(description="when an agent last answered it (again after a transfer)")
    ]
    ended_at: Annotated[dt.datetime | None, msgspec.Meta(description="ended, abandoned or removed")]
    hold_seconds: Annotated[float, msgspec.Meta(description="time on hold, holds that are over")]
    transfers: int
    disposition: DispositionRef | None


class InteractionEventOut(Output):
    type: Annotated[
        str,
        msgspec.Meta(
            description="arrived, offered, offer_rejected, offer_revoked, answered, held, resumed, transferred, "
            "overflowed, callback_offered, callback_requested, ended, wrapped_up, abandoned, max_wait, "
            "queue_closed, ..."
        ),
    ]
    at: dt.datetime
    agent: AgentRef | None
    queue_id: uuid.UUID | None
    data: dict[str, Any]


class InteractionOut(InteractionSummary):
    """A contact with its events in the router's log order and its times, counted as reports count them."""

    context: Annotated[dict[str, Any], msgspec.Meta(description="IVR choices, telephony reference, CRM lookup")]
    wait_seconds: Annotated[
        float | None,
        msgspec.Meta(description="from arrival to the first answer, or to its end if never answered; null meanwhile"),
    ]
    talk_seconds: Annotated[
        float, msgspec.Meta(description="connected time less hold, over the connected spells that are over")
    ]
    events: list[InteractionEventOut]


# --- queues now ---------------------------------------------------------------------------------------


class ServiceLevelToday(Output):
    """The queue's contacts that arrived today (the tenant's day), from the reporting rollups (a few seconds
    behind): the same figures as the service-level report."""

    service_level: Annotated[float | None, msgspec.Meta(description="by ``definition``; null with nothing to count")]
    target_service_level: Annotated[float | None, msgspec.Meta(description="the goal, 0..1")]
    answer_target_seconds: Annotated[float, msgspec.Meta(description="T: waits shorter than this are within")]
    offered: int
    answered: int
    answered_within: int
    abandoned: int
    definition: str
    contract_version: Annotated[int | None, msgspec.Meta(description="the SLA contract version measured against")]


class QueueLiveOut(Output):
    """A queue now, as the router shows it (contacts and agents) and as reporting counts today."""

    queue_id: uuid.UUID
    name: str
    channel: str
    is_active: bool
    waiting: Annotated[int, msgspec.Meta(description="contacts waiting for an agent (not on offer)")]
    offered: Annotated[int, msgspec.Meta(description="contacts on offer to an agent")]
    connected: Annotated[int, msgspec.Meta(description="contacts connected to an agent")]
    longest_wait_seconds: Annotated[
        float | None, msgspec.Meta(description="how long the oldest waiting contact has waited; null: none waits")
    ]
    agents_available: Annotated[
        int,
        msgspec.Meta(
            description="agents available now who may take its contacts (assigned to the tenant, holding its hard "
            "requirements, meeting its most relaxed skills); another tenant's contact may take them first"
        ),
    ]
    agents_busy: Annotated[int, msgspec.Meta(description="agents with one of its contacts on offer or connected")]
    agents_wrap_up: Annotated[int, msgspec.Meta(description="agents wrapping up one of its contacts")]
    service_level_today: Annotated[
        ServiceLevelToday | None, msgspec.Meta(description="null: no contact of the queue counted today yet")
    ]
    as_of: Annotated[dt.datetime, msgspec.Meta(description="when the router's live view was read")]


class QueueLiveList(Output):
    items: list[QueueLiveOut]
