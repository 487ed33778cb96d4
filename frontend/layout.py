"""What the frame around every page shows: who is signed in, for which tenant, and the navigation.

The navigation is read from the permission table, so each role sees exactly the pages it may use. The
frame is worked out once per page request by ``layout_middleware`` (before the handler runs), so error
pages raised anywhere in the handler still show the same top bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.core.db import get_database
from app.core.errors import NotFoundError
from app.core.tenancy import Principal, Role
from tenants import schemas, service
from tenants.auth import SESSION_SSO_TENANT, session_data
from tenants.permissions import Permission, allowed

ROLE_LABELS: dict[str, str] = {
    Role.OPERATOR_ADMIN: "Operator admin",
    Role.OPS_MANAGER: "Ops manager",
    Role.TENANT_ADMIN: "Tenant admin",
    Role.SUPERVISOR: "Supervisor",
    Role.REPORT_VIEWER: "Report viewer",
    Role.AGENT: "Agent",
}

TENANT_ROLE_CHOICES = tuple(
    (role.value, ROLE_LABELS[role]) for role in (Role.TENANT_ADMIN, Role.SUPERVISOR, Role.REPORT_VIEWER)
)
OPERATOR_ROLE_CHOICES = tuple((role.value, ROLE_LABELS[role]) for role in (Role.OPERATOR_ADMIN, Role.OPS_MANAGER))


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    permission: Permission
    description: str


# The operator's own pages, and the pages of the acting tenant (for its people, or an operator acting for it).
OPERATOR_NAV = (
    NavItem(
        "Tenants", "/tenants", Permission.VIEW_TENANTS, "Onboard client programs, change settings, suspend or delete."
    ),
    NavItem("Live", "/operator/live", Permission.READ_CROSS_TENANT, "Every tenant's queues and the agent pool, now."),
    NavItem(
        "Reports", "/operator/reports", Permission.READ_CROSS_TENANT, "Every tenant's figures, or one tenant's reports."
    ),
    NavItem("Agents", "/operator/agents", Permission.MANAGE_AGENTS, "The shared agent pool and each agent's tenants."),
    NavItem(
        "Number registry",
        "/operator/numbers",
        Permission.VIEW_PROVISIONED_NUMBERS,
        "The carrier numbers the operator holds, and the tenant each is provisioned to.",
    ),
    NavItem(
        "SLA alerts",
        "/operator/sla-alerts",
        Permission.READ_CROSS_TENANT,
        "Every tenant's SLA targets at risk or breached (reads are audited).",
    ),
    NavItem(
        "Workforce",
        "/operator/wfm",
        Permission.VIEW_WFM,
        "The shared pool's staffing plan across tenants, planned against actual staff; the Erlang calculator.",
    ),
    NavItem(
        "Billing",
        "/operator/billing",
        Permission.READ_CROSS_TENANT,
        "Every tenant's usage this month, its estimated bill and its share of the pool's agent time.",
    ),
    NavItem(
        "Dunning",
        "/operator/dunning",
        Permission.MANAGE_BILLING,
        "Payment terms, reminders and API-client suspension for overdue invoices: the default and each tenant's.",
    ),
    NavItem("Operator staff", "/operator/staff", Permission.MANAGE_OPERATOR_STAFF, "Operator admins and ops managers."),
    NavItem(
        "Audit log", "/operator/audit", Permission.READ_CROSS_TENANT, "Every tenant's audit trail (reads are audited)."
    ),
)
TENANT_NAV = (
    NavItem("Live", "/live", Permission.VIEW_LIVE, "The tenant's queues and agents, as they are now."),
    NavItem(
        "Callbacks", "/callbacks", Permission.VIEW_CALLBACKS, "Calls booked back to customers: upcoming and recent."
    ),
    NavItem("Customers", "/customers", Permission.VIEW_CUSTOMERS, "The tenant's customers, their numbers and calls."),
    NavItem("Reports", "/reports", Permission.VIEW_REPORTS, "Service level, volumes, handling, agents; exports."),
    NavItem(
        "SLA attainment",
        "/sla/attainment",
        Permission.VIEW_SLA,
        "Each contract target now, and the day's service level.",
    ),
    NavItem("SLA contract", "/sla/contract", Permission.VIEW_SLA, "The targets agreed, version by version."),
    NavItem("SLA alerts", "/sla/alerts", Permission.VIEW_SLA, "When a target was at risk or breached."),
    NavItem(
        "Workforce",
        "/wfm",
        Permission.VIEW_WFM,
        "Forecast, staffing plan, planned against actual staff; the Erlang calculator.",
    ),
    NavItem("Users", "/users", Permission.VIEW_USERS, "Admins, supervisors and report viewers of the tenant."),
    NavItem("Agents", "/agents", Permission.VIEW_AGENTS, "The agents working for the tenant, by alias."),
    NavItem(
        "Agent skills", "/agent-skills", Permission.VIEW_AGENT_SKILLS, "Agents' skills, languages and certifications."
    ),
    NavItem("Queues", "/queues", Permission.VIEW_QUEUES, "Who answers contacts, how fast, overflow and callbacks."),
    NavItem("Entry points", "/entry-points", Permission.VIEW_QUEUES, "Greeting, language choice, menu, closed hours."),
    NavItem("Phone numbers", "/phone-numbers", Permission.VIEW_QUEUES, "The numbers callers dial, and where calls go."),
    NavItem(
        "Disposition codes",
        "/disposition-codes",
        Permission.VIEW_DISPOSITIONS,
        "How contacts end: the codes agents choose at wrap-up.",
    ),
    NavItem("Billing", "/billing", Permission.VIEW_BILLING, "Usage to date, the estimated bill and the rate card."),
    NavItem(
        "API clients", "/api-clients", Permission.MANAGE_API_CLIENTS, "Programs that call the tenant API (OAuth2)."
    ),
    NavItem(
        "Webhooks",
        "/webhooks",
        Permission.VIEW_WEBHOOKS,
        "Signed events to your systems, with their delivery log; the CRM lookup for agents' offers.",
    ),
    NavItem("SSO", "/sso", Permission.MANAGE_SSO, "Sign-in through the tenant's identity provider (OIDC)."),
    NavItem("Settings", "/settings", Permission.MANAGE_TENANT_SETTINGS, "Name, time zone, locale, hours and holidays."),
    NavItem("Audit log", "/audit", Permission.VIEW_AUDIT_LOG, "Who changed what in the tenant, and when."),
)
TENANT_PAGES = frozenset(item.href for item in TENANT_NAV)


def nav_for(principal: Principal | None) -> tuple[tuple[NavItem, ...], tuple[NavItem, ...]]:
    """(operator pages, acting-tenant pages) the principal may open."""
    # Operator pages are the operator's even where tenants share the permission (they read their own numbers).
    is_operator = principal is not None and principal.is_operator
    operator = tuple(item for item in OPERATOR_NAV if is_operator and allowed(principal, item.permission))
    if principal is None or principal.tenant_id is None:
        return operator, ()
    return operator, tuple(item for item in TENANT_NAV if allowed(principal, item.permission))


def role_label(principal: Principal | None) -> str:
    if principal is None:
        return ""
    return ", ".join(ROLE_LABELS.get(role, role) for role in sorted(principal.roles)) or "No role here"


@dataclass(frozen=True)
class Layout:
    principal: Principal | None = None
    # The acting tenant, shown in the top bar on every page.
    tenant: schemas.TenantOut | None = None
    # Operators: every tenant they can switch to.
    switcher: list[schemas.TenantOut] = field(default_factory=list)
    # Tenant people with several memberships may change tenant.
    memberships: int = 0
    operator_nav: tuple[NavItem, ...] = ()
    tenant_nav: tuple[NavItem, ...] = ()

    @property
    def role(self) -> str:
        return role_label(self.principal)

    @property
    def is_operator(self) -> bool:
        return self.principal is not None and self.principal.is_operator

    @property
    def is_agent(self) -> bool:
        return self.principal is not None and Role.AGENT in self.principal.roles


LAYOUT_STATE = "tenline_layout"


async def build_layout(principal: Principal | None, *, sso_bound: bool = False) -> Layout:
    """The frame for ``principal``; ``sso_bound``: signed in through a tenant's SSO, so no tenant change."""
    if principal is None or principal.kind != "user":
        return Layout()  # anonymous, or a program (pages refuse programs): no frame of a person
    operator_nav, tenant_nav = nav_for(principal)
    tenant = None
    switcher: list[schemas.TenantOut] = []
    memberships = 0
    async with get_database().session() as session:
        if principal.tenant_id is not None:
            try:
                tenant = service.tenant_out(await service.get_tenant(session, principal.tenant_id, principal))
            except NotFoundError:
                tenant = None
        if principal.is_operator:
            switcher = await service.tenant_choices(session)
        elif Role.AGENT not in principal.roles and principal.subject_id is not None and not sso_bound:
            memberships = len(await service.memberships_of(session, principal.subject_id))
    return Layout(
        principal=principal,
        tenant=tenant,
        switcher=switcher,
        memberships=memberships,
        operator_nav=operator_nav,
        tenant_nav=tenant_nav,
    )


def layout_middleware(app: ASGIApp) -> ASGIApp:
    """Works out the frame of the page for the signed-in principal before the page handler runs."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            state: dict[str, Any] = scope.setdefault("state", {})
            sso_bound = bool(session_data(scope).get(SESSION_SSO_TENANT))
            state[LAYOUT_STATE] = await build_layout(scope.get("user"), sso_bound=sso_bound)
        await app(scope, receive, send)

    return middleware


def layout_of(scope: Scope) -> Layout:
    state = scope.get("state") or {}
    layout = state.get(LAYOUT_STATE)
    # Outside the pages' router (a path no route matched) nobody is known: the anonymous frame.
    return layout if isinstance(layout, Layout) else Layout()
