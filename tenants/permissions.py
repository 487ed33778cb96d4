"""Who may do what: one table from permission to roles, read by the guards and by the UI's navigation."""

from __future__ import annotations

import enum

from app.core.tenancy import Principal, Role


class Permission(enum.StrEnum):
    MANAGE_TENANTS = "manage_tenants"
    VIEW_TENANTS = "view_tenants"
    MANAGE_OPERATOR_STAFF = "manage_operator_staff"
    MANAGE_AGENTS = "manage_agents"
    READ_CROSS_TENANT = "read_cross_tenant"
    # Within the acting tenant:
    MANAGE_TENANT_SETTINGS = "manage_tenant_settings"
    MANAGE_USERS = "manage_users"
    VIEW_USERS = "view_users"
    VIEW_AGENTS = "view_agents"
    MANAGE_API_CLIENTS = "manage_api_clients"
    MANAGE_SSO = "manage_sso"
    VIEW_AUDIT_LOG = "view_audit_log"
    WORK_CONTACTS = "work_contacts"
    # Routing configuration of the acting tenant:
    MANAGE_QUEUES = "manage_queues"
    VIEW_QUEUES = "view_queues"
    MANAGE_AGENT_SKILLS = "manage_agent_skills"
    VIEW_AGENT_SKILLS = "view_agent_skills"
    # The live board of queues and agents (the acting tenant's; an operator without one sees every tenant):
    VIEW_LIVE = "view_live"
    # The operator's carrier number registry (operators see every number, tenants their own):
    PROVISION_NUMBERS = "provision_numbers"
    VIEW_PROVISIONED_NUMBERS = "view_provisioned_numbers"
    # The acting tenant's SLA contract (versions are agreed outside Tenline; operator admins record them),
    # its attainment and its alerts:
    MANAGE_SLA_CONTRACTS = "manage_sla_contracts"
    VIEW_SLA = "view_sla"
    # Workforce planning: forecasts and staffing plans (the acting tenant's queues; an operator without a
    # tenant plans the shared pool) and the Erlang calculator:
    VIEW_WFM = "view_wfm"
    # Reports of the acting tenant (an operator acting for none reads the overview across tenants), and
    # the reports a tenant has mailed on a schedule:
    VIEW_REPORTS = "view_reports"
    MANAGE_REPORT_SCHEDULES = "manage_report_schedules"
    # The acting tenant's webhook endpoints and their deliveries:
    MANAGE_WEBHOOKS = "manage_webhooks"
    VIEW_WEBHOOKS = "view_webhooks"
    # The acting tenant's contacts one by one (callers' numbers: people's data, so not report viewers, who read
    # figures) and its disposition codes (what agents choose at wrap-up; reports show their labels):
    VIEW_INTERACTIONS = "view_interactions"
    MANAGE_DISPOSITIONS = "manage_dispositions"
    VIEW_DISPOSITIONS = "view_dispositions"
    # The acting tenant's end customers (its CRM pushes them; its staff look them up):
    MANAGE_CUSTOMERS = "manage_customers"
    VIEW_CUSTOMERS = "view_customers"
    # The acting tenant's scheduled callbacks (customers' numbers: people's data, so not report viewers):
    MANAGE_CALLBACKS = "manage_callbacks"
    VIEW_CALLBACKS = "view_callbacks"
    # Billing of the acting tenant: its rate card (agreed outside Tenline; operator admins record versions), its
    # usage to date with the estimate of its bill and its dunning policy (operator admins also set the operator's
    # default, and a tenant's own policy named in the path, with no acting tenant):
    MANAGE_BILLING = "manage_billing"
    VIEW_BILLING = "view_billing"


_OPERATOR = {Role.OPERATOR_ADMIN, Role.OPS_MANAGER}

GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.MANAGE_TENANTS: frozenset({Role.OPERATOR_ADMIN}),
    Permission.VIEW_TENANTS: frozenset(_OPERATOR),
    Permission.MANAGE_OPERATOR_STAFF: frozenset({Role.OPERATOR_ADMIN}),
    Permission.MANAGE_AGENTS: frozenset(_OPERATOR),
    Permission.READ_CROSS_TENANT: frozenset(_OPERATOR),
    Permission.MANAGE_TENANT_SETTINGS: frozenset({Role.OPERATOR_ADMIN, Role.TENANT_ADMIN}),
    Permission.MANAGE_USERS: frozenset({Role.OPERATOR_ADMIN, Role.TENANT_ADMIN}),
    Permission.VIEW_USERS: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    Permission.VIEW_AGENTS: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    Permission.MANAGE_API_CLIENTS: frozenset({Role.OPERATOR_ADMIN, Role.TENANT_ADMIN}),
    Permission.MANAGE_SSO: frozenset({Role.OPERATOR_ADMIN, Role.TENANT_ADMIN}),
    Permission.VIEW_AUDIT_LOG: frozenset({*_OPERATOR, Role.TENANT_ADMIN}),
    Permission.WORK_CONTACTS: frozenset({Role.AGENT}),
    Permission.MANAGE_QUEUES: frozenset({*_OPERATOR, Role.TENANT_ADMIN}),
    Permission.VIEW_QUEUES: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    # The operator certifies its own agents; tenants only see what their agents hold.
    Permission.MANAGE_AGENT_SKILLS: frozenset(_OPERATOR),
    Permission.VIEW_AGENT_SKILLS: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    Permission.VIEW_LIVE: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    Permission.PROVISION_NUMBERS: frozenset({Role.OPERATOR_ADMIN}),
    Permission.VIEW_PROVISIONED_NUMBERS: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    # The operator answers for the contract (and its SLA credits): only its admins record a new version.
    Permission.MANAGE_SLA_CONTRACTS: frozenset({Role.OPERATOR_ADMIN}),
    Permission.VIEW_SLA: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR, Role.REPORT_VIEWER}),
    Permission.VIEW_WFM: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    Permission.VIEW_REPORTS: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR, Role.REPORT_VIEWER}),
    Permission.MANAGE_REPORT_SCHEDULES: frozenset({Role.OPERATOR_ADMIN, Role.TENANT_ADMIN}),
    Permission.MANAGE_WEBHOOKS: frozenset({Role.OPERATOR_ADMIN, Role.TENANT_ADMIN}),
    Permission.VIEW_WEBHOOKS: frozenset({Role.OPERATOR_ADMIN, Role.TENANT_ADMIN}),
    Permission.VIEW_INTERACTIONS: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    Permission.MANAGE_DISPOSITIONS: frozenset({*_OPERATOR, Role.TENANT_ADMIN}),
    Permission.VIEW_DISPOSITIONS: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    Permission.MANAGE_CUSTOMERS: frozenset({Role.OPERATOR_ADMIN, Role.TENANT_ADMIN}),
    Permission.VIEW_CUSTOMERS: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    Permission.MANAGE_CALLBACKS: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    Permission.VIEW_CALLBACKS: frozenset({*_OPERATOR, Role.TENANT_ADMIN, Role.SUPERVISOR}),
    # Prices are the operator's to set, like the SLA contract they go with; the client's admins read them.
    Permission.MANAGE_BILLING: frozenset({Role.OPERATOR_ADMIN}),
    Permission.VIEW_BILLING: frozenset({*_OPERATOR, Role.TENANT_ADMIN}),
}

# Permissions that act on the acting tenant's data: they need a tenant in context.
TENANT_PERMISSIONS = frozenset(
    {
        Permission.MANAGE_TENANT_SETTINGS,
        Permission.MANAGE_USERS,
        Permission.VIEW_USERS,
        Permission.VIEW_AGENTS,
        Permission.MANAGE_API_CLIENTS,
        Permission.MANAGE_SSO,
        Permission.VIEW_AUDIT_LOG,
        Permission.MANAGE_QUEUES,
        Permission.VIEW_QUEUES,
        Permission.MANAGE_AGENT_SKILLS,
        Permission.VIEW_AGENT_SKILLS,
        Permission.MANAGE_SLA_CONTRACTS,
        Permission.VIEW_SLA,
        Permission.MANAGE_REPORT_SCHEDULES,
        Permission.MANAGE_WEBHOOKS,
        Permission.VIEW_WEBHOOKS,
        Permission.VIEW_INTERACTIONS,
        Permission.MANAGE_DISPOSITIONS,
        Permission.VIEW_DISPOSITIONS,
        Permission.MANAGE_CUSTOMERS,
        Permission.VIEW_CUSTOMERS,
        Permission.MANAGE_CALLBACKS,
        Permission.VIEW_CALLBACKS,
        Permission.MANAGE_BILLING,
        Permission.VIEW_BILLING,
    }
)


# What an API client (a tenant's program) needs among its token's scopes to use the same operation.
SCOPES: dict[Permission, str] = {
    Permission.VIEW_AGENTS: "agents:read",
    Permission.VIEW_AUDIT_LOG: "audit:read",
    Permission.VIEW_QUEUES: "queues:read",
    # A tenant's program may run its own routing set-up too: queues, phone numbers, entry points.
    Permission.MANAGE_QUEUES: "queues:write",
    Permission.VIEW_WFM: "wfm:read",
    Permission.VIEW_AGENT_SKILLS: "agents:read",
    Permission.VIEW_PROVISIONED_NUMBERS: "queues:read",
    Permission.VIEW_SLA: "sla:read",
    Permission.VIEW_REPORTS: "reports:read",
    Permission.MANAGE_REPORT_SCHEDULES: "reports:write",
    Permission.MANAGE_WEBHOOKS: "webhooks:write",
    Permission.VIEW_WEBHOOKS: "webhooks:read",
    Permission.VIEW_INTERACTIONS: "interactions:read",
    Permission.MANAGE_DISPOSITIONS: "dispositions:write",
    Permission.VIEW_DISPOSITIONS: "dispositions:read",
    Permission.MANAGE_CUSTOMERS: "customers:write",
    Permission.VIEW_CUSTOMERS: "customers:read",
    Permission.MANAGE_CALLBACKS: "callbacks:write",
    Permission.VIEW_CALLBACKS: "callbacks:read",
    Permission.VIEW_BILLING: "billing:read",
}
KNOWN_SCOPES = frozenset(SCOPES.values())


def allowed(principal: Principal | None, permission: Permission) -> bool:
    if principal is None:
        return False
    if principal.kind == "api_client":
        scope = SCOPES.get(permission)
        return scope is not None and scope in principal.scopes
    return principal.kind == "user" and bool(principal.roles & GRANTS[permission])
