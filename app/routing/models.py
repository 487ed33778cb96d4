"""Routing configuration tables: queues, phone numbers (DIDs), agents' skills and hard attributes per tenant.

These rows feed the pure engine's configuration (``app.routing.engine.model``): a ``Queue`` becomes a
``QueueConfig``, an agent's ``AgentSkill`` and ``AgentAttribute`` rows in a tenant become that tenant's
entries in ``AgentConfig.skills`` and ``AgentConfig.attributes`` (as ``attribute_token`` strings).
Business hours and holidays live on the tenant (``tenants.models.Tenant``).

References inside a tenant use composite foreign keys ``(tenant_id, ...)``, so the database itself refuses
an overflow target or a number's queue of another tenant.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.core.clock import utcnow
from app.core.models import TenantScoped, new_id

TIMESTAMP = sa.DateTime(timezone=True)


class QueueChannel(enum.StrEnum):
    VOICE = "voice"
    CHAT = "chat"


class AttributeKind(enum.StrEnum):
    LANGUAGE = "language"
    CERTIFICATION = "certification"
    CLEARANCE = "clearance"


def attribute_token(kind: str, value: str) -> str:
    """The engine's name for a hard attribute (``QueueConfig.required_attributes``, ``AgentConfig.attributes``)."""
    return f"{kind}:{value}"


class Queue(TenantScoped, table=True):
    """A queue of one tenant. ``version`` is bumped on every change (ETag / If-Match)."""

    __tablename__ = "queues"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "overflow_queue_id"], ["queues.tenant_id", "queues.id"], name="fk_queues_overflow_queue"
        ),
    )

    name: str = Field(max_length=100)
    channel: str = Field(default=QueueChannel.VOICE, max_length=8)
    priority: int = Field(default=0)
    # Soft skills: skill name -> minimum proficiency (1-5); relaxed by the steps below.
    skills: dict[str, int] = Field(default_factory=dict, sa_type=JSONB)
    # [{"after_seconds": 30, "skills": {...}}, ...] sorted by after_seconds, each ring wider than the last.
    relaxation: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    # Hard: [{"kind": "language", "value": "fr"}, ...]; never relaxed.
    required_attributes: list[dict[str, str]] = Field(default_factory=list, sa_type=JSONB)
    answer_target_seconds: int = Field(default=20)
    target_service_level: float = Field(default=0.8)
    max_wait_seconds: int | None = Field(default=None)
    overflow_queue_id: uuid.UUID | None = Field(default=None)
    overflow_after_seconds: int | None = Field(default=None)
    wrap_up_seconds: int = Field(default=0)
    callback_offer_after_seconds: int | None = Field(default=None)
    # Shown to the agent with every contact of this queue (greeting, checks to make, what to offer).
    script: str = Field(default="", max_length=4000)
    is_active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class PhoneNumber(TenantScoped, table=True):
    """A DID that routes inbound calls to one of the tenant's entry points or queues, in E.164 form.

    Unique per tenant only. Inbound routing needs a number to be unique across all tenants, but a global
    unique index would let one tenant learn (from the conflict) that another holds a number, since unique
    checks see past row-level security. Global uniqueness belongs to the telephony layer: the operator's
    number registry (``app.telephony.models.ProvisionedNumber``, operator-level) decides which tenant a
    number is provisioned to, and only that tenant may map it here.
    """

    __tablename__ = "phone_numbers"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number"),
        sa.ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"]),
        sa.ForeignKeyConstraint(
            ["tenant_id", "entry_point_id"],
            ["entry_points.tenant_id", "entry_points.id"],
            name="fk_phone_numbers_entry_point",
        ),
        sa.CheckConstraint("num_nonnulls(queue_id, entry_point_id) = 1", name="ck_phone_numbers_one_target"),
        sa.Index("ix_phone_numbers_queue", "tenant_id", "queue_id"),
        sa.Index("ix_phone_numbers_entry_point", "tenant_id", "entry_point_id"),
    )

    number: str = Field(max_length=16)
    # Calls go through an entry point (``app.telephony.models.EntryPoint``: hours, IVR) or straight to a
    # queue: exactly one of the two.
    queue_id: uuid.UUID | None = Field(default=None)
    entry_point_id: uuid.UUID | None = Field(default=None)
    label: str = Field(default="", max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class AgentSkill(TenantScoped, table=True):
    """An operator agent's proficiency (1-5) in a skill, for one tenant."""

    __tablename__ = "agent_skills"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "agent_id", "skill"),)

    agent_id: uuid.UUID = Field(foreign_key="agents.id", index=True, ondelete="CASCADE")
    skill: str = Field(max_length=64)
    proficiency: int
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class AgentAttribute(TenantScoped, table=True):
    """A hard attribute of an agent for one tenant (language, certification, clearance); optional expiry."""

    __tablename__ = "agent_attributes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "agent_id", "kind", "value"),)

    agent_id: uuid.UUID = Field(foreign_key="agents.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    value: str = Field(max_length=64)
    # Last day the attribute holds (a certification's expiry); None: no expiry.
    valid_until: dt.date | None = Field(default=None)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


# --- the router's log and what it projects ---------------------------------------------------------


class InteractionState(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    CONNECTED = "connected"
    ENDED = "ended"  # handled: the conversation is over (wrap-up is the agent's, not the contact's)
    ABANDONED = "abandoned"  # the caller hung up before an agent answered
    REMOVED = "removed"  # taken out of line by the queue's rules (max wait, queue closed) or a callback's cancel


class Interaction(TenantScoped, table=True):
    """One contact of a tenant, as the router sees it; written only by the router (see ``app.routing.router``).

    ``id`` is chosen by whoever submits the contact (telephony adapter, simulator), so a caller's call
    and its interaction share one id from the first webhook on.
    """

    __tablename__ = "interactions"
    __table_args__ = (
        sa.ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"]),
        sa.Index("ix_interactions_arrived", "tenant_id", "arrived_at"),
        sa.Index("ix_interactions_queue", "tenant_id", "queue_id", "arrived_at"),
        # The API's filters (a CRM's "this caller's contacts"), and whether a disposition code was ever used.
        # Caller never changes, so its index keeps the router's updates HOT; a disposition is set once.
        sa.Index("ix_interactions_caller", "tenant_id", "caller", "arrived_at"),
        sa.Index(
            "ix_interactions_disposition",
            "tenant_id",
            "disposition",
            "arrived_at",
            postgresql_where=sa.text("disposition IS NOT NULL"),
        ),
    )

    queue_id: uuid.UUID
    channel: str = Field(default=QueueChannel.VOICE, max_length=8)
    state: str = Field(default=InteractionState.WAITING, max_length=16)
    caller: str = Field(default="", max_length=32)
    # What the caller told the IVR, the telephony reference (call SID) and anything the CRM lookup adds.
    context: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    agent_id: uuid.UUID | None = Field(default=None, foreign_key="agents.id")
    arrived_at: dt.datetime = Field(sa_type=TIMESTAMP)
    answered_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    ended_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    hold_seconds: float = Field(default=0.0)
    transfers: int = Field(default=0)
    disposition: str | None = Field(default=None, max_length=64)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class DispositionCode(TenantScoped, table=True):
    """How a contact ended, as the tenant names it: agents choose one of the active codes at wrap-up.

    ``code`` is what interactions and reports keep, so it never changes once created; a code some
    interaction used is deactivated rather than deleted. ``version`` is bumped on every change (ETag).
    """

    __tablename__ = "disposition_codes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "code"),)

    code: str = Field(max_length=64)
    label: str = Field(max_length=100)
    description: str = Field(default="", max_length=500)
    is_active: bool = Field(default=True)
    sort_order: int = Field(default=0)  # the wrap-up list's order (then the label)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class InteractionEvent(TenantScoped, table=True):
    """Every transition of an interaction, in the router's log order (``log_seq``, ``position``)."""

    __tablename__ = "interaction_events"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["tenant_id", "interaction_id"], ["interactions.tenant_id", "interactions.id"], ondelete="CASCADE"
        ),
        sa.Index("ix_interaction_events_interaction", "tenant_id", "interaction_id", "log_seq", "position"),
        sa.Index("ix_interaction_events_at", "tenant_id", "at"),
        # Reporting folds each tenant's events in log order from its checkpoint (app.reporting.service).
        sa.Index("ix_interaction_events_log_order", "tenant_id", "log_seq", "position"),
    )

    interaction_id: uuid.UUID
    log_seq: int = Field(sa_type=sa.BigInteger)
    position: int = Field(default=0)  # order among the events one log entry produced
    type: str = Field(max_length=32)
    at: dt.datetime = Field(sa_type=TIMESTAMP)
    agent_id: uuid.UUID | None = Field(default=None)
    queue_id: uuid.UUID | None = Field(default=None)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)


class AgentStateChange(SQLModel, table=True):
    """An operator agent's presence over time (available, on contact, wrap-up, break with reason, offline)."""

    __tablename__ = "agent_state_changes"
    __table_args__ = (
        sa.Index("ix_agent_state_changes_agent", "agent_id", "at"),
        # Reporting folds each agent's changes in log order from its cursor (app.reporting.service).
        sa.Index("ix_agent_state_changes_agent_log_order", "agent_id", "log_seq"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    agent_id: uuid.UUID = Field(foreign_key="agents.id", ondelete="CASCADE")
    log_seq: int = Field(sa_type=sa.BigInteger)
    state: str = Field(max_length=16)
    reason: str = Field(default="", max_length=100)
    at: dt.datetime = Field(sa_type=TIMESTAMP)


class RouterLease(SQLModel, table=True):
    """The fencing record of one agent pool's router: the newest lease holder and how far it has come.

    A router writes only while ``fence`` is still its own token (checked in the same transaction), so a
    router that lost its Redis lock can never append after its successor took over.
    """

    __tablename__ = "router_leases"

    pool: str = Field(primary_key=True, max_length=64)
    fence: int = Field(sa_type=sa.BigInteger)
    log_seq: int = Field(default=0, sa_type=sa.BigInteger)  # last log entry written
    stream_position: str = Field(default="0-0", max_length=64)  # last command applied (Redis stream id)
    holder: str = Field(default="", max_length=200)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class RouterLogEntry(SQLModel, table=True):
    """One input the engine applied, in order: replaying them from a snapshot rebuilds the engine exactly."""

    __tablename__ = "router_log"

    pool: str = Field(primary_key=True, max_length=64)
    seq: int = Field(primary_key=True, sa_type=sa.BigInteger)
    fence: int = Field(sa_type=sa.BigInteger)
    kind: str = Field(max_length=32)
    event: bytes = Field(sa_type=sa.LargeBinary)  # msgpack of the engine event
    logged_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class RouterSnapshot(SQLModel, table=True):
    """The router's whole state after log entry ``seq`` (pickled engine and projection)."""

    __tablename__ = "router_snapshots"

    pool: str = Field(primary_key=True, max_length=64)
    seq: int = Field(primary_key=True, sa_type=sa.BigInteger)
    state: bytes = Field(sa_type=sa.LargeBinary)
    taken_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
