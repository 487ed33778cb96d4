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
from sqlmodel import Field

from app.core.clock import utcnow
from app.core.models import TenantScoped

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
    is_active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class PhoneNumber(TenantScoped, table=True):
    """A DID that routes inbound calls to one of the tenant's queues, in E.164 form.

    Unique per tenant only. Inbound routing needs a number to be unique across all tenants, but a global
    unique index would let one tenant learn (from the conflict) that another holds a number, since unique
    checks see past row-level security. Global uniqueness belongs to the telephony layer: the operator's
    number registry (the carrier account's numbers, operator-level) decides which tenant a number is
    provisioned to, and only that tenant may map it here.
    """

    __tablename__ = "phone_numbers"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number"),
        sa.ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"]),
        sa.Index("ix_phone_numbers_queue", "tenant_id", "queue_id"),
    )

    number: str = Field(max_length=16)
    queue_id: uuid.UUID
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
