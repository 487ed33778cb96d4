"""API clients of the acting tenant: create (the secret is shown once), rotate with overlap, revoke."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import DEFAULT_PAGE_SIZE, Cursor, Limit
from app.core.tenancy import Principal
from frontend.forms import Form, refused, submit, text_fields, validate
from frontend.web import flash, redirect, render
from tenants import schemas, service
from tenants.auth import requires
from tenants.permissions import SCOPES, Permission

# What each scope lets a program do, in the words of the permission it stands for.
SCOPE_CHOICES = tuple(sorted((scope, permission.value.replace("_", " ")) for permission, scope in SCOPES.items()))
OVERLAPS = ((0, "stop at once"), (300, "5 minutes"), (3600, "1 hour"), (86400, "24 hours"))
# A page showing a secret must not be kept by the browser or any cache.
NO_STORE = {"Cache-Control": "no-store"}


class ApiClientPages(Controller):
    path = "/api-clients"
    guards = [requires(Permission.MANAGE_API_CLIENTS)]

    async def _page(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        form: Form | None = None,
        secret: tuple[schemas.ApiClientOut, str, str] | None = None,
        code: int = 200,
    ) -> Response[Any]:
        page = await service.list_api_clients(session, cursor=cursor, limit=limit)
        return render(
            request,
            "api_clients/list.html",
            status=code,
            headers=NO_STORE if secret else None,
            page=page,
            form=form or Form(values={"scopes": []}),
            scope_choices=SCOPE_CHOICES,
            overlaps=OVERLAPS,
            secret=secret,
        )

    @get("/")
    async def list_clients(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Any]:
        return await self._page(request, session, cursor=cursor, limit=limit)

    @post("/")
    async def create(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form = await request.form()
        values: dict[str, Any] = {**text_fields(form, ("name",)), "scopes": [str(s) for s in form.getall("scopes", [])]}
        data, errors = validate(schemas.ApiClientCreate, values)
        created = None
        if data is not None:
            created, errors = await submit(session, lambda: service.create_api_client(session, data))
        if created is None:
            return await self._page(request, session, form=Form(values=values, errors=errors), code=422)
        client, secret = created
        return await self._page(request, session, secret=(client, secret, "created"), code=201)

    @post("/{api_client_id:uuid}/rotate")
    async def rotate(
        self, request: Request[Principal, Any, Any], session: AsyncSession, api_client_id: uuid.UUID
    ) -> Response[Any]:
        await service.get_api_client(session, api_client_id)  # someone else's client: 404 before validation
        values = text_fields(await request.form(), ("overlap_seconds",))
        data, errors = validate(schemas.RotateSecret, values)
        rotated = None
        if data is not None:
            overlap = data.overlap_seconds
            rotated, errors = await submit(
                session,
                lambda: service.rotate_api_client_secret(session, api_client_id, overlap_seconds=overlap),
            )
        if rotated is None:
            raise refused(errors)
        client, secret = rotated
        return await self._page(request, session, secret=(client, secret, "rotated"))

    @post("/{api_client_id:uuid}/revoke")
    async def revoke(
        self, request: Request[Principal, Any, Any], session: AsyncSession, api_client_id: uuid.UUID
    ) -> Response[Any]:
        client = await service.revoke_api_client(session, api_client_id)
        flash(request, f"{client.name} is revoked: it gets no new tokens and its tokens stop working.")
        return redirect(request, "/api-clients")
