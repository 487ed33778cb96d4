"""Tenants: the operator's list, creation, detail with settings and lifecycle; a tenant admin's own settings."""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import PermissionDeniedException
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.tenancy import Principal
from frontend.forms import (
    FORM,
    HOURS_HINT,
    WEEKDAYS,
    Form,
    hours_text,
    parse_hours,
    parse_list,
    submit,
    text_fields,
    validate,
    validate_and_submit,
)
from frontend.listing import ListWithForm, Window
from frontend.web import acting_tenant, flash, redirect, render
from tenants import schemas, service, sessions
from tenants.auth import authenticated, requires
from tenants.models import Tenant, TenantStatus
from tenants.permissions import Permission, allowed

STATUSES = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED, TenantStatus.DELETING)
SETTINGS_FIELDS = ("name", "timezone", "locale", "holidays", "version", *(f"hours_{day}" for day, _ in WEEKDAYS))
HOLIDAYS_HINT = "dates as YYYY-MM-DD, e.g. 2026-12-25"
STATUS_CHANGED = {
    "suspend": "{name} is suspended: its people and programs cannot sign in.",
    "reactivate": "{name} is active again.",
}


@functools.cache
def timezones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def settings_form(tenant: schemas.TenantOut) -> Form:
    values: dict[str, Any] = {
        "name": tenant.name,
        "timezone": tenant.timezone,
        "locale": tenant.locale,
        "holidays": "\n".join(tenant.holidays),
        "version": str(tenant.version),
    }
    for day, _ in WEEKDAYS:
        values[f"hours_{day}"] = hours_text(tenant.business_hours.get(day, []))
    return Form(values=values)


async def save_settings(request: Request[Any, Any, Any], session: AsyncSession, tenant: Tenant) -> Form | None:
    """Applies the settings form to ``tenant``; returns the form with its errors, or None when saved."""
    values = text_fields(await request.form(), SETTINGS_FIELDS)
    hours, errors = parse_hours(values)
    data, field_errors = validate(
        schemas.TenantUpdate,
        {
            "name": values["name"],
            "timezone": values["timezone"],
            "locale": values["locale"],
            "business_hours": hours,
            "holidays": parse_list(values["holidays"]),
        },
        hints={"holidays": HOLIDAYS_HINT, "business_hours": HOURS_HINT},
        require=("name", "timezone", "locale"),
    )
    errors |= field_errors
    if data is None or errors:
        return Form(values=values, errors=errors)
    version = int(values["version"]) if values["version"].isdigit() else None
    _, errors = await submit(session, lambda: service.update_tenant(session, tenant, data, if_match=version))
    if errors:
        if FORM in errors and version is not None and version != tenant.version:
            errors[FORM] += ". Reload the page to see the current settings."
        return Form(values=values, errors=errors)
    return None


def _may_edit_settings(principal: Principal) -> bool:
    return allowed(principal, Permission.MANAGE_TENANT_SETTINGS)


TENANTS = ListWithForm(
    path="/tenants",
    template="tenants/list.html",
    lister=service.list_tenants,
    blank=lambda: Form(values={"timezone": "UTC", "locale": "en-US"}),
    context={"filter_status": "", "statuses": STATUSES, "timezones": timezones()},
)


class TenantPages(Controller):
    path = TENANTS.path

    @get("/", guards=[requires(Permission.VIEW_TENANTS)])
    async def list_tenants(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window, status: str | None = None
    ) -> Response[Any]:
        return await TENANTS.render(
            request, session, window, filters={"status": status or None}, filter_status=status or ""
        )

    @post("/", guards=[requires(Permission.MANAGE_TENANTS)])
    async def create_tenant(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        values = text_fields(await request.form(), ("slug", "name", "timezone", "locale"))
        tenant, errors = await validate_and_submit(
            session, schemas.TenantCreate, values, lambda data: service.create_tenant(session, data)
        )
        if tenant is None:
            return await TENANTS.refused(request, session, values, errors)
        flash(request, f"Tenant {tenant.name} created.")
        return redirect(request, f"/tenants/{tenant.id}")

    async def _detail(
        self,
        request: Request[Principal, Any, Any],
        tenant: Tenant,
        *,
        settings: Form | None = None,
        delete: Form | None = None,
        code: int = 200,
    ) -> Response[Any]:
        out = service.tenant_out(tenant)
        return render(
            request,
            "tenants/detail.html",
            status=code,
            tenant=out,
            settings=settings or settings_form(out),
            delete=delete or Form(),
            may_edit=_may_edit_settings(request.user),
            weekdays=WEEKDAYS,
            timezones=timezones(),
        )

    @get("/{tenant_id:uuid}", guards=[authenticated])
    async def detail(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> Response[Any]:
        return await self._detail(request, await service.get_tenant(session, tenant_id, request.user))

    @post("/{tenant_id:uuid}/settings", guards=[authenticated])
    async def save(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> Response[Any]:
        # Operators may open any tenant, others only their own: the lookup answers 404 before the role check.
        tenant = await service.get_tenant(session, tenant_id, request.user)
        if not _may_edit_settings(request.user):
            raise PermissionDeniedException("your role cannot change tenant settings")
        form = await save_settings(request, session, tenant)
        if form is not None:
            return await self._detail(request, tenant, settings=form, code=422)
        flash(request, "Settings saved.")
        return redirect(request, f"/tenants/{tenant_id}")

    async def _transition(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID, transition: str
    ) -> Tenant | None:
        tenant = await service.get_tenant(session, tenant_id, request.user)
        changed, errors = await submit(session, lambda: service.change_tenant_status(session, tenant, transition))
        if errors:
            flash(request, errors.get(FORM) or next(iter(errors.values())), "error")
        return changed

    async def _change_status(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID, transition: str
    ) -> Response[Any]:
        """Suspend or reactivate, then back to the tenant's page with what happened."""
        if tenant := await self._transition(request, session, tenant_id, transition):
            flash(request, STATUS_CHANGED[transition].format(name=tenant.name))
        return redirect(request, f"/tenants/{tenant_id}")

    @post("/{tenant_id:uuid}/suspend", guards=[requires(Permission.MANAGE_TENANTS)])
    async def suspend(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> Response[Any]:
        return await self._change_status(request, session, tenant_id, "suspend")

    @post("/{tenant_id:uuid}/reactivate", guards=[requires(Permission.MANAGE_TENANTS)])
    async def reactivate(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> Response[Any]:
        return await self._change_status(request, session, tenant_id, "reactivate")

    @post("/{tenant_id:uuid}/delete", guards=[requires(Permission.MANAGE_TENANTS)])
    async def delete(
        self, request: Request[Principal, Any, Any], session: AsyncSession, tenant_id: uuid.UUID
    ) -> Response[Any]:
        tenant = await service.get_tenant(session, tenant_id, request.user)
        values = text_fields(await request.form(), ("confirm_slug",))
        if values["confirm_slug"] != tenant.slug:
            form = Form(values=values, errors={"confirm_slug": f"type {tenant.slug} exactly to confirm"})
            return await self._detail(request, tenant, delete=form, code=422)
        if await self._transition(request, session, tenant_id, "delete") is None:
            return redirect(request, f"/tenants/{tenant_id}")
        if request.user.tenant_id == tenant_id:
            # Acting for a tenant being erased would end the session; go back to all tenants instead.
            sessions.switch_tenant(request, None)
        flash(request, f"{tenant.name} is being deleted; its data is erased in the background.")
        return redirect(request, TENANTS.path)


class SettingsPage(Controller):
    """The acting tenant's settings (a tenant admin's way to the same form the operator has)."""

    path = "/settings"
    guards = [requires(Permission.MANAGE_TENANT_SETTINGS)]

    async def _tenant(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Tenant:
        return await service.get_tenant(session, acting_tenant(request.user), request.user)

    def _page(self, request: Request[Principal, Any, Any], tenant: Tenant, form: Form, code: int) -> Response[Any]:
        return render(
            request,
            "tenants/settings.html",
            status=code,
            tenant=service.tenant_out(tenant),
            settings=form,
            weekdays=WEEKDAYS,
            timezones=timezones(),
        )

    @get("/")
    async def show(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        tenant = await self._tenant(request, session)
        return self._page(request, tenant, settings_form(service.tenant_out(tenant)), 200)

    @post("/")
    async def save(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        tenant = await self._tenant(request, session)
        form = await save_settings(request, session, tenant)
        if form is not None:
            return self._page(request, tenant, form, 422)
        flash(request, "Settings saved.")
        return redirect(request, "/settings")
