"""Queues of the acting tenant: the list, and one form for a new queue and for changing one.

A queue's soft skills, its relaxation steps (each with the skills of its ring) and its hard requirements
are repeated rows, added and removed by the form's buttons (``frontend.editing``; htmx swaps just the form).
Rows are read from parallel fields in document order (``skill``/``level``, ``step0_skill``/``step0_level``,
...).
"""

from __future__ import annotations

import re
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import InvalidInputError
from app.core.tenancy import Principal
from app.routing import schemas, service
from frontend.editing import FormPage, VersionedForm, saved_differences
from frontend.forms import Form, check, text_fields
from frontend.listing import Window
from frontend.web import render
from tenants.auth import requires
from tenants.permissions import Permission, allowed

PATH = "/queues"
SCALARS = (
    "name",
    "channel",
    "priority",
    "answer_target_seconds",
    "target_service_level",
    "max_wait_seconds",
    "overflow_queue_id",
    "overflow_after_seconds",
    "wrap_up_seconds",
    "callback_offer_after_seconds",
    "script",
)
# Fields with a default in the API that the form always shows: left empty, they are an error, not the default.
REQUIRED = ("priority", "answer_target_seconds", "target_service_level", "wrap_up_seconds")
GROUPS = ("skills", "relaxation", "required_attributes")
CHANNELS = tuple((name, name.title()) for name in typing.get_args(schemas.ChannelName))
KINDS = tuple((name, name.title()) for name in typing.get_args(schemas.AttributeKindName))
LEVELS = (("1", "1 · novice"), ("2", "2"), ("3", "3"), ("4", "4"), ("5", "5 · expert"))


@dataclass
class SkillRow:
    skill: str = ""
    level: str = "1"


@dataclass
class Step:
    """A relaxation step: after ``after_seconds`` of waiting, the ring asks only ``skills``."""

    after_seconds: str = ""
    skills: list[SkillRow] = field(default_factory=list)


@dataclass
class AttributeRow:
    kind: str = KINDS[0][0]
    value: str = ""


def queue_values(queue: schemas.QueueOut) -> dict[str, Any]:
    """A saved queue as the form shows it."""
    data = msgspec.to_builtins(queue)
    values = {name: "" if data[name] is None else str(data[name]) for name in SCALARS}
    return values | {
        "is_active": "true" if queue.is_active else "false",
        "version": str(queue.version),
        "skills": _rows(queue.skills),
        "relaxation": [Step(str(step.after_seconds), _rows(step.skills)) for step in queue.relaxation],
        "required_attributes": [AttributeRow(a.kind, a.value) for a in queue.required_attributes],
    }


def blank_values() -> dict[str, Any]:
    defaults = msgspec.to_builtins(schemas.QueueCreate(name=""))
    values = {name: "" if defaults[name] is None else str(defaults[name]) for name in SCALARS}
    return values | {"is_active": "true", "version": "", "skills": [], "relaxation": [], "required_attributes": []}


def _rows(skills: Mapping[str, int]) -> list[SkillRow]:
    return [SkillRow(skill, str(level)) for skill, level in skills.items()]


def _skill_rows(form: FormMultiDict, prefix: str) -> list[SkillRow]:
    names, levels = form.getall(f"{prefix}skill", []), form.getall(f"{prefix}level", [])
    return [SkillRow(str(name).strip(), str(level).strip()) for name, level in zip(names, levels, strict=False)]


def read_form(form: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = text_fields(form, (*SCALARS, "version"))
    values["is_active"] = "true" if form.get("is_active") else "false"
    values["skills"] = _skill_rows(form, "")
    values["relaxation"] = [
        Step(str(after).strip(), _skill_rows(form, f"step{i}_"))
        for i, after in enumerate(form.getall("step_after", []))
    ]
    kinds, texts = form.getall("attribute_kind", []), form.getall("attribute_value", [])
    values["required_attributes"] = [
        AttributeRow(str(kind), str(text).strip()) for kind, text in zip(kinds, texts, strict=False)
    ]
    return values


# --- the Add and Remove buttons --------------------------------------------------------------------

_ROW_COMMAND = re.compile(r"^(add|remove)-(skill|attribute|step|step-skill)(?:-(\d+))?(?:-(\d+))?$")


def edit_rows(values: dict[str, Any], command: str) -> str | None:
    """Applies an Add or Remove button (``add-skill``, ``remove-step-skill-1-0``, ...) to the rows.

    Returns the id of the input to focus: the first of a row just added.
    """
    match = _ROW_COMMAND.match(command)
    if match is None:
        raise InvalidInputError(f"unknown form button {command!r}")
    op, group, first, second = match.groups()
    steps: list[Step] = values["relaxation"]
    rows: list[Any]
    new: Any
    if group == "skill":
        rows, index, new, focus = values["skills"], first, SkillRow(), "skills-{n}-skill"
    elif group == "attribute":
        rows, index, new, focus = values["required_attributes"], first, AttributeRow(), "attributes-{n}-kind"
    elif group == "step":
        # A new ring starts as a copy of the one before it: usually one skill is then lowered or dropped.
        ring = steps[-1].skills if steps else values["skills"]
        new = Step(skills=[SkillRow(row.skill, row.level) for row in ring])
        rows, index, focus = steps, first, "relaxation-{n}-after"
    else:
        step = int(first or 0)
        if step >= len(steps):
            return None
        rows, index, new, focus = steps[step].skills, second, SkillRow(), f"relaxation-{step}-skills-{{n}}-skill"
    if op == "add":
        rows.append(new)
        return focus.format(n=len(rows) - 1)
    if index is not None and int(index) < len(rows):
        del rows[int(index)]
    return None


# --- from the form to the API's struct -------------------------------------------------------------


def _drop_blank_rows(values: dict[str, Any]) -> None:
    """Rows left empty mean nothing; dropping them first keeps row numbers equal to the service's indexes."""
    values["skills"] = [row for row in values["skills"] if row.skill]
    for step in values["relaxation"]:
        step.skills = [row for row in step.skills if row.skill]
    values["relaxation"] = [step for step in values["relaxation"] if step.after_seconds or step.skills]
    values["required_attributes"] = [row for row in values["required_attributes"] if row.value]


def _skill_map(rows: list[SkillRow], key: str, errors: dict[str, str]) -> dict[str, str]:
    skills: dict[str, str] = {}
    for j, row in enumerate(rows):
        for name, annotation, value in (
            ("skill", schemas.SkillName, row.skill),
            ("level", schemas.Proficiency, row.level),
        ):
            if problem := check(annotation, value):
                errors[f"{key}[{j}].{name}"] = problem
        if row.skill in skills:
            errors[f"{key}[{j}].skill"] = f"{row.skill} is listed twice"
        skills[row.skill] = row.level
    return skills


def queue_data(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the API's queue body, and the problems of single rows (keyed like the service's errors)."""
    _drop_blank_rows(values)
    errors: dict[str, str] = {}
    data: dict[str, Any] = {name: values[name] for name in SCALARS} | {"is_active": values["is_active"]}
    groups: dict[str, Any] = {"skills": _skill_map(values["skills"], "skills", errors), "relaxation": []}
    for i, step in enumerate(values["relaxation"]):
        key = f"relaxation[{i}]"
        if problem := check(schemas.Seconds, step.after_seconds):
            errors[f"{key}.after_seconds"] = problem
        groups["relaxation"].append(
            {"after_seconds": step.after_seconds, "skills": _skill_map(step.skills, f"{key}.skills", errors)}
        )
    groups["required_attributes"] = []
    for j, row in enumerate(values["required_attributes"]):
        for name, annotation in (("kind", schemas.AttributeKindName), ("value", schemas.AttributeValue)):
            if problem := check(annotation, getattr(row, name)):
                errors[f"required_attributes[{j}].{name}"] = problem
        groups["required_attributes"].append({"kind": row.kind, "value": row.value})
    # A group with a refused row is left to its rows' messages; the struct checks the others (their sizes).
    for name, value in groups.items():
        if not any(key.startswith(f"{name}[") for key in errors):
            data[name] = value
    return data, errors


def _shown_keys(values: Mapping[str, Any]) -> set[str]:
    """The error keys the form shows: its fields, its groups and each of their rows' inputs."""
    shown = {*SCALARS, "is_active", *GROUPS}
    shown |= {f"skills[{j}].{n}" for j in range(len(values["skills"])) for n in ("skill", "level")}
    attributes = range(len(values["required_attributes"]))
    shown |= {f"required_attributes[{j}].{n}" for j in attributes for n in ("kind", "value")}
    for i, step in enumerate(values["relaxation"]):
        shown |= {f"relaxation[{i}].after_seconds", f"relaxation[{i}].skills"}
        shown |= {f"relaxation[{i}].skills[{j}].{n}" for j in range(len(step.skills)) for n in ("skill", "level")}
    return shown


# --- what changed meanwhile, after a stale edit ----------------------------------------------------


def _ring_text(rows: list[SkillRow]) -> str:
    return ", ".join(f"{row.skill} ≥ {row.level}" for row in sorted(rows, key=lambda row: row.skill))


def _readable(values: Mapping[str, Any], name: str, queue_names: Mapping[str, str]) -> str:
    """One field of the form as a person reads it."""
    value = values[name]
    if name == "skills":
        return _ring_text(value) or "none"
    if name == "relaxation":
        return "; ".join(f"after {s.after_seconds} s: {_ring_text(s.skills) or 'any agent'}" for s in value) or "none"
    if name == "required_attributes":
        return ", ".join(sorted(f"{row.kind} {row.value.lower()}" for row in value)) or "none"
    if name == "overflow_queue_id":
        return queue_names.get(value, "none")
    if name == "is_active":
        return "active" if value == "true" else "inactive"
    return str(value) or "none"


async def _saved_meanwhile(session: AsyncSession, typed: Mapping[str, Any], queue: schemas.QueueOut) -> dict[str, str]:
    names = {str(qid): name for qid, name, _ in await service.queue_choices(session)}
    return saved_differences(
        typed, queue_values(queue), (*SCALARS, "is_active", *GROUPS), lambda v, name: _readable(v, name, names)
    )


# --- pages -----------------------------------------------------------------------------------------


def _overflow_choices(
    queues: list[tuple[uuid.UUID, str, str]], queue_id: uuid.UUID | None
) -> list[tuple[uuid.UUID, str]]:
    """Every other queue of the tenant (the service refuses one on another channel, and loops)."""
    return [
        (qid, name if channel == "voice" else f"{name} ({channel})") for qid, name, channel in queues if qid != queue_id
    ]


async def _form_page(
    request: Request[Any, Any, Any], session: AsyncSession, page: FormPage, queue: schemas.QueueOut | None
) -> Response[Any]:
    queues = await service.queue_choices(session)
    return render(
        request,
        "queues/form.html",
        status=page.code,
        form=page.form,
        queue=queue,
        focus=page.focus,
        saved=page.saved,
        manage=allowed(request.user, Permission.MANAGE_QUEUES),
        channels=CHANNELS,
        kinds=KINDS,
        levels=LEVELS,
        overflow_choices=_overflow_choices(queues, queue.id if queue else None),
    )


async def _update(
    session: AsyncSession, queue: schemas.QueueOut, body: schemas.QueueCreate, version: int | None
) -> Any:
    changes = schemas.QueueUpdate(**msgspec.structs.asdict(body))
    return await service.update_queue(session, queue.id, changes, if_match=version)


QUEUE_FORM = VersionedForm(
    noun="queue",
    path=PATH,
    struct=schemas.QueueCreate,
    require=REQUIRED,
    read=read_form,
    edit_rows=edit_rows,
    body=queue_data,
    shown=_shown_keys,
    create=service.create_queue,
    update=_update,
    differences=_saved_meanwhile,
    show=_form_page,
)


class QueuePages(Controller):
    path = PATH

    @get("/", guards=[requires(Permission.VIEW_QUEUES)])
    async def list_queues(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        page = await service.list_queues(session, cursor=window.cursor, limit=window.limit)
        names = {queue_id: name for queue_id, name, _ in await service.queue_choices(session)}
        return render(request, "queues/list.html", page=page, queue_names=names)

    @get("/new", guards=[requires(Permission.MANAGE_QUEUES)])
    async def new(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await _form_page(request, session, FormPage(Form(values=blank_values())), None)

    @post("/", guards=[requires(Permission.MANAGE_QUEUES)])
    async def create(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await QUEUE_FORM.save(request, session, None)

    @get("/{queue_id:uuid}", guards=[requires(Permission.VIEW_QUEUES)])
    async def edit(
        self, request: Request[Principal, Any, Any], session: AsyncSession, queue_id: uuid.UUID
    ) -> Response[Any]:
        queue = service.queue_out(await service.get_queue(session, queue_id))
        return await _form_page(request, session, FormPage(Form(values=queue_values(queue))), queue)

    @post("/{queue_id:uuid}", guards=[requires(Permission.MANAGE_QUEUES)])
    async def update(
        self, request: Request[Principal, Any, Any], session: AsyncSession, queue_id: uuid.UUID
    ) -> Response[Any]:
        # Someone else's queue: 404 before the form is read. A snapshot, since a refused save rolls it back.
        return await QUEUE_FORM.save(request, session, service.queue_out(await service.get_queue(session, queue_id)))

    @post("/{queue_id:uuid}/delete", guards=[requires(Permission.MANAGE_QUEUES)])
    async def delete(
        self, request: Request[Principal, Any, Any], session: AsyncSession, queue_id: uuid.UUID
    ) -> Response[Any]:
        queue = await service.get_queue(session, queue_id)
        return await QUEUE_FORM.delete(
            request,
            session,
            queue.name,
            lambda version: service.delete_queue(session, queue_id, if_match=version),
            back=f"{PATH}/{queue_id}",
        )
