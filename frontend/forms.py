"""HTML forms checked by the API's own input structs, so a page and the API accept exactly the same values.

A form is validated field by field (all problems at once, each next to its field), then converted into
the struct the service takes. Errors the services raise after that (a taken slug, a stale version) come
back through ``submit`` as form errors instead of error pages.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from litestar.datastructures import FormMultiDict
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import ConflictError, DomainError, InvalidInputError, PreconditionFailedError
from tenants.schemas import TimeOfDay

S = TypeVar("S", bound=msgspec.Struct)
T = TypeVar("T")

# Errors about the form as a whole (shown above it), not about one field.
FORM = "_form"


@dataclass
class Form:
    """What a form shows: the values typed (kept on error) and an error per field."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def text_fields(form: FormMultiDict, names: Iterable[str], *, raw: Iterable[str] = ("password",)) -> dict[str, str]:
    """The named single-value fields, trimmed (except secrets, which are taken exactly as typed)."""
    keep = set(raw)
    values: dict[str, str] = {}
    for name in names:
        value = str(form.get(name) or "")
        values[name] = value if name in keep else value.strip()
    return values


def _description(annotation: Any) -> str | None:
    """The first ``Meta(description=...)`` in a type: the API's own words for what a value must look like."""
    stack = [annotation]
    while stack:
        current = stack.pop()
        for item in getattr(current, "__metadata__", ()):
            if isinstance(item, msgspec.Meta) and item.description:
                return item.description
        stack.extend(typing.get_args(current))
    return None


def _descriptions(struct: type[msgspec.Struct]) -> dict[str, str]:
    """Each field's description (see ``_description``)."""
    hints = typing.get_type_hints(struct, include_extras=True)
    return {name: text for name, annotation in hints.items() if (text := _description(annotation))}


_LENGTH = re.compile(r"^Expected `(str|array|object)` of length (>=|<=) (\d+)")
_NUMBER = re.compile(r"^Expected `(int|float)` (>=|<=|>|<) (-?[\d.]+)")


def explain(message: str, hint: str | None) -> str:
    """A person's version of a msgspec validation message."""
    message = message.split(" - at `", 1)[0]
    if match := _LENGTH.match(message):
        kind, op, number = match.groups()
        n = int(number)
        if kind == "str":
            if op == ">=":
                return "required" if n == 1 else f"must be at least {n} characters"
            return f"must be at most {n} characters"
        if op == ">=":
            return "choose at least one" if n == 1 else f"choose at least {n}"
        return f"at most {n} entries"
    if match := _NUMBER.match(message):
        _, op, number = match.groups()
        return {">=": f"must be at least {number}", "<=": f"must be at most {number}"}.get(op, message)
    if message.startswith("Expected `str` matching regex"):
        return f"must be {hint}" if hint else "has the wrong format"
    if message.startswith(("Invalid enum value", "Invalid UUID")):
        return "choose one of the options"
    if message.startswith(("Expected `int`", "Expected `float`")):
        return "must be a number"
    if message.startswith("Invalid RFC3339 encoded date"):
        return "must be a date as YYYY-MM-DD"
    if message.startswith("Object missing required field"):
        return "required"
    return message


def check(annotation: Any, value: Any) -> str | None:
    """One value (a row of a repeated group, say) against one of the API's types: None, or why it is refused."""
    if value is None or value == "":
        return "required"
    try:
        msgspec.convert(value, annotation, strict=False)
    except msgspec.ValidationError as exc:
        return explain(str(exc), _description(annotation))
    return None


def validate(
    struct: type[S],
    data: Mapping[str, Any],
    *,
    hints: Mapping[str, str] | None = None,
    require: Iterable[str] = (),
) -> tuple[S | None, dict[str, str]]:
    """Checks form values against the API's input struct; returns it, or an error per field.

    Empty strings count as "not given", so optional fields take their defaults and required ones say so.
    ``hints`` describe formats for fields whose type carries no description; ``require`` makes fields
    that are optional in a partial update (PATCH-like structs) required in a form that always sends them.
    """
    given = {key: value for key, value in data.items() if value is not None and value != ""}
    words = {**_descriptions(struct), **(hints or {})}
    required = set(require)
    errors: dict[str, str] = {}
    for info in msgspec.structs.fields(struct):
        if info.name not in given:
            if info.required or info.name in required:
                errors[info.name] = "required"
            continue
        try:
            msgspec.convert(given[info.name], info.type, strict=False)
        except msgspec.ValidationError as exc:
            errors[info.name] = explain(str(exc), words.get(info.name))
    if errors:
        return None, errors
    try:
        return msgspec.convert(given, struct, strict=False), {}
    except msgspec.ValidationError as exc:
        return None, {FORM: explain(str(exc), None)}


def domain_errors(exc: DomainError) -> dict[str, str]:
    """A service's refusal as form errors: by field when the service names fields, else for the form."""
    if exc.errors:
        return {error.field: error.message for error in exc.errors}
    return {FORM: exc.detail}


def placed(errors: Mapping[str, str], shown: Iterable[str]) -> dict[str, str]:
    """Errors of the fields a form shows stay theirs; others (a value the page fills in, say) go above the form."""
    keys = {*shown, FORM}
    kept = {key: message for key, message in errors.items() if key in keys}
    stray = [f"{key}: {message}" for key, message in errors.items() if key not in keys]
    if stray:
        kept[FORM] = "; ".join(filter(None, [kept.get(FORM), *stray]))
    return kept


def refused(errors: Mapping[str, str]) -> InvalidInputError:
    """A refused inline action (no form to show it next to) as one error message."""
    return InvalidInputError(errors.get(FORM) or "; ".join(f"{key}: {value}" for key, value in errors.items()))


FORM_REFUSALS = (InvalidInputError, ConflictError, PreconditionFailedError)


async def submit(session: AsyncSession, action: Callable[[], Awaitable[T]]) -> tuple[T | None, dict[str, str]]:
    """Runs a service call in a savepoint: a refusal rolls back its partial writes and becomes form errors.

    Missing objects (404) and missing rights (403) are not form errors; they propagate to error pages.
    """
    try:
        async with session.begin_nested():
            return await action(), {}
    except FORM_REFUSALS as exc:
        return None, domain_errors(exc)


async def validate_and_submit(
    session: AsyncSession,
    struct: type[S],
    values: Mapping[str, Any],
    action: Callable[[S], Awaitable[T]],
    *,
    hints: Mapping[str, str] | None = None,
    require: Iterable[str] = (),
) -> tuple[T | None, dict[str, str]]:
    """``validate`` the values, then ``submit`` the action with the struct: its result, or the form's errors."""
    data, errors = validate(struct, values, hints=hints, require=require)
    if data is None:
        return None, errors
    return await submit(session, lambda: action(data))


# --- business hours and holidays as people type them ----------------------------------------------

WEEKDAYS: tuple[tuple[str, str], ...] = (
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
)
_RANGE = re.compile(r"^\s*(\S+)\s*[-–]\s*(\S+)\s*$")
HOURS_HINT = "times as HH:MM-HH:MM, several ranges separated by commas (e.g. 08:00-12:00, 13:00-17:00)"


def hours_text(ranges: Iterable[Iterable[str]]) -> str:
    return ", ".join("-".join(pair) for pair in ranges)


def parse_hours(values: Mapping[str, str]) -> tuple[dict[str, list[list[str]]], dict[str, str]]:
    """``hours_mon="08:00-12:00, 13:00-17:00"`` → ``{"mon": [["08:00", "12:00"], ...]}``; empty: closed."""
    hours: dict[str, list[list[str]]] = {}
    errors: dict[str, str] = {}
    for day, _ in WEEKDAYS:
        text = values.get(f"hours_{day}", "").strip()
        if not text:
            continue
        ranges = []
        for part in text.split(","):
            match = _RANGE.match(part)
            if match is None:
                errors[f"business_hours.{day}"] = f"write {HOURS_HINT}"
                break
            ranges.append([match.group(1), match.group(2)])
        else:
            try:
                msgspec.convert(ranges, list[tuple[TimeOfDay, TimeOfDay]])
            except msgspec.ValidationError:
                errors[f"business_hours.{day}"] = f"write {HOURS_HINT}"
        hours[day] = ranges
    return hours, errors


def parse_list(text: str) -> list[str]:
    """Entries separated by commas or line breaks (holidays, email domains)."""
    return [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]
