"""Entry points of the acting tenant: the inbound programs its phone numbers send calls to.

An entry point greets the caller, checks the tenant's hours (set on the tenant's settings page), may ask
for a language and then for a menu choice, and puts the call in a voice queue. The language choices and
the menu choices are repeated rows of the form (``frontend.editing``), read from parallel fields in
document order (``language_digit``/``language_tag``/``language_prompt``, ``menu_digit``/``menu_queue``/
``menu_prompt``) and keyed like the service's errors (``menu_options[1].queue_id``).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import InvalidInputError
from app.core.tenancy import Principal
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.routing.models import QueueChannel
from app.telephony import schemas, service
from frontend.editing import FormPage, VersionedForm, saved_differences
from frontend.forms import Form, check, text_fields
from frontend.listing import Window, every_row
from frontend.web import render
from tenants.auth import requires
from tenants.permissions import Permission, allowed

PATH = "/entry-points"
SCALARS = ("name", "greeting", "default_queue_id", "max_attempts", "closed_action", "closed_message")
# Fields with a default in the API that the form always shows: left empty, they are an error, not the default.
REQUIRED = ("max_attempts", "closed_message")
# Each group of rows, and its rows' fields as the API names and types them.
ROW_TYPES: dict[str, dict[str, Any]] = {
    "language_options": {"digit": schemas.Digit, "language": routing_schemas.AttributeValue, "prompt": schemas.Prompt},
    "menu_options": {"digit": schemas.Digit, "queue_id": uuid.UUID, "prompt": schemas.Prompt},
}
GROUPS = tuple(ROW_TYPES)
CLOSED_ACTIONS = (("message", "Play the closed message and hang up"), ("callback", "Play it, then offer a callback"))
# The order a new row's key is picked in: the next key not yet taken.
KEYS = "1234567890"


@dataclass
class LanguageRow:
    digit: str = ""
    language: str = ""
    prompt: str = ""


@dataclass
class MenuRow:
    digit: str = ""
    queue_id: str = ""
    prompt: str = ""


def entry_point_values(entry_point: schemas.EntryPointOut) -> dict[str, Any]:
    """A saved entry point as the form shows it."""
    data = msgspec.to_builtins(entry_point)
    return {name: str(data[name]) for name in SCALARS} | {
        "version": str(entry_point.version),
        "language_options": [LanguageRow(o.digit, o.language, o.prompt) for o in entry_point.language_options],
        "menu_options": [MenuRow(o.digit, str(o.queue_id), o.prompt) for o in entry_point.menu_options],
    }


def blank_values() -> dict[str, Any]:
    defaults = msgspec.to_builtins(schemas.EntryPointCreate(name="", default_queue_id=uuid.UUID(int=0)))
    values = {name: str(defaults[name]) for name in SCALARS}
    return values | {"default_queue_id": "", "version": "", "language_options": [], "menu_options": []}


def read_form(form: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = text_fields(form, (*SCALARS, "version"))

    def column(name: str) -> list[str]:
        return [str(value).strip() for value in form.getall(name, [])]

    values["language_options"] = [
        LanguageRow(*row)
        for row in zip(column("language_digit"), column("language_tag"), column("language_prompt"), strict=False)
    ]
    values["menu_options"] = [
        MenuRow(*row) for row in zip(column("menu_digit"), column("menu_queue"), column("menu_prompt"), strict=False)
    ]
    return values


# --- the Add and Remove buttons --------------------------------------------------------------------

_ROW_COMMAND = re.compile(r"^(add|remove)-(language|menu)(?:-(\d+))?$")


def edit_rows(values: dict[str, Any], command: str) -> str | None:
    """Applies an Add or Remove button (``add-menu``, ``remove-language-1``) to the rows.

    A new row gets the first key its group has not taken yet. Returns the id of the input to focus: the
    first of a row just added.
    """
    match = _ROW_COMMAND.match(command)
    if match is None:
        raise InvalidInputError(f"unknown form button {command!r}")
    op, group, index = match.groups()
    rows: list[Any] = values["language_options" if group == "language" else "menu_options"]
    if op == "remove":
        if index is not None and int(index) < len(rows):
            del rows[int(index)]
        return None
    taken = {row.digit for row in rows}
    digit = next((key for key in KEYS if key not in taken), "")
    if group == "language":
        rows.append(LanguageRow(digit=digit))
        return f"languages-{len(rows) - 1}-digit"
    rows.append(MenuRow(digit=digit))
    return f"menu-{len(rows) - 1}-digit"


# --- from the form to the API's struct -------------------------------------------------------------


def entry_point_data(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the API's entry point body, and the problems of single rows (keyed like the service's)."""
    # Rows with nothing but their key mean nothing; dropping them first keeps row numbers equal to the
    # service's indexes.
    values["language_options"] = [row for row in values["language_options"] if row.language or row.prompt]
    values["menu_options"] = [row for row in values["menu_options"] if row.queue_id or row.prompt]
    errors: dict[str, str] = {}
    data: dict[str, Any] = {name: values[name] for name in SCALARS}
    for group, types in ROW_TYPES.items():
        for j, row in enumerate(values[group]):
            for name, annotation in types.items():
                if problem := check(annotation, getattr(row, name)):
                    errors[f"{group}[{j}].{name}"] = problem
        # A group with a refused row is left to its rows' messages; the struct checks the others (their sizes).
        if not any(key.startswith(f"{group}[") for key in errors):
            data[group] = [dataclasses.asdict(row) for row in values[group]]
    return data, errors


def shown_keys(values: Mapping[str, Any]) -> set[str]:
    """The error keys the form shows: its fields, its groups and each of their rows' inputs."""
    shown = {*SCALARS, *GROUPS}
    for group, names in ROW_TYPES.items():
        shown |= {f"{group}[{j}].{name}" for j in range(len(values[group])) for name in names}
    return shown


# --- what changed meanwhile, after a stale edit ----------------------------------------------------


def _readable(values: Mapping[str, Any], name: str, queue_names: Mapping[str, str]) -> str:
    """One field of the form as a person reads it."""
    value = values[name]
    if name == "language_options":
        return "; ".join(f"{row.digit}: {row.language.lower()} ({row.prompt})" for row in value) or "none"
    if name == "menu_options":
        return "; ".join(f"{r.digit}: {queue_names.get(r.queue_id, 'no queue')} ({r.prompt})" for r in value) or "none"
    if name == "default_queue_id":
        return queue_names.get(value, "none")
    if name == "closed_action":
        return dict(CLOSED_ACTIONS).get(value, value)
    return str(value) or "none"


async def _voice_queues(session: AsyncSession) -> list[tuple[str, str]]:
    """The tenant's voice queues (an entry point takes calls), as the form's choices."""
    return [
        (str(q), name) for q, name, channel in await routing.queue_choices(session) if channel == QueueChannel.VOICE
    ]


async def _saved_meanwhile(
    session: AsyncSession, typed: Mapping[str, Any], entry_point: schemas.EntryPointOut
) -> dict[str, str]:
    names = dict(await _voice_queues(session))
    saved = entry_point_values(entry_point)
    return saved_differences(typed, saved, (*SCALARS, *GROUPS), lambda v, name: _readable(v, name, names))


# --- pages -----------------------------------------------------------------------------------------


async def _numbers_by_entry_point(session: AsyncSession) -> dict[uuid.UUID, list[str]]:
    """The tenant's phone numbers that send their calls to each entry point."""
    numbers: dict[uuid.UUID, list[str]] = {}
    for number in await every_row(routing.list_phone_numbers, session):
        if number.entry_point_id is not None:
            numbers.setdefault(number.entry_point_id, []).append(number.number)
    return {entry_point_id: sorted(found) for entry_point_id, found in numbers.items()}


async def _form_page(
    request: Request[Any, Any, Any], session: AsyncSession, page: FormPage, entry_point: schemas.EntryPointOut | None
) -> Response[Any]:
    numbers = (await _numbers_by_entry_point(session)).get(entry_point.id, []) if entry_point else []
    return render(
        request,
        "entry_points/form.html",
        status=page.code,
        form=page.form,
        entry_point=entry_point,
        focus=page.focus,
        saved=page.saved,
        manage=allowed(request.user, Permission.MANAGE_QUEUES),
        queues=await _voice_queues(session),
        closed_actions=CLOSED_ACTIONS,
        numbers=numbers,
    )


async def _update(
    session: AsyncSession, entry_point: schemas.EntryPointOut, body: schemas.EntryPointCreate, version: int | None
) -> Any:
    changes = schemas.EntryPointUpdate(**msgspec.structs.asdict(body))
    return await service.update_entry_point(session, entry_point.id, changes, if_match=version)


ENTRY_POINT_FORM = VersionedForm(
    noun="entry point",
    path=PATH,
    struct=schemas.EntryPointCreate,
    require=REQUIRED,
    read=read_form,
    edit_rows=edit_rows,
    body=entry_point_data,
    shown=shown_keys,
    create=service.create_entry_point,
    update=_update,
    differences=_saved_meanwhile,
    show=_form_page,
)


async def _entry_point(session: AsyncSession, entry_point_id: uuid.UUID) -> schemas.EntryPointOut:
    """A snapshot of the tenant's entry point (someone else's: 404), since a refused save rolls the row back."""
    return service.entry_point_out(await service.get_entry_point(session, entry_point_id))


class EntryPointPages(Controller):
    path = PATH

    @get("/", guards=[requires(Permission.VIEW_QUEUES)])
    async def list_entry_points(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        page = await service.list_entry_points(session, cursor=window.cursor, limit=window.limit)
        return render(
            request,
            "entry_points/list.html",
            page=page,
            queue_names={queue_id: name for queue_id, name, _ in await routing.queue_choices(session)},
            numbers=await _numbers_by_entry_point(session),
        )

    @get("/new", guards=[requires(Permission.MANAGE_QUEUES)])
    async def new(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await _form_page(request, session, FormPage(Form(values=blank_values())), None)

    @post("/", guards=[requires(Permission.MANAGE_QUEUES)])
    async def create(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await ENTRY_POINT_FORM.save(request, session, None)

    @get("/{entry_point_id:uuid}", guards=[requires(Permission.VIEW_QUEUES)])
    async def edit(
        self, request: Request[Principal, Any, Any], session: AsyncSession, entry_point_id: uuid.UUID
    ) -> Response[Any]:
        entry_point = await _entry_point(session, entry_point_id)
        return await _form_page(request, session, FormPage(Form(values=entry_point_values(entry_point))), entry_point)

    @post("/{entry_point_id:uuid}", guards=[requires(Permission.MANAGE_QUEUES)])
    async def update(
        self, request: Request[Principal, Any, Any], session: AsyncSession, entry_point_id: uuid.UUID
    ) -> Response[Any]:
        return await ENTRY_POINT_FORM.save(request, session, await _entry_point(session, entry_point_id))

    @post("/{entry_point_id:uuid}/delete", guards=[requires(Permission.MANAGE_QUEUES)])
    async def delete(
        self, request: Request[Principal, Any, Any], session: AsyncSession, entry_point_id: uuid.UUID
    ) -> Response[Any]:
        entry_point = await _entry_point(session, entry_point_id)
        return await ENTRY_POINT_FORM.delete(
            request,
            session,
            entry_point.name,
            lambda version: service.delete_entry_point(session, entry_point_id, if_match=version),
            back=f"{PATH}/{entry_point_id}",
        )
