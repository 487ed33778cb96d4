"""HTTP API for tenancy and identity under /api/v1."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import (
    API_PREFIX,
    DEFAULT_PAGE_SIZE,
    Cursor,
    IfMatch,
    Limit,
    TransactionController,
    if_match_version,
    with_etag,
)
from app.core.pagination import Page
from app.core.tenancy import Principal
from tenants import schemas, service, sessions
from tenants.auth import SESSION_CSRF, authenticated, requires
from tenants.models import Tenant
from tenants.permissions import Permission, allowed


def _with_etag(tenant: Tenant) -> Response[schemas.TenantOut]:
    return with_etag(service.tenant_out(tenant), tenant.version)


class MeController(Controller):
    path = f"{API_PREFIX}/me"
    tags = ["identity"]
    guards = [authenticated]

    @get("/", summary="Who is calling")
    async def me(self, request: Request[Principal, Any, Any]) -> schemas.MeOut:
        principal = request.user
        return schemas.MeOut(
            kind=principal.kind,
            subject_id=principal.subject_id,
            display_name=principal.display_name,
            tenant_id=principal.tenant_id,
            roles=sorted(principal.roles),
            scopes=sorted(principal.scopes),
        )


async def _change_status(
    principal: Principal, session: AsyncSession, tenant_id: uuid.UUID, transition: str
) -> schemas.TenantOut:
    tenant = await service.get_tenant(session, tenant_id, principal)
    return service.tenant_out(await service.change_tenant_status(session, tenant, transition))


class TenantController(TransactionController):
    path = f"{API_PREFIX}/tenants"
    tags = ["tenants"]

    @get("/", guards=[requires(Permission.VIEW_TENANTS)], summary="List tenants")
    async def list_tenants(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE, status: str | None = None
    ) -> Page[schemas.TenantOut]:
        return await service.list_tenants(session, cursor=cursor, limit=limit, status=status)

    @post("/", guards=[requires(Permission.MANAGE_TENANTS)], summary="Create a tenant")
    async def create_tenant(self, session: AsyncSession, data: schemas.TenantCreate) -> schemas.TenantOut:
        return service.tenant_out(await service.create_tenant(session, data))

    @get("/{tenant_id:uuid}", guards=[authenticated], summary="Get a tenant (operators: any; others: their own)")
    async def get_tenant(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> Response[schemas.TenantOut]:
        tenant = await service.get_tenant(session, tenant_id, request.user)
        return _with_etag(tenant)

    @patch("/{tenant_id:uuid}", guards=[authenticated], summary="Change a tenant's settings")
    async def update_tenant(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        tenant_id: uuid.UUID,
        data: schemas.TenantUpdate,
        if_match: IfMatch = None,
    ) -> Response[schemas.TenantOut]:
        tenant = await service.get_tenant(session, tenant_id, request.user)
        if not allowed(request.user, Permission.MANAGE_TENANT_SETTINGS):
            raise PermissionDeniedException("requires the manage_tenant_settings permission")
        tenant = await service.update_tenant(session, tenant, data, if_match=if_match_version(if_match))
        return _with_etag(tenant)

    @post(
        "/{tenant_id:uuid}/suspend",
        guards=[requires(Permission.MANAGE_TENANTS)],
        status_code=200,
        summary="Suspend a tenant",
    )
    async def suspend(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> schemas.TenantOut:
        return await _change_status(request.user, session, tenant_id, "suspend")

    @post(
        "/{tenant_id:uuid}/reactivate",
        guards=[requires(Permission.MANAGE_TENANTS)],
        status_code=200,
        summary="Reactivate a suspended tenant",
    )
    async def reactivate(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> schemas.TenantOut:
        return await _change_status(request.user, session, tenant_id, "reactivate")

    @delete(
        "/{tenant_id:uuid}",
        guards=[requires(Permission.MANAGE_TENANTS)],
        status_code=HTTP_202_ACCEPTED,
        summary="Delete a tenant: its data is erased by a background job",
    )
    async def delete_tenant(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> schemas.TenantOut:
        return await _change_status(request.user, session, tenant_id, "delete")


class TenantUserController(TransactionController):
    """The acting tenant's users (tenant admins, supervisors, report viewers)."""

    path = f"{API_PREFIX}/users"
    tags = ["users"]

    @get("/", guards=[requires(Permission.VIEW_USERS)], summary="List the tenant's users")
    async def list_users(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.TenantUserOut]:
        return await service.list_tenant_users(session, cursor=cursor, limit=limit)

    @post("/", guards=[requires(Permission.MANAGE_USERS)], summary="Add a user to the tenant")
    async def create_user(self, session: AsyncSession, data: schemas.TenantUserCreate) -> schemas.TenantUserOut:
        return await service.create_tenant_user(session, data)

    @get("/{user_id:uuid}", guards=[requires(Permission.VIEW_USERS)], summary="Get a user of the tenant")
    async def get_user(self, session: AsyncSession, user_id: uuid.UUID) -> schemas.TenantUserOut:
        return await service.get_tenant_user(session, user_id)

    @patch("/{user_id:uuid}", guards=[requires(Permission.MANAGE_USERS)], summary="Change a user's role or status")
    async def update_user(
        self, session: AsyncSession, user_id: uuid.UUID, data: schemas.TenantUserUpdate
    ) -> schemas.TenantUserOut:
        return await service.update_tenant_user(session, user_id, data)

    @delete(
        "/{user_id:uuid}",
        guards=[requires(Permission.MANAGE_USERS)],
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a user from the tenant",
    )
    async def remove_user(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        await service.remove_tenant_user(session, user_id)


class TenantAgentController(TransactionController):
    """Agents assigned to the acting tenant, as the tenant sees them."""

    path = f"{API_PREFIX}/agents"
    tags = ["agents"]

    @get("/", guards=[requires(Permission.VIEW_AGENTS)], summary="List agents working for the tenant")
    async def list_agents(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.TenantAgentOut]:
        return await service.list_tenant_agents(session, cursor=cursor, limit=limit)

    @get(
        "/{assignment_id:uuid}",
        guards=[requires(Permission.VIEW_AGENTS)],
        summary="Get an agent working for the tenant",
    )
    async def get_agent(self, session: AsyncSession, assignment_id: uuid.UUID) -> schemas.TenantAgentOut:
        return await service.get_tenant_agent(session, assignment_id)


class AuditLogController(TransactionController):
    path = f"{API_PREFIX}/audit-log"
    tags = ["audit"]

    @get("/", guards=[requires(Permission.VIEW_AUDIT_LOG)], summary="The acting tenant's audit log")
    async def list_entries(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE, action: str | None = None
    ) -> Page[schemas.AuditEntryOut]:
        return await service.list_tenant_audit(session, cursor=cursor, limit=limit, action=action)


class OperatorController(TransactionController):
    """The operator's own resources: staff, the shared agent pool, the audit log across tenants."""

    path = f"{API_PREFIX}/operator"
    tags = ["operator"]

    @get("/staff", guards=[requires(Permission.MANAGE_OPERATOR_STAFF)], summary="List operator staff")
    async def list_staff(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.StaffOut]:
        return await service.list_staff(session, cursor=cursor, limit=limit)

    @post("/staff", guards=[requires(Permission.MANAGE_OPERATOR_STAFF)], summary="Add operator staff")
    async def create_staff(self, session: AsyncSession, data: schemas.StaffCreate) -> schemas.StaffOut:
        return await service.create_staff(session, data)

    @get(
        "/agents",
        guards=[requires(Permission.MANAGE_AGENTS)],
        summary="The shared agent pool (audited cross-tenant read)",
    )
    async def list_agents(self, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE) -> Page[schemas.AgentOut]:
        return await service.list_agents(cursor=cursor, limit=limit)

    @post("/agents", guards=[requires(Permission.MANAGE_AGENTS)], summary="Add an agent to the pool")
    async def create_agent(self, session: AsyncSession, data: schemas.AgentCreate) -> schemas.AgentOut:
        return await service.create_agent(session, data)

    @patch(
        "/agents/{agent_id:uuid}",
        guards=[requires(Permission.MANAGE_AGENTS)],
        summary="Change an agent's site, chat capacity or active state",
        description="A change of chat capacity or active state reloads the router for every tenant of the agent; "
        "deactivating keeps the agent's assignments.",
    )
    async def update_agent(
        self, session: AsyncSession, agent_id: uuid.UUID, data: schemas.AgentUpdate
    ) -> schemas.AgentOut:
        return await service.update_agent(session, agent_id, data)

    @put(
        "/agents/{agent_id:uuid}/assignments",
        guards=[requires(Permission.MANAGE_AGENTS)],
        summary="Assign an agent to a tenant",
    )
    async def assign(
        self, session: AsyncSession, agent_id: uuid.UUID, data: schemas.AgentAssign
    ) -> schemas.AssignmentOut:
        return await service.assign_agent(session, agent_id, data)

    @delete(
        "/agents/{agent_id:uuid}/assignments/{tenant_id:uuid}",
        guards=[requires(Permission.MANAGE_AGENTS)],
        status_code=HTTP_204_NO_CONTENT,
        summary="Take an agent off a tenant",
    )
    async def unassign(self, session: AsyncSession, agent_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
        await service.unassign_agent(session, agent_id, tenant_id)

    @get("/audit-log", guards=[requires(Permission.READ_CROSS_TENANT)], summary="Audit log across tenants (audited)")
    async def audit_log(
        self,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        action: str | None = None,
        tenant_id: uuid.UUID | None = None,
    ) -> Page[schemas.AuditEntryOut]:
        return await service.list_all_audit(cursor=cursor, limit=limit, action=action, tenant_id=tenant_id)


class SessionController(Controller):
    """Password sign-in for browsers and scripts that hold a cookie (the web UI uses the same service)."""

    path = f"{API_PREFIX}/auth/session"
    tags = ["identity"]

    @post("/", summary="Sign in with email and password", status_code=200)
    async def sign_in(self, request: Request[Any, Any, Any], data: schemas.Credentials) -> schemas.SessionOut:
        try:
            user, memberships = await sessions.sign_in(data.email, data.password, sessions.address_of(request))
        except sessions.InvalidCredentials:
            raise NotAuthorizedException("wrong email or password") from None
        tenant_id = memberships[0][0] if len(memberships) == 1 and not user.platform_role else None
        sessions.start_session(request, user.id, tenant_id)
        return schemas.SessionOut(
            user_id=user.id,
            acting_tenant_id=tenant_id,
            csrf_token=request.session[SESSION_CSRF],
            tenants=[schemas.MembershipOut(tenant_id=t, role=r) for t, r in memberships],
        )

    @delete("/", summary="Sign out", status_code=HTTP_204_NO_CONTENT)
    async def sign_out(self, request: Request[Any, Any, Any]) -> None:
        sessions.end_session(request)


class ApiClientController(TransactionController):
    """The acting tenant's OAuth2 clients (its CRM and other programs). Secrets are shown once."""

    path = f"{API_PREFIX}/api-clients"
    tags = ["api clients"]
    guards = [requires(Permission.MANAGE_API_CLIENTS)]

    @staticmethod
    def _with_secret(
        client: schemas.ApiClientOut, secret: str, status_code: int
    ) -> Response[schemas.ApiClientWithSecret]:
        body = schemas.ApiClientWithSecret(**msgspec.structs.asdict(client), client_secret=secret)
        return Response(body, status_code=status_code, headers={"Cache-Control": "no-store"})

    @get("/", summary="List the tenant's API clients")
    async def list_api_clients(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.ApiClientOut]:
        return await service.list_api_clients(session, cursor=cursor, limit=limit)

    @post("/", summary="Create an API client; the answer holds its secret, shown this once")
    async def create_api_client(
        self, session: AsyncSession, data: schemas.ApiClientCreate
    ) -> Response[schemas.ApiClientWithSecret]:
        client, secret = await service.create_api_client(session, data)
        return self._with_secret(client, secret, HTTP_201_CREATED)

    @get("/{api_client_id:uuid}", summary="Get an API client")
    async def get_api_client(self, session: AsyncSession, api_client_id: uuid.UUID) -> schemas.ApiClientOut:
        return await service.get_api_client(session, api_client_id)

    @post(
        "/{api_client_id:uuid}/rotate-secret",
        status_code=200,
        summary="Give an API client a new secret; the old one works for overlap_seconds more",
    )
    async def rotate_secret(
        self, session: AsyncSession, api_client_id: uuid.UUID, data: schemas.RotateSecret | None = None
    ) -> Response[schemas.ApiClientWithSecret]:
        overlap = data.overlap_seconds if data is not None else 0
        client, secret = await service.rotate_api_client_secret(session, api_client_id, overlap_seconds=overlap)
        return self._with_secret(client, secret, HTTP_200_OK)

    @post(
        "/{api_client_id:uuid}/revoke",
        status_code=200,
        summary="Revoke an API client: no new tokens, and its issued tokens stop working at once",
    )
    async def revoke(self, session: AsyncSession, api_client_id: uuid.UUID) -> schemas.ApiClientOut:
        return await service.revoke_api_client(session, api_client_id)


class SsoConnectionController(TransactionController):
    """The acting tenant's OIDC single sign-on connection (one per tenant)."""

    path = f"{API_PREFIX}/sso"
    tags = ["sso"]
    guards = [requires(Permission.MANAGE_SSO)]

    @get("/", summary="The tenant's SSO connection (the client secret is never returned)")
    async def get_connection(self, session: AsyncSession) -> schemas.SsoConnectionOut:
        return await service.get_sso_connection(session)

    @put("/", summary="Create or replace the SSO connection (the issuer's discovery document is checked)")
    async def put_connection(
        self, session: AsyncSession, data: schemas.SsoConnectionIn
    ) -> Response[schemas.SsoConnectionOut]:
        connection, created = await service.put_sso_connection(session, data)
        return Response(connection, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @delete("/", status_code=HTTP_204_NO_CONTENT, summary="Remove the SSO connection")
    async def delete_connection(self, session: AsyncSession) -> None:
        await service.delete_sso_connection(session)


route_handlers = [
    SessionController,
    MeController,
    TenantController,
    TenantUserController,
    TenantAgentController,
    AuditLogController,
    OperatorController,
    ApiClientController,
    SsoConnectionController,
]
