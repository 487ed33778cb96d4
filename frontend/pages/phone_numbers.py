"""Phone numbers (DIDs) of the acting tenant: map one the operator provisioned, point it elsewhere, remove it.

A number sends its calls to an entry point (hours, language choice, menu) or straight to a voice queue.
The form has one choice for that, ``target`` (``queue:<id>`` or ``entry_point:<id>``), which becomes the
API's ``queue_id`` or ``entry_point_id``; the service's answers about either come back on ``target``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, Response, get, post
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.pagination import MAX_LIMIT, Page
from app.core.tenancy import Principal
from app.routing import schemas, service
from app.routing.models import QueueChannel
from app.telephony import schemas as telephony_schemas
from app.telephony import service as telephony
from frontend.forms import refused, text_fields, validate_and_submit
from frontend.listing import ListWithForm, Window, every_row
from frontend.web import acting_tenant, flash, fragment, is_htmx, redirect
from tenants.auth import requires
from tenants.permissions import Permission

MANAGE = [requires(Permission.MANAGE_QUEUES)]
# The API's fields for where calls go, by the kind the form's choice names.
TARGET_FIELDS = {"queue": "queue_id", "entry_point": "entry_point_id"}


def target_of(number: schemas.PhoneNumberOut) -> str:
    """The form's choice for where the number's calls go now."""
    return f"queue:{number.queue_id}" if number.queue_id else f"entry_point:{number.entry_point_id}"


def _api_fields(values: Mapping[str, str]) -> dict[str, str]:
    """The form's values with its ``target`` choice as the API's ``queue_id`` or ``entry_point_id``."""
    kind, _, target_id = values.get("target", "").partition(":")
    fields = {key: value for key, value in values.items() if key != "target"}
    return fields | ({TARGET_FIELDS[kind]: target_id} if kind in TARGET_FIELDS else {})


def _on_target(errors: Mapping[str, str]) -> dict[str, str]:
    """The API's errors about ``queue_id`` or ``entry_point_id``, shown on the form's one ``target`` choice."""
    targets = set(TARGET_FIELDS.values())
    return {("target" if key in targets else key): message for key, message in errors.items()}


async def _entry_points(session: AsyncSession) -> list[telephony_schemas.EntryPointOut]:
    found: list[telephony_schemas.EntryPointOut] = await every_row(telephony.list_entry_points, session)
    return sorted(found, key=lambda entry_point: entry_point.name.lower())


async def _targets(session: AsyncSession) -> dict[str, Any]:
    """Where a number may send its calls (entry points, voice queues), and the name of each."""
    entry_points = [(f"entry_point:{e.id}", e.name) for e in await _entry_points(session)]
    queues = [
        (f"queue:{q}", name)
        for q, name, channel in await service.queue_choices(session)
        if channel == QueueChannel.VOICE
    ]
    return {
        "target_groups": [("Entry points", entry_points), ("Voice queues", queues)],
        "target_names": dict(entry_points + queues),
        "target_of": target_of,
    }


async def _page_context(
    request: Request[Any, Any, Any], session: AsyncSession, _: Page[schemas.PhoneNumberOut]
) -> dict[str, Any]:
    provisioned = await telephony.list_provisioned_numbers(
        session, request.user, cursor=None, limit=MAX_LIMIT, tenant_id=acting_tenant(request.user)
    )
    return await _targets(session) | {"provisioned": [number.number for number in provisioned.items]}


NUMBERS = ListWithForm(
    path="/phone-numbers",
    template="phone_numbers/list.html",
    lister=service.list_phone_numbers,
    page_context=_page_context,
)


class PhoneNumberPages(Controller):
    path = NUMBERS.path

    @get("/", guards=[requires(Permission.VIEW_QUEUES)])
    async def list_numbers(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        return await NUMBERS.render(request, session, window)

    @post("/", guards=MANAGE)
    async def add(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        values = text_fields(await request.form(), ("number", "target", "label"))
        if not values["target"]:
            return await NUMBERS.refused(request, session, values, {"target": "choose where its calls go"})
        number, errors = await validate_and_submit(
            session,
            schemas.PhoneNumberCreate,
            _api_fields(values),
            lambda data: service.create_phone_number(session, data),
        )
        if number is None:
            return await NUMBERS.refused(request, session, values, _on_target(errors))
        target = (await _targets(session))["target_names"].get(target_of(number), "its target")
        flash(request, f"{number.number} added: its calls go to {target}.")
        return redirect(request, NUMBERS.path)

    @post("/{phone_number_id:uuid}/target", guards=MANAGE)
    async def point(
        self, request: Request[Principal, Any, Any], session: AsyncSession, phone_number_id: uuid.UUID
    ) -> Response[Any]:
        await service.get_phone_number(session, phone_number_id)  # someone else's number: 404 before validation
        values = text_fields(await request.form(), ("target",))
        if not values["target"]:
            raise refused({"target": "choose where its calls go"})
        number, errors = await validate_and_submit(
            session,
            schemas.PhoneNumberUpdate,
            _api_fields(values),
            lambda data: service.update_phone_number(session, phone_number_id, data),
        )
        if number is None:
            raise refused(_on_target(errors))
        targets = await _targets(session)
        if is_htmx(request):
            return fragment(request, "phone_numbers/_row.html", number=number, saved=True, **targets)
        flash(request, f"{number.number} now sends its calls to {targets['target_names'].get(target_of(number))}.")
        return redirect(request, NUMBERS.path)

    @post("/{phone_number_id:uuid}/delete", guards=MANAGE)
    async def remove(
        self, request: Request[Principal, Any, Any], session: AsyncSession, phone_number_id: uuid.UUID
    ) -> Response[Any]:
        number = await service.get_phone_number(session, phone_number_id)
        target = (await _targets(session))["target_names"].get(target_of(number), "the tenant")
        await service.delete_phone_number(session, phone_number_id)
        message = f"{number.number} removed: its calls no longer reach {target}."
        if is_htmx(request):
            # The row disappears (empty swap); the message goes to the alert area.
            return fragment(request, "partials/removed.html", message=message)
        flash(request, message)
        return redirect(request, NUMBERS.path)
