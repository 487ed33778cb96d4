"""The audit log: a tenant's own entries, and the operator's audited read across tenants."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import NotFoundError
from app.core.pagination import Page
from app.core.tenancy import Principal
from frontend.layout import layout_of
from frontend.listing import Window
from frontend.web import render
from tenants import schemas, service
from tenants.auth import requires
from tenants.permissions import Permission

Action = Annotated[str | None, QueryParameter(name="action", max_length=64)]


def _audit_page(
    request: Request[Principal, Any, Any], page: Page[schemas.AuditEntryOut], action: str | None, **context: Any
) -> Response[Any]:
    return render(request, "audit/list.html", page=page, action=action or "", **context)


@get("/audit", guards=[requires(Permission.VIEW_AUDIT_LOG)])
async def tenant_audit(
    request: Request[Principal, Any, Any], session: AsyncSession, window: Window, action: Action = None
) -> Response[Any]:
    page = await service.list_tenant_audit(session, cursor=window.cursor, limit=window.limit, action=action or None)
    return _audit_page(request, page, action, cross_tenant=False)


@get("/operator/audit", guards=[requires(Permission.READ_CROSS_TENANT)])
async def operator_audit(
    request: Request[Principal, Any, Any],
    session: AsyncSession,
    window: Window,
    action: Action = None,
    tenant: Annotated[str | None, QueryParameter(name="tenant", max_length=36)] = None,
) -> Response[Any]:
    try:
        # The filter form sends an empty value for "all tenants".
        tenant_id = uuid.UUID(tenant) if tenant else None
    except ValueError:
        raise NotFoundError("no such tenant") from None
    page = await service.list_all_audit(
        cursor=window.cursor, limit=window.limit, action=action or None, tenant_id=tenant_id
    )
    names = await service.tenant_names(session, [e.tenant_id for e in page.items if e.tenant_id])
    return _audit_page(
        request,
        page,
        action,
        cross_tenant=True,
        tenant_filter=tenant_id,
        tenants=layout_of(request.scope).switcher,
        tenant_names=names,
    )
