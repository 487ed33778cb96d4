"""Tenancy and identity tables.

``operators``, ``tenants``, ``users`` and ``agents`` are operator-level (no tenant_id): the outsourcer
owns its people. What ties a person to a client program is tenant data: memberships, agent
assignments, API clients, SSO connections, all under row-level security.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from app.core.clock import utcnow
from app.core.models import TenantScoped, new_id

TIMESTAMP = sa.DateTime(timezone=True)


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETING = "deleting"
    DELETED = "deleted"


class Operator(SQLModel, table=True):
    __tablename__ = "operators"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    operator_id: uuid.UUID = Field(foreign_key="operators.id")
    slug: str = Field(max_length=63, sa_column_kwargs={"unique": True})
    name: str = Field(max_length=200)
    status: str = Field(default=TenantStatus.ACTIVE, max_length=16)
    timezone: str = Field(default="UTC", max_length=64)
    locale: str = Field(default="en-US", max_length=35)
    # {"mon": [["08:00", "20:00"]], ...}; a missing day is closed.
    business_hours: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    holidays: list[str] = Field(default_factory=list, sa_type=JSONB)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    status_changed_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)


class User(SQLModel, table=True):
    """A login. Operator staff carry a platform role; tenant staff get roles through memberships."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True})
    display_name: str = Field(max_length=200)
    password_hash: str | None = Field(default=None, max_length=255)
    platform_role: str | None = Field(default=None, max_length=32)
    is_active: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    last_login_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)


class TenantMembership(TenantScoped, table=True):
    __tablename__ = "tenant_memberships"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "user_id"),)

    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=32)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class Agent(SQLModel, table=True):
    """An operator employee who works contacts; assigned to one or more tenants."""

    __tablename__ = "agents"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", sa_column_kwargs={"unique": True}, ondelete="CASCADE")
    employee_code: str = Field(max_length=32, sa_column_kwargs={"unique": True})
    site: str = Field(default="", max_length=100)
    # Concurrent chats the agent can take (0: voice only); a voice contact always takes the agent whole.
    chat_capacity: int = Field(default=0)
    is_active: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class AgentAssignment(TenantScoped, table=True):
    __tablename__ = "agent_assignments"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "agent_id"),)

    agent_id: uuid.UUID = Field(foreign_key="agents.id", index=True, ondelete="CASCADE")
    # What the tenant sees of the agent: never the operator's personal data.
    alias: str = Field(max_length=100)
    # Dedicated to the tenant: the agent works for it alone, and the tenant pays its seat time (seat-hours)
    # from ``dedicated_since`` on.
    dedicated: bool = Field(default=False)
    dedicated_since: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class ApiClientStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class ApiClient(TenantScoped, table=True):
    """An OAuth2 client-credentials program (a tenant's CRM). Secrets are stored hashed only."""

    __tablename__ = "api_clients"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name"),
        sa.UniqueConstraint("tenant_id", "client_id"),
    )

    name: str = Field(max_length=100)
    client_id: str = Field(max_length=80)
    secret_hash: str = Field(max_length=128)
    # During a rotation the old secret keeps working until this time.
    previous_secret_hash: str | None = Field(default=None, max_length=128)
    previous_secret_expires_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    scopes: list[str] = Field(default_factory=list, sa_type=ARRAY(sa.String(64)))
    status: str = Field(default=ApiClientStatus.ACTIVE, max_length=16)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    rotated_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    # Held, reversibly, by another domain (``suspended_by``, e.g. "billing" for an overdue invoice): neither a new
    # token nor an issued one works until the same domain lifts it. Revocation, by contrast, is for good.
    suspended_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMP)
    suspended_by: str | None = Field(default=None, max_length=32)


class SsoConnection(TenantScoped, table=True):
    """OIDC single sign-on for a tenant's staff. The client secret is encrypted with the app key."""

    __tablename__ = "sso_connections"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    issuer: str = Field(max_length=500)
    client_id: str = Field(max_length=200)
    client_secret_encrypted: str = Field(max_length=1000)
    allowed_email_domains: list[str] = Field(default_factory=list, sa_type=ARRAY(sa.String(253)))
    # Role given to a person the IdP vouches for who has no membership yet (None: no provisioning).
    provision_role: str | None = Field(default=None, max_length=32)
    enabled: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


class AuditEntry(SQLModel, table=True):
    """Append-only: the runtime role may insert and read, never update or delete (grants and a trigger).

    ``tenant_id`` is empty for operator-level events; a tenant reads only its own entries. Keyed by
    ``id`` alone because operator-level entries belong to no tenant.
    """

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_tenant_time", "tenant_id", "occurred_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant_id: uuid.UUID | None = Field(default=None, foreign_key="tenants.id")
    actor_kind: str = Field(max_length=16)
    actor_id: uuid.UUID | None = Field(default=None)
    actor_name: str = Field(default="", max_length=254)
    action: str = Field(max_length=64)
    object_type: str = Field(default="", max_length=64)
    object_id: str = Field(default="", max_length=100)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    ip: str | None = Field(default=None, max_length=45)
    request_id: str | None = Field(default=None, max_length=64)
    occurred_at: dt.datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
