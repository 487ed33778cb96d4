"""Disposition codes of the acting tenant: the list, and one form for a new code and for changing one.

Saving goes through the shared flow of versioned forms (``frontend.editing``): a refused value is shown
next to its field with everything typed kept, and a stale save shows what was saved meanwhile. A code
itself is fixed once created (interactions and reports keep it); deactivating it (the Active switch) takes
it off agents' wrap-up lists, and only a code no contact has can be deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.tenancy import Principal
from app.routing import dispositions, schemas
from frontend.editing import FormPage, VersionedForm, no_rows, saved_differences
from frontend.forms import Form, text_fields
from frontend.listing import Window
from frontend.web import render
from tenants.auth import requires
from tenants.permissions import Permission, allowed

PATH = "/disposition-codes"
FIELDS = ("code", "label", "description", "sort_order")
SHOWN = (*FIELDS, "is_active")
VIEW = [requires(Permission.VIEW_DISPOSITIONS)]
MANAGE = [requires(Permission.MANAGE_DISPOSITIONS)]


def code_values(code: schemas.DispositionCodeOut) -> dict[str, Any]:
    """A saved code as the form shows it."""
    return {
        "code": code.code,
        "label": code.label,
        "description": code.description,
        "sort_order": str(code.sort_order),
        "is_active": "true" if code.is_active else "false",
        "version": str(code.version),
    }


def blank_values() -> dict[str, Any]:
    return {"code": "", "label": "", "description": "", "sort_order": "0", "is_active": "true", "version": ""}


def read_form(form: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = text_fields(form, (*FIELDS, "version"))
    values["is_active"] = "true" if form.get("is_active") else "false"
    return values


def _body(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    return {name: values[name] for name in FIELDS} | {"is_active": values["is_active"] == "true"}, {}


def _readable(values: Mapping[str, Any], name: str) -> str:
    if name == "is_active":
        return "active" if values[name] == "true" else "inactive"
    return str(values[name]) or "none"


async def _saved_meanwhile(
    session: AsyncSession, typed: Mapping[str, Any], code: schemas.DispositionCodeOut
) -> dict[str, str]:
    return saved_differences(typed, code_values(code), SHOWN, _readable)


async def _form_page(
    request: Request[Any, Any, Any], session: AsyncSession, page: FormPage, code: schemas.DispositionCodeOut | None
) -> Response[Any]:
    return render(
        request,
        "dispositions/form.html",
        status=page.code,
        form=page.form,
        code=code,
        saved=page.saved,
        manage=allowed(request.user, Permission.MANAGE_DISPOSITIONS),
    )


async def _update(
    session: AsyncSession, code: schemas.DispositionCodeOut, body: schemas.DispositionCodeCreate, version: int | None
) -> Any:
    changes = schemas.DispositionCodeUpdate(
        label=body.label, description=body.description, is_active=body.is_active, sort_order=body.sort_order
    )
    return await dispositions.update_code(session, code.id, changes, if_match=version)


CODE_FORM = VersionedForm(
    noun="disposition code",
    path=PATH,
    struct=schemas.DispositionCodeCreate,
    require=("sort_order",),
    read=read_form,
    edit_rows=no_rows,
    body=_body,
    shown=lambda values: set(SHOWN),
    create=dispositions.create_code,
    update=_update,
    differences=_saved_meanwhile,
    show=_form_page,
    label=lambda values: str(values["code"]),
)


async def _code(session: AsyncSession, code_id: uuid.UUID) -> schemas.DispositionCodeOut:
    """The code as saved (another tenant's: 404), a snapshot a refused save cannot roll back."""
    return dispositions.code_out(await dispositions.get_code(session, code_id))


class DispositionCodePages(Controller):
    path = PATH

    @get("/", guards=VIEW)
    async def list_codes(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        page = await dispositions.list_codes(session, cursor=window.cursor, limit=window.limit)
        return render(
            request, "dispositions/list.html", page=page, manage=allowed(request.user, Permission.MANAGE_DISPOSITIONS)
        )

    @get("/new", guards=MANAGE)
    async def new(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await _form_page(request, session, FormPage(Form(values=blank_values())), None)

    @post("/", guards=MANAGE)
    async def create(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await CODE_FORM.save(request, session, None)

    @get("/{code_id:uuid}", guards=VIEW)
    async def edit(
        self, request: Request[Principal, Any, Any], session: AsyncSession, code_id: uuid.UUID
    ) -> Response[Any]:
        code = await _code(session, code_id)
        return await _form_page(request, session, FormPage(Form(values=code_values(code))), code)

    @post("/{code_id:uuid}", guards=MANAGE)
    async def update(
        self, request: Request[Principal, Any, Any], session: AsyncSession, code_id: uuid.UUID
    ) -> Response[Any]:
        return await CODE_FORM.save(request, session, await _code(session, code_id))

    @post("/{code_id:uuid}/delete", guards=MANAGE)
    async def delete(
        self, request: Request[Principal, Any, Any], session: AsyncSession, code_id: uuid.UUID
    ) -> Response[Any]:
        code = await _code(session, code_id)
        return await CODE_FORM.delete(
            request,
            session,
            code.code,
            lambda version: dispositions.delete_code(session, code_id, if_match=version),
            back=f"{PATH}/{code_id}",
        )
