"""The acting tenant's single sign-on (OIDC) connection."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import NotFoundError
from app.core.tenancy import Principal
from frontend.forms import Form, parse_list, text_fields, validate_and_submit
from frontend.layout import TENANT_ROLE_CHOICES, layout_of
from frontend.listing import form_again
from frontend.web import flash, redirect, render
from tenants import oidc, schemas, service
from tenants.auth import requires
from tenants.permissions import Permission

HINTS = {"allowed_email_domains": "domains such as example.com, one per line"}


def _form_of(connection: schemas.SsoConnectionOut | None) -> Form:
    if connection is None:
        return Form(values={"enabled": True})
    return Form(
        values={
            "issuer": connection.issuer,
            "client_id": connection.client_id,
            "allowed_email_domains": "\n".join(connection.allowed_email_domains),
            "provision_role": connection.provision_role or "",
            "enabled": connection.enabled,
        }
    )


class SsoPages(Controller):
    path = "/sso"
    guards = [requires(Permission.MANAGE_SSO)]

    async def _page(
        self, request: Request[Principal, Any, Any], session: AsyncSession, *, form: Form | None = None, code: int = 200
    ) -> Response[Any]:
        try:
            connection: schemas.SsoConnectionOut | None = await service.get_sso_connection(session)
        except NotFoundError:
            connection = None
        tenant = layout_of(request.scope).tenant
        return render(
            request,
            "sso/settings.html",
            status=code,
            connection=connection,
            form=form or _form_of(connection),
            roles=TENANT_ROLE_CHOICES,
            redirect_uri=oidc.callback_url(),
            login_url=oidc.start_url(tenant.slug) if tenant else "",
        )

    @get("/")
    async def show(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await self._page(request, session)

    @post("/")
    async def save(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form = await request.form()
        values: dict[str, Any] = text_fields(
            form,
            ("issuer", "client_id", "client_secret", "allowed_email_domains", "provision_role"),
            raw=("client_secret",),
        )
        values["enabled"] = form.get("enabled") == "on"
        saved, errors = await validate_and_submit(
            session,
            schemas.SsoConnectionIn,
            {**values, "allowed_email_domains": parse_list(values["allowed_email_domains"])},
            lambda data: service.put_sso_connection(session, data),
            hints=HINTS,
        )
        if saved is None:
            form_shown = form_again(values, errors, secrets=("client_secret",))
            return await self._page(request, session, form=form_shown, code=422)
        _, created = saved
        flash(request, "SSO connection created." if created else "SSO connection saved.")
        return redirect(request, "/sso")

    @post("/delete")
    async def delete(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        await service.delete_sso_connection(session)
        flash(request, "SSO connection removed: people of this tenant sign in with passwords only.")
        return redirect(request, "/sso")
