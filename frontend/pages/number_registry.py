"""The operator's number registry: the carrier numbers it holds, the tenant each is provisioned to, and
whether that tenant has mapped it (on its Phone numbers page). Operator admins provision and release
numbers; ops managers read the registry. Tenants see their own numbers on their Phone numbers page only.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.pagination import Page
from app.core.tenancy import Principal, current_principal
from app.telephony import schemas, service
from frontend.forms import Form, text_fields, validate_and_submit
from frontend.layout import layout_of
from frontend.listing import ListWithForm, Window
from frontend.web import flash, redirect
from tenants.auth import requires
from tenants.permissions import Permission
from tenants.service import tenant_names


def operator_requires(permission: Permission) -> Any:
    """Guard: an operator holding the permission (tenants share the registry's read permission for their own
    numbers, which their Phone numbers page shows)."""
    holds = requires(permission)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        holds(connection, handler)
        if not connection.user.is_operator:
            raise PermissionDeniedException("the number registry is the operator's")

    return guard


async def _registry(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.ProvisionedNumberOut]:
    principal = current_principal()
    if principal is None:
        raise NotAuthorizedException("sign in")
    return await service.list_provisioned_numbers(session, principal, cursor=cursor, limit=limit)


async def _page_context(
    request: Request[Any, Any, Any], session: AsyncSession, page: Page[schemas.ProvisionedNumberOut]
) -> dict[str, Any]:
    return {
        "tenant_names": await tenant_names(session, [number.tenant_id for number in page.items]),
        "mapped": await service.mapped_numbers(page.items),
        "tenant_choices": [(tenant.id, tenant.name) for tenant in layout_of(request.scope).switcher],
    }


REGISTRY = ListWithForm(
    path="/operator/numbers",
    template="number_registry/list.html",
    lister=_registry,
    blank=lambda: Form(values={"provider": "twilio"}),
    page_context=_page_context,
)
PROVISION = [operator_requires(Permission.PROVISION_NUMBERS)]


class NumberRegistryPages(Controller):
    path = REGISTRY.path

    @get("/", guards=[operator_requires(Permission.VIEW_PROVISIONED_NUMBERS)])
    async def list_numbers(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        return await REGISTRY.render(request, session, window)

    @post("/", guards=PROVISION)
    async def provision(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        values = text_fields(await request.form(), ("number", "tenant_id", "provider"))
        provisioned, errors = await validate_and_submit(
            session,
            schemas.ProvisionedNumberCreate,
            values,
            lambda data: service.provision_number(session, data),
        )
        if provisioned is None:
            return await REGISTRY.refused(request, session, values, errors)
        tenant = (await tenant_names(session, [provisioned.tenant_id])).get(provisioned.tenant_id, "the tenant")
        flash(request, f"{provisioned.number} provisioned to {tenant}, which may now map it.")
        return redirect(request, REGISTRY.path)

    @post("/{provisioned_number_id:uuid}/release", guards=PROVISION)
    async def release(
        self, request: Request[Principal, Any, Any], session: AsyncSession, provisioned_number_id: uuid.UUID
    ) -> Response[Any]:
        number = await service.get_provisioned_number(session, request.user, provisioned_number_id)
        tenant = (await tenant_names(session, [number.tenant_id])).get(number.tenant_id, "the tenant")
        await service.release_number(session, request.user, provisioned_number_id)
        flash(request, f"{number.number} released from {tenant}: its calls no longer reach {tenant}.")
        return redirect(request, REGISTRY.path)
