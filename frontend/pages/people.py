"""People: the acting tenant's users, the operator's staff, the shared agent pool and a tenant's agents."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, get, post
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.pagination import Page
from app.core.tenancy import Principal
from frontend.forms import Form, refused, text_fields, validate_and_submit
from frontend.layout import OPERATOR_ROLE_CHOICES, TENANT_ROLE_CHOICES, layout_of
from frontend.listing import ListWithForm, Window, form_again
from frontend.web import flash, fragment, is_htmx, redirect, render
from tenants import schemas, service
from tenants.auth import requires
from tenants.permissions import Permission

HINTS = {
    "email": "an email address such as name@example.com",
    "employee_code": "letters, digits and dashes (up to 32)",
}
PERSON_FIELDS = ("email", "display_name", "role", "password")

S = TypeVar("S", bound=msgspec.Struct)
T = TypeVar("T")


async def _add_person(
    request: Request[Principal, Any, Any],
    session: AsyncSession,
    listing: ListWithForm,
    fields: tuple[str, ...],
    struct: type[S],
    create: Callable[[S], Awaitable[T]],
    added: Callable[[T], str],
) -> Response[Any]:
    """The side form of a list of people: back to the list with a message, or the form again with its errors."""
    values = text_fields(await request.form(), fields)
    person, errors = await validate_and_submit(session, struct, values, create, hints=HINTS)
    if person is None:
        return await listing.refused(request, session, values, errors)
    flash(request, added(person))
    return redirect(request, listing.path)


async def _agent_pool(_: AsyncSession, *, cursor: str | None, limit: int) -> Page[schemas.AgentOut]:
    # The pool is read across tenants in its own audited transaction, not the request's.
    return await service.list_agents(cursor=cursor, limit=limit)


AGENT_SETTINGS_FIELDS = ("site", "chat_capacity")


def _settings_form(agent: schemas.AgentOut) -> Form:
    """An agent's settings form as saved."""
    return Form(
        values={
            "site": agent.site,
            "chat_capacity": str(agent.chat_capacity),
            "is_active": "true" if agent.is_active else "false",
        }
    )


async def _pool_context(
    request: Request[Any, Any, Any], session: AsyncSession, page: Page[schemas.AgentOut]
) -> dict[str, Any]:
    assigned = [a.tenant_id for agent in page.items for a in agent.assignments]
    return {
        "tenant_names": await service.tenant_names(session, assigned),
        "tenant_choices": [(t.id, t.name) for t in layout_of(request.scope).switcher],
        "settings": {agent.id: _settings_form(agent) for agent in page.items},
    }


USERS = ListWithForm(
    path="/users",
    template="users/list.html",
    lister=service.list_tenant_users,
    blank=lambda: Form(values={"role": "supervisor"}),
    context={"roles": TENANT_ROLE_CHOICES},
)
STAFF = ListWithForm(
    path="/operator/staff",
    template="staff/list.html",
    lister=service.list_staff,
    blank=lambda: Form(values={"role": "ops_manager"}),
    context={"roles": OPERATOR_ROLE_CHOICES},
)
POOL = ListWithForm(
    path="/operator/agents",
    template="agents/pool.html",
    lister=_agent_pool,
    # ``assign`` / ``edit``: the agent whose assignment / settings form was refused, with that form.
    context={"assign": None, "edit": None, "blank": Form()},
    page_context=_pool_context,
)


class UserPages(Controller):
    """The acting tenant's users; operators acting for the tenant see the same page."""

    path = "/users"

    @get("/", guards=[requires(Permission.VIEW_USERS)])
    async def list_users(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        return await USERS.render(request, session, window)

    @post("/", guards=[requires(Permission.MANAGE_USERS)])
    async def add_user(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await _add_person(
            request,
            session,
            USERS,
            PERSON_FIELDS,
            schemas.TenantUserCreate,
            lambda data: service.create_tenant_user(session, data),
            lambda user: f"{user.display_name} ({user.email}) added.",
        )

    @post("/{user_id:uuid}/role", guards=[requires(Permission.MANAGE_USERS)])
    async def change_role(
        self, request: Request[Principal, Any, Any], session: AsyncSession, user_id: uuid.UUID
    ) -> Response[Any]:
        await service.get_tenant_user(session, user_id)  # someone else's user: 404 before any validation
        user, errors = await validate_and_submit(
            session,
            schemas.TenantUserUpdate,
            text_fields(await request.form(), ("role",)),
            lambda data: service.update_tenant_user(session, user_id, data),
            require=("role",),
        )
        if user is None:
            raise refused(errors)
        if is_htmx(request):
            return fragment(request, "users/_row.html", user=user, roles=TENANT_ROLE_CHOICES, saved=True)
        flash(request, f"{user.display_name} is now {dict(TENANT_ROLE_CHOICES)[user.role]}.")
        return redirect(request, USERS.path)

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
        return redirect(request, USERS.path)


class StaffPages(Controller):
    path = "/operator/staff"
    guards = [requires(Permission.MANAGE_OPERATOR_STAFF)]

    @get("/")
    async def list_staff(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        return await STAFF.render(request, session, window)

    @post("/")
    async def add_staff(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await _add_person(
            request,
            session,
            STAFF,
            PERSON_FIELDS,
            schemas.StaffCreate,
            lambda data: service.create_staff(session, data),
            lambda staff: f"{staff.display_name} ({staff.email}) added to operator staff.",
        )


class AgentPoolPages(Controller):
    """The operator's shared agent pool with each agent's tenant assignments."""

    path = "/operator/agents"
    guards = [requires(Permission.MANAGE_AGENTS)]

    @get("/")
    async def pool(self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window) -> Response[Any]:
        return await POOL.render(request, session, window)

    @post("/")
    async def add_agent(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await _add_person(
            request,
            session,
            POOL,
            ("email", "display_name", "employee_code", "site", "chat_capacity", "password"),
            schemas.AgentCreate,
            lambda data: service.create_agent(session, data),
            lambda agent: f"Agent {agent.display_name} ({agent.employee_code}) added to the pool.",
        )

    @post("/{agent_id:uuid}/settings")
    async def change_settings(
        self, request: Request[Principal, Any, Any], session: AsyncSession, agent_id: uuid.UUID
    ) -> Response[Any]:
        await service.get_agent(session, agent_id)  # an unknown agent: 404 before any validation
        form = await request.form()
        values = text_fields(form, AGENT_SETTINGS_FIELDS) | {"is_active": "true" if form.get("is_active") else "false"}
        agent, errors = await validate_and_submit(
            session,
            schemas.AgentUpdate,
            values,
            # The form always sends the site: empty clears it (``validate`` reads empty as "not given").
            lambda data: service.update_agent(session, agent_id, msgspec.structs.replace(data, site=values["site"])),
            require=("chat_capacity",),
        )
        if agent is None:
            return await POOL.render(request, session, edit=(agent_id, form_again(values, errors)), code=422)
        chats = f"up to {agent.chat_capacity} chats" if agent.chat_capacity else "voice only"
        state = "active" if agent.is_active else "inactive"
        flash(request, f"Saved {agent.display_name} ({agent.employee_code}): {chats}, {state}.")
        return redirect(request, POOL.path)

    @post("/{agent_id:uuid}/assignments")
    async def assign(
        self, request: Request[Principal, Any, Any], session: AsyncSession, agent_id: uuid.UUID
    ) -> Response[Any]:
        form = await request.form()
        values = text_fields(form, ("tenant_id", "alias")) | {"dedicated": "true" if form.get("dedicated") else "false"}
        assignment, errors = await validate_and_submit(
            session, schemas.AgentAssign, values, lambda data: service.assign_agent(session, agent_id, data)
        )
        if assignment is None:
            return await POOL.render(request, session, assign=(agent_id, form_again(values, errors)), code=422)
        names = await service.tenant_names(session, [assignment.tenant_id])
        dedicated = " (dedicated: seat time billed to the tenant)" if assignment.dedicated else ""
        flash(request, f"Assigned to {names.get(assignment.tenant_id, 'the tenant')} as {assignment.alias}{dedicated}.")
        return redirect(request, POOL.path)

    @post("/{agent_id:uuid}/assignments/{tenant_id:uuid}/remove")
    async def unassign(
        self, request: Request[Principal, Any, Any], session: AsyncSession, agent_id: uuid.UUID, tenant_id: uuid.UUID
    ) -> Response[Any]:
        await service.unassign_agent(session, agent_id, tenant_id)
        names = await service.tenant_names(session, [tenant_id])
        flash(request, f"Taken off {names.get(tenant_id, 'the tenant')}.")
        return redirect(request, POOL.path)


@get("/agents", guards=[requires(Permission.VIEW_AGENTS)])
async def tenant_agents(request: Request[Principal, Any, Any], session: AsyncSession, window: Window) -> Response[Any]:
    """The agents working for the acting tenant, as the tenant knows them: by alias."""
    page = await service.list_tenant_agents(session, cursor=window.cursor, limit=window.limit)
    return render(request, "agents/tenant.html", page=page)
