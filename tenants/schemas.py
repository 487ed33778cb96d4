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


Site = Annotated[str, msgspec.Meta(max_length=100)]
# Concurrent chats an agent takes (0: voice only); routing reads it, a voice contact takes the agent whole.
ChatCapacity = Annotated[int, msgspec.Meta(ge=0, le=10)]


class AgentCreate(Input):
    email: Email
    display_name: Name
    employee_code: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,32}$")]
    password: Password
    site: Site = ""
    chat_capacity: ChatCapacity = 0


class AgentUpdate(Input):
    site: Site | msgspec.UnsetType = msgspec.UNSET
    chat_capacity: ChatCapacity | msgspec.UnsetType = msgspec.UNSET
    # Inactive: out of routing, with the tenant assignments kept for when the agent is back.
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class AssignmentOut(Output):
    tenant_id: uuid.UUID
    alias: str
    dedicated: bool


class AgentOut(Output):
    id: uuid.UUID
    email: str
    display_name: str
    employee_code: str
    site: str
    chat_capacity: int
    is_active: bool
    assignments: list[AssignmentOut]


class AgentAssign(Input):
    tenant_id: uuid.UUID
    alias: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    # The agent works for this tenant alone, which pays its signed-in time as seat-hours (if its rate card has
    # a seat-hour charge). Refused while the agent works for another tenant.
    dedicated: bool = False


class TenantAgentOut(Output):
    """An agent as a tenant sees them: an alias, never the operator's personal data."""

    id: uuid.UUID
    agent_id: uuid.UUID
    alias: str
    dedicated: bool  # works for this tenant alone; its seat time is billed as seat-hours
    dedicated_since: dt.datetime | None
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


# --- API clients ---------------------------------------------------------------------------------

ScopeName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z][a-z_]*:[a-z][a-z_]*$",
        max_length=64,
        description="an API scope, e.g. agents:read (the service lists the known ones when one is not)",
    ),
]


class ApiClientCreate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    scopes: Annotated[list[ScopeName], msgspec.Meta(min_length=1, max_length=50)]


class ApiClientOut(Output):
    """An API client as its admins see it: never its secret, nor a digest of it."""

    id: uuid.UUID
    name: str
    client_id: str
    scopes: list[str]
    status: str
    created_at: dt.datetime
    rotated_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    # After a rotation with overlap, the previous secret keeps working until this time.
    previous_secret_expires_at: dt.datetime | None
    # Suspended (reversibly) by another domain, e.g. "billing" while an invoice is long overdue.
    suspended_at: dt.datetime | None
    suspended_by: str | None


class ApiClientWithSecret(ApiClientOut):
    """Answer to create and rotate: the only time the secret is shown. Store it now."""

    client_secret: str


class RotateSecret(Input):
    overlap_seconds: Annotated[
        int,
        msgspec.Meta(ge=0, le=86400, description="how long the previous secret keeps working (0: stops at once)"),
    ] = 0


class AccessTokenOut(Output):
    """RFC 6749 section 5.1 token response."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class OAuthErrorOut(Output):
    """RFC 6749 section 5.2 error response (the OAuth endpoints answer in this format, not problem details)."""

    error: str
    error_description: str | None = None


# --- SSO ---

EmailDomain = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}$",
        description="a domain such as example.com (exact match; subdomains are separate entries)",
    ),
]


class SsoConnectionIn(Input):
    """Create or replace the tenant's OIDC connection."""

    issuer: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=500,
            description="the provider's issuer URL (https); its /.well-known/openid-configuration is read on save",
        ),
    ]
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    client_secret: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1, max_length=500, description="write-only; omit on update to keep the current one"
            ),
        ]
        | None
    ) = None
    allowed_email_domains: Annotated[
        list[EmailDomain],
        msgspec.Meta(max_length=100, description="when not empty, only people with an email in these domains"),
    ] = msgspec.field(default_factory=list)
    provision_role: TenantRoleName | None = None
    enabled: bool = True


class SsoConnectionOut(Output):
    id: uuid.UUID
    issuer: str
    client_id: str
    allowed_email_domains: list[str]
    provision_role: str | None
    enabled: bool
    created_at: dt.datetime
    # Register redirect_uri with the provider; login_url starts sign-in for the tenant's people.
    redirect_uri: str
    login_url: str
