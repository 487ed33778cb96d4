"""Request and response structs for tenancy and identity."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

from app.core.structs import Input, Output

Slug = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
        description="lowercase letters, digits and dashes",
    ),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Password = Annotated[
    str,
    msgspec.Meta(min_length=12, max_length=256, description="at least 12 characters"),
]
TimeOfDay = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
IsoDate = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
TenantRoleName = Literal["tenant_admin", "supervisor", "report_viewer"]
OperatorRoleName = Literal["operator_admin", "ops_manager"]


class TenantCreate(Input):
    slug: Slug
    name: Name
    timezone: str = "UTC"
    locale: str = "en-US"
    business_hours: dict[Weekday, list[tuple[TimeOfDay, TimeOfDay]]] = msgspec.field(default_factory=dict)
    holidays: list[IsoDate] = msgspec.field(default_factory=list)


class TenantUpdate(Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    timezone: str | msgspec.UnsetType = msgspec.UNSET
    locale: str | msgspec.UnsetType = msgspec.UNSET
    business_hours: dict[Weekday, list[tuple[TimeOfDay, TimeOfDay]]] | msgspec.UnsetType = msgspec.UNSET
    holidays: list[IsoDate] | msgspec.UnsetType = msgspec.UNSET


class TenantOut(Output):
    id: uuid.UUID
    slug: str
    name: str
    status: str
    timezone: str
    locale: str
    business_hours: dict[str, Any]
    holidays: list[str]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class TenantUserCreate(Input):
    email: Email
    display_name: Name
    role: TenantRoleName
    password: Password | None = None


class TenantUserUpdate(Input):
    role: TenantRoleName | msgspec.UnsetType = msgspec.UNSET
    display_name: Name | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class TenantUserOut(Output):
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    is_active: bool
    created_at: dt.datetime


class StaffCreate(Input):
    email: Email
    display_name: Name
    role: OperatorRoleName
    password: Password


class StaffOut(Output):
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    is_active: bool
    created_at: dt.datetime


class AgentCreate(Input):
    email: Email
    display_name: Name
    employee_code: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,32}$")]
    password: Password
    site: Annotated[str, msgspec.Meta(max_length=100)] = ""


class AssignmentOut(Output):
    tenant_id: uuid.UUID
    alias: str


class AgentOut(Output):
    id: uuid.UUID
    email: str
    display_name: str
    employee_code: str
    site: str
    is_active: bool
    assignments: list[AssignmentOut]


class AgentAssign(Input):
    tenant_id: uuid.UUID
    alias: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class TenantAgentOut(Output):
    """An agent as a tenant sees them: an alias, never the operator's personal data."""

    id: uuid.UUID
    agent_id: uuid.UUID
    alias: str
    assigned_at: dt.datetime


class AuditEntryOut(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID | None
    actor_kind: str
    actor_id: uuid.UUID | None
    actor_name: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    ip: str | None
    request_id: str | None
    occurred_at: dt.datetime


class MeOut(Output):
    kind: str
    subject_id: uuid.UUID | None
    display_name: str
    tenant_id: uuid.UUID | None
    roles: list[str]
    scopes: list[str]


class Credentials(Input):
    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=256)]


class MembershipOut(Output):
    tenant_id: uuid.UUID
    role: str


class SessionOut(Output):
    user_id: uuid.UUID
    acting_tenant_id: uuid.UUID | None
    csrf_token: str
    tenants: list[MembershipOut]
