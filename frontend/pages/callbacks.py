"""Scheduled callbacks of the acting tenant: upcoming and recent ones, a form to book one, a cancel button.

Times are the tenant's: the form's date and time (``datetime-local``, no zone of its own) is read in the tenant's
time zone, and the lists show due times there. The API's checks (phone number, due time, queue) come back next
to the field they are about.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.pagination import Page
from app.core.tenancy import Principal
from app.routing import service as routing
from app.routing.callbacks import schemas, service
from frontend.editing import form_version
from frontend.forms import text_fields, validate_and_submit
from frontend.layout import layout_of
from frontend.listing import ListWithForm, Window, every_row
from frontend.web import flash, fragment, is_htmx, redirect
from tenants.auth import requires
from tenants.permissions import Permission

MANAGE = [requires(Permission.MANAGE_CALLBACKS)]
FIELDS = ("queue_id", "phone", "due_at", "note")
View = Literal["upcoming", "recent"]
# What each view lists, and in which order: the next due first; the last changed first.
VIEWS: dict[str, tuple[tuple[str, ...], str]] = {
    "upcoming": (("scheduled", "queued"), "due_at"),
    "recent": (("completed", "cancelled", "failed"), "-updated_at"),
}
ViewParam = Annotated[View, QueryParameter(name="view", description="upcoming or recent callbacks")]


def _zone(request: Request[Any, Any, Any]) -> zoneinfo.ZoneInfo:
    tenant = layout_of(request.scope).tenant
    return zoneinfo.ZoneInfo(tenant.timezone if tenant else "UTC")


def local_time(zone: zoneinfo.ZoneInfo) -> Callable[[dt.datetime | None], str]:
    """A time as people of the tenant read it: on its clock, to the minute."""

    def show(value: dt.datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value is not None else ""

    return show


def _due_at(text: str, zone: zoneinfo.ZoneInfo) -> tuple[str, dict[str, str]]:
    """The form's local date and time as the API's RFC 3339 time (with the zone's offset), or why it is not one."""
    if not text:
        return "", {}
    try:
        local = dt.datetime.fromisoformat(text)
    except ValueError:
        return "", {"due_at": "enter a date and a time, e.g. 2026-12-01 14:30"}
    if local.tzinfo is not None:
        return "", {"due_at": "enter the time on the tenant's clock, without a zone"}
    return local.replace(tzinfo=zone).isoformat(), {}


async def _page_context(
    request: Request[Any, Any, Any], session: AsyncSession, _: Page[schemas.CallbackOut]
) -> dict[str, Any]:
    zone = _zone(request)
    voice_queues = await every_row(routing.list_queues, session, channel="voice", is_active=True)
    return {
        "queue_names": {queue_id: name for queue_id, name, _ in await routing.queue_choices(session)},
        "queue_options": sorted(((str(q.id), q.name) for q in voice_queues), key=lambda choice: choice[1].lower()),
        "timezone": zone.key,
        "local": local_time(zone),
    }


async def _lister(
    session: AsyncSession, *, cursor: str | None, limit: int, view: str = "upcoming"
) -> Page[schemas.CallbackOut]:
    statuses, sort = VIEWS[view]
    return await service.list_callbacks(session, cursor=cursor, limit=limit, status=statuses, sort=sort)


CALLBACKS = ListWithForm(
    path="/callbacks",
    template="callbacks/list.html",
    lister=_lister,
    context={"view": "upcoming"},
    page_context=_page_context,
)


class CallbackPages(Controller):
    path = CALLBACKS.path

    @get("/", guards=[requires(Permission.VIEW_CALLBACKS)])
    async def list_callbacks(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window, view: ViewParam = "upcoming"
    ) -> Response[Any]:
        return await CALLBACKS.render(request, session, window, filters={"view": view}, view=view)

    @post("/", guards=MANAGE)
    async def schedule(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        values = text_fields(await request.form(), FIELDS)
        zone = _zone(request)
        due_at, errors = _due_at(values["due_at"], zone)
        callback = None
        if not errors:
            callback, errors = await validate_and_submit(
                session,
                schemas.CallbackCreate,
                {**values, "due_at": due_at},
                lambda data: service.schedule(session, data),
            )
        if callback is None:
            return await CALLBACKS.refused(request, session, values, errors)
        flash(request, f"Callback to {callback.phone} scheduled for {local_time(zone)(callback.due_at)} ({zone.key}).")
        return redirect(request, CALLBACKS.path)

    @post("/{callback_id:uuid}/cancel", guards=MANAGE)
    async def cancel(
        self, request: Request[Principal, Any, Any], session: AsyncSession, callback_id: uuid.UUID
    ) -> Response[Any]:
        version = form_version(text_fields(await request.form(), ("version",))["version"])
        # Refusals (taken by an agent, already over, changed since) are error messages: in the alert area with htmx.
        callback = await service.cancel(session, callback_id, if_match=version)
        message = f"Callback to {callback.phone} cancelled."
        if is_htmx(request):
            # The row leaves the upcoming list (empty swap); the message goes to the alert area.
            return fragment(request, "partials/removed.html", message=message)
        flash(request, message)
        return redirect(request, CALLBACKS.path)
