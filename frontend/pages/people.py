"""People: the acting tenant's users, the operator's staff, the shared agent pool and a tenant's agents."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import DEFAULT_PAGE_SIZE, Cursor, Limit
from app.core.tenancy import Principal
from frontend.forms import Form, refused, submit, text_fields, validate
from frontend.layout import OPERATOR_ROLE_CHOICES, TENANT_ROLE_CHOICES, layout_of
from frontend.web import flash, fragment, is_htmx, redirect, render
from tenants import schemas, service
from tenants.auth import requires
from tenants.permissions import Permission

HINTS = {
    "email": "an email address such as name@example.com",
    "employee_code": "letters, digits and dashes (up to 32)",
}


class UserPages(Controller):
    """The acting tenant's users; operators acting for the tenant see the same page."""

    path = "/users"

    async def _page(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        form: Form | None = None,
        code: int = 200,
    ) -> Response[Any]:
        page = await service.list_tenant_users(session, cursor=cursor, limit=limit)
        return render(
            request,
            "users/list.html",
            status=code,
            page=page,
            roles=TENANT_ROLE_CHOICES,
            form=form or Form(values={"role": "supervisor"}),
        )

    @get("/", guards=[requires(Permission.VIEW_USERS)])
    async def list_users(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Any]:
        return await self._page(request, session, cursor=cursor, limit=limit)

    @post("/", guards=[requires(Permission.MANAGE_USERS)])
    async def add_user(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        values = text_fields(await request.form(), ("email", "display_name", "role", "password"))
        data, errors = validate(schemas.TenantUserCreate, values, hints=HINTS)
        user = None
        if data is not None:
            user, errors = await submit(session, lambda: service.create_tenant_user(session, data))
        if user is None:
            values.pop("password")
            return await self._page(request, session, form=Form(values=values, errors=errors), code=422)
        flash(request, f"{user.display_name} ({user.email}) added.")
        return redirect(request, "/users")

    @post("/{user_id:uuid}/role", guards=[requires(Permission.MANAGE_USERS)])
    async def change_role(
        self, request: Request[Principal, Any, Any], session: AsyncSession, user_id: uuid.UUID
    ) -> Response[Any]:
        await service.get_tenant_user(session, user_id)  # someone else's user: 404 before any validation
        values = text_fields(await request.form(), ("role",))
        data, errors = validate(schemas.TenantUserUpdate, values, require=("role",))
        user = None
        if data is not None:
            user, errors = await submit(session, lambda: service.update_tenant_user(session, user_id, data))
        if user is None:
            raise refused(errors)
        if is_htmx(request):
            return fragment(request, "users/_row.html", user=user, roles=TENANT_ROLE_CHOICES, saved=True)
        flash(request, f"{user.display_name} is now {dict(TENANT_ROLE_CHOICES)[user.role]}.")
        return redirect(request, "/users")

    @post("/{user_id:uuid}/remove", guards=[requires(Permission.MANAGE_USERS)])
    async def remove(
        self, request: Request[Principal, Any, Any], session: AsyncSession, user_id: uuid.UUID
    ) -> Response[Any]:
        user = await service.get_tenant_user(session, user_id)
        await service.remove_tenant_user(session, user_id)
        message = f"{user.display_name} ({user.email}) removed from the tenant."
        if is_htmx(request):
            # The row disappears (empty swap); the message goes to the alert area.
            return fragment(request, "partials/removed.html", message=message)
        flash(request, message)
        return redirect(request, "/users")


class StaffPages(Controller):
    path = "/operator/staff"
    guards = [requires(Permission.MANAGE_OPERATOR_STAFF)]

    async def _page(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        form: Form | None = None,
        code: int = 200,
    ) -> Response[Any]:
        page = await service.list_staff(session, cursor=cursor, limit=limit)
        return render(
            request,
            "staff/list.html",
            status=code,
            page=page,
            roles=OPERATOR_ROLE_CHOICES,
            form=form or Form(values={"role": "ops_manager"}),
        )

    @get("/")
    async def list_staff(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Any]:
        return await self._page(request, session, cursor=cursor, limit=limit)

    @post("/")
    async def add_staff(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        values = text_fields(await request.form(), ("email", "display_name", "role", "password"))
        data, errors = validate(schemas.StaffCreate, values, hints=HINTS)
        staff = None
        if data is not None:
            staff, errors = await submit(session, lambda: service.create_staff(session, data))
        if staff is None:
            values.pop("password")
            return await self._page(request, session, form=Form(values=values, errors=errors), code=422)
        flash(request, f"{staff.display_name} ({staff.email}) added to operator staff.")
        return redirect(request, "/operator/staff")


class AgentPoolPages(Controller):
    """The operator's shared agent pool with each agent's tenant assignments."""

    path = "/operator/agents"
    guards = [requires(Permission.MANAGE_AGENTS)]

    async def _page(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        form: Form | None = None,
        assign: tuple[uuid.UUID, Form] | None = None,
        code: int = 200,
    ) -> Response[Any]:
        page = await service.list_agents(cursor=cursor, limit=limit)
        assigned = [a.tenant_id for agent in page.items for a in agent.assignments]
        names = await service.tenant_names(session, assigned)
        return render(
            request,
            "agents/pool.html",
            status=code,
            page=page,
            tenant_names=names,
            tenant_choices=[(t.id, t.name) for t in layout_of(request.scope).switcher],
            form=form or Form(),
            assign=assign,
            blank=Form(),
        )

    @get("/")
    async def pool(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Any]:
        return await self._page(request, session, cursor=cursor, limit=limit)

    @post("/")
    async def add_agent(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        values = text_fields(await request.form(), ("email", "display_name", "employee_code", "site", "password"))
        data, errors = validate(schemas.AgentCreate, values, hints=HINTS)
        agent = None
        if data is not None:
            agent, errors = await submit(session, lambda: service.create_agent(session, data))
        if agent is None:
            values.pop("password")
            return await self._page(request, session, form=Form(values=values, errors=errors), code=422)
        flash(request, f"Agent {agent.display_name} ({agent.employee_code}) added to the pool.")
        return redirect(request, "/operator/agents")

    @post("/{agent_id:uuid}/assignments")
    async def assign(
        self, request: Request[Principal, Any, Any], session: AsyncSession, agent_id: uuid.UUID
    ) -> Response[Any]:
        values = text_fields(await request.form(), ("tenant_id", "alias"))
        data, errors = validate(schemas.AgentAssign, values)
        assignment = None
        if data is not None:
            assignment, errors = await submit(session, lambda: service.assign_agent(session, agent_id, data))
        if assignment is None:
            return await self._page(request, session, assign=(agent_id, Form(values=values, errors=errors)), code=422)
        names = await service.tenant_names(session, [assignment.tenant_id])
        flash(request, f"Assigned to {names.get(assignment.tenant_id, 'the tenant')} as {assignment.alias}.")
        return redirect(request, "/operator/agents")

    @post("/{agent_id:uuid}/assignments/{tenant_id:uuid}/remove")
    async def unassign(
        self, request: Request[Principal, Any, Any], session: AsyncSession, agent_id: uuid.UUID, tenant_id: uuid.UUID
    ) -> Response[Any]:
        await service.unassign_agent(session, agent_id, tenant_id)
        names = await service.tenant_names(session, [tenant_id])
        flash(request, f"Taken off {names.get(tenant_id, 'the tenant')}.")
        return redirect(request, "/operator/agents")


@get("/agents", guards=[requires(Permission.VIEW_AGENTS)])
async def tenant_agents(
    request: Request[Principal, Any, Any],
    session: AsyncSession,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Any]:
    """The agents working for the acting tenant, as the tenant knows them: by alias."""
    page = await service.list_tenant_agents(session, cursor=cursor, limit=limit)
    return render(request, "agents/tenant.html", page=page)
