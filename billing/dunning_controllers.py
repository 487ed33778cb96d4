"""HTTP API of dunning policies: the policy in force for the acting tenant, the operator's default, and a
tenant's own policy.

Tenant admins and programs (scope ``billing:read``) read the policy in force for their tenant and whose it is.
Operator admins change the operator's default (``/api/v1/billing/dunning-policy/default``) and give a tenant a
policy of its own or take it away (``/api/v1/tenants/{tenant_id}/dunning-policy``, acting as the tenant the path
names, like the other operator routes under ``/api/v1/tenants/{tenant_id}``); each change names the version it
replaces in If-Match (its ETag; "0": none saved yet). The policy's only sanction is the suspension of the
tenant's API clients: suspending the tenant is an operator admin's own action (``/api/v1/tenants/{id}/suspend``).
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, delete, get, put
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import API_PREFIX, IfMatch, TransactionController, if_match_version, with_etag
from app.core.tenancy import Principal, acting_as
from billing import dunning
from billing.dunning_schemas import DunningPolicyIn, DunningPolicyOut, OperatorDunningPolicyOut
from tenants import service as tenants
from tenants.auth import requires
from tenants.permissions import Permission

VIEW_BILLING = [requires(Permission.VIEW_BILLING)]
# The operator's default concerns no tenant, and a tenant's own policy names its tenant in the path.
OPERATOR_ADMINS = [requires(Permission.MANAGE_BILLING, acting_tenant=False)]
POLICY_RULES = (
    "Payment terms 0 to 365 days; at most 10 reminder days, each 1 to 365 days after the due date and none twice "
    "(kept sorted); the suspension of the tenant's API clients 1 to 3650 days after the due date, on or after the "
    "last reminder, or none (never suspended). The job applies it from its next run."
)


class DunningPolicyController(TransactionController):
    path = f"{API_PREFIX}/billing/dunning-policy"
    tags = ["billing"]

    @get(
        "/",
        guards=VIEW_BILLING,
        summary="The dunning policy in force for the tenant, and whose it is",
        description="The tenant's own policy (`source` tenant) when the operator gave it one, else the operator's "
        "default (`source` operator): when invoices fall due, the days reminders go out, and when the tenant's API "
        "clients are suspended until paid. Routing and live contacts are never suspended.",
    )
    async def policy_in_force(self, session: AsyncSession) -> DunningPolicyOut:
        return await dunning.policy_in_force(session)

    @get(
        "/default",
        guards=OPERATOR_ADMINS,
        summary="The operator's default dunning policy (operator admins; its ETag is its version)",
        description="In force for every tenant without a policy of its own. Version 0: never saved, the "
        "settings (TENLINE_BILLING_*) are the default.",
    )
    async def get_default(self, session: AsyncSession) -> Response[OperatorDunningPolicyOut]:
        default = await dunning.operator_default(session)
        return with_etag(default, default.version)

    @put(
        "/default",
        guards=OPERATOR_ADMINS,
        summary="Replace the operator's default dunning policy (operator admins)",
        description=f'{POLICY_RULES} If-Match: the version read ("0" while the settings are the default); 412 '
        "when it was saved since. Audited in the operator's log.",
    )
    async def put_default(
        self, session: AsyncSession, data: DunningPolicyIn, if_match: IfMatch = None
    ) -> Response[OperatorDunningPolicyOut]:
        saved = await dunning.set_operator_default(session, data, if_match=if_match_version(if_match))
        return with_etag(saved, saved.version)


async def _as_named_tenant(
    request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
) -> Principal:
    """The operator acting as the tenant the path names (404 when there is none, or it is deleted)."""
    tenant = await tenants.get_tenant(session, tenant_id, request.user)
    return request.user.acting_for(tenant.id)


class TenantDunningPolicyController(TransactionController):
    path = f"{API_PREFIX}/tenants/{{tenant_id:uuid}}/dunning-policy"
    tags = ["billing"]
    guards = OPERATOR_ADMINS

    @get(
        "/",
        summary="The dunning policy in force for a tenant (operator admins; its ETag is the tenant's own version)",
        description="The tenant's own policy (`source` tenant), or the operator's default (`source` operator, "
        "version 0: the tenant has none).",
    )
    async def get_policy(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> Response[DunningPolicyOut]:
        with acting_as(await _as_named_tenant(request, session, tenant_id)):
            policy = await dunning.policy_in_force(session)
        return with_etag(policy, policy.version)

    @put(
        "/",
        summary="Give a tenant a dunning policy of its own, or replace it (operator admins)",
        description=f'{POLICY_RULES} 201 when the tenant had none. If-Match: the tenant\'s own version ("0": '
        "only if it has none); 412 when it changed since. Audited in the tenant's log.",
    )
    async def put_policy(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        tenant_id: uuid.UUID,
        data: DunningPolicyIn,
        if_match: IfMatch = None,
    ) -> Response[DunningPolicyOut]:
        with acting_as(await _as_named_tenant(request, session, tenant_id)):
            policy, created = await dunning.set_tenant_policy(session, data, if_match=if_match_version(if_match))
        status = HTTP_201_CREATED if created else HTTP_200_OK
        return with_etag(policy, policy.version, status, location=request.url.path)

    @delete(
        "/",
        status_code=HTTP_204_NO_CONTENT,
        summary="Take a tenant's own dunning policy away: the operator's default applies (operator admins)",
        description="404 when the tenant has no policy of its own; 412 when If-Match names another version. "
        "Audited in the tenant's log.",
    )
    async def delete_policy(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        tenant_id: uuid.UUID,
        if_match: IfMatch = None,
    ) -> None:
        with acting_as(await _as_named_tenant(request, session, tenant_id)):
            await dunning.remove_tenant_policy(session, if_match=if_match_version(if_match))


route_handlers = [DunningPolicyController, TenantDunningPolicyController]
