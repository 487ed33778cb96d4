"""API clients of the acting tenant: create (the secret is shown once), rotate with overlap, revoke."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.tenancy import Principal
from frontend.forms import Form, refused, text_fields, validate_and_submit
from frontend.listing import ListWithForm, Window
from frontend.web import flash, redirect
from tenants import schemas, service
from tenants.auth import requires
from tenants.permissions import KNOWN_SCOPES, SCOPES, Permission

# What each scope lets a program do, in the words of the permission it stands for.
# One choice per scope, described by everything it allows (a scope may serve several permissions).
SCOPE_CHOICES = tuple(
    (scope, ", ".join(sorted(p.value.replace("_", " ") for p, s in SCOPES.items() if s == scope)))
    for scope in sorted(KNOWN_SCOPES)
)
OVERLAPS = ((0, "stop at once"), (300, "5 minutes"), (3600, "1 hour"), (86400, "24 hours"))
# A page showing a secret must not be kept by the browser or any cache.
NO_STORE = {"Cache-Control": "no-store"}


CLIENTS = ListWithForm(
    path="/api-clients",
    template="api_clients/list.html",
    lister=service.list_api_clients,
    blank=lambda: Form(values={"scopes": []}),
    context={"scope_choices": SCOPE_CHOICES, "overlaps": OVERLAPS, "secret": None},
)


async def _show_secret(
    request: Request[Principal, Any, Any],
    session: AsyncSession,
    client: schemas.ApiClientOut,
    secret: str,
    what: str,
    code: int = 200,
) -> Response[Any]:
    """The list with a client's new secret above it, shown this once."""
    return await CLIENTS.render(request, session, code=code, headers=NO_STORE, secret=(client, secret, what))


class ApiClientPages(Controller):
    path = CLIENTS.path
    guards = [requires(Permission.MANAGE_API_CLIENTS)]

    @get("/")
    async def list_clients(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        return await CLIENTS.render(request, session, window)

    @post("/")
    async def create(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form = await request.form()
        values: dict[str, Any] = {**text_fields(form, ("name",)), "scopes": [str(s) for s in form.getall("scopes", [])]}
        created, errors = await validate_and_submit(
            session, schemas.ApiClientCreate, values, lambda data: service.create_api_client(session, data)
        )
        if created is None:
            return await CLIENTS.refused(request, session, values, errors)
        return await _show_secret(request, session, *created, "created", code=201)

    @post("/{api_client_id:uuid}/rotate")
    async def rotate(
        self, request: Request[Principal, Any, Any], session: AsyncSession, api_client_id: uuid.UUID
    ) -> Response[Any]:
        await service.get_api_client(session, api_client_id)  # someone else's client: 404 before validation
        rotated, errors = await validate_and_submit(
            session,
            schemas.RotateSecret,
            text_fields(await request.form(), ("overlap_seconds",)),
            lambda data: service.rotate_api_client_secret(session, api_client_id, overlap_seconds=data.overlap_seconds),
        )
        if rotated is None:
            raise refused(errors)
        return await _show_secret(request, session, *rotated, "rotated")

    @post("/{api_client_id:uuid}/revoke")
    async def revoke(
        self, request: Request[Principal, Any, Any], session: AsyncSession, api_client_id: uuid.UUID
    ) -> Response[Any]:
        client = await service.revoke_api_client(session, api_client_id)
        flash(request, f"{client.name} is revoked: it gets no new tokens and its tokens stop working.")
        return redirect(request, CLIENTS.path)
