"""One form page for creating and for changing a versioned object with repeated rows (a queue, an entry point).

The form's "Add" and "Remove" buttons send the whole form back (``rows=<command>``) and get it again with
one row more or less, so nothing typed is lost and no script is needed. A save checks each row against the
API's own types, then the whole object against the API's create struct, then the service decides; every
refusal is shown next to the row or field it is about. A stale save (someone else saved the object since
the form was loaded) keeps what was typed, shows the saved value beside each field that differs, and
takes the new version, so saving again replaces the saved object knowingly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import msgspec
from litestar import Request, Response
from litestar.datastructures import FormMultiDict
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import InvalidInputError
from frontend.forms import FORM, Form, placed, submit, text_fields, validate
from frontend.templating import sentence
from frontend.web import flash, redirect

STALE = (
    "Someone else saved this {noun} while you were editing it; it is now version {version}. Your changes are "
    "kept below, and each field that differs from the saved {noun} shows the saved value. Save again to "
    "replace the saved {noun} with what is below."
)


class Versioned(Protocol):
    """What the API answers for the object: its version is the form's If-Match."""

    @property
    def version(self) -> int: ...


Body = TypeVar("Body", bound=msgspec.Struct)
Saved = TypeVar("Saved", bound=Versioned)


@dataclass(frozen=True)
class FormPage:
    """What a form page shows: the form, its status, the input to focus (a row just added), and the saved
    value of each field that differs from what was typed (after a stale save)."""

    form: Form
    code: int = 200
    focus: str | None = None
    saved: Mapping[str, str] = field(default_factory=dict)


def _name(values: Mapping[str, Any]) -> str:
    return str(values["name"])


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def form_version(text: str) -> int | None:
    """The version a form was loaded at (its hidden ``version`` field), or None when it has none."""
    return int(text) if text.isdigit() else None


def saved_differences(
    typed: Mapping[str, Any],
    saved: Mapping[str, Any],
    names: Iterable[str],
    readable: Callable[[Mapping[str, Any], str], str],
) -> dict[str, str]:
    """The saved value of each field (as ``readable`` says it) where it differs from what was typed."""
    return {name: text for name in names if (text := readable(saved, name)) != readable(typed, name)}


def no_rows(values: dict[str, Any], command: str) -> str | None:
    """``edit_rows`` of a form without repeated rows: any row button is one this form never showed."""
    raise InvalidInputError(f"unknown form button {command!r}")


@dataclass(frozen=True)
class VersionedForm(Generic[Body, Saved]):
    """The form of one kind of object: how to read it, edit its rows, check it, store it and show it.

    ``body`` turns the form's values into the API's body and the problems of single rows (keyed like the
    service's errors: ``skills[0].level``); ``shown`` says which error keys the form shows next to an
    input, so the rest go above the form. ``show`` renders the page for ``FormPage`` and the object (None:
    a new one); ``differences`` are the saved values where they differ from what was typed. ``create``
    makes a new object; None for an object that always exists (a policy that has defaults until saved, at
    version 0), which every save updates. ``label`` names the object in messages (its ``name`` field by
    default); ``created``, when given, answers a creation with what ``create`` returned (a page showing a
    new secret once, say) instead of the list.
    """

    noun: str
    path: str
    struct: type[Body]
    require: tuple[str, ...]
    read: Callable[[FormMultiDict], dict[str, Any]]
    edit_rows: Callable[[dict[str, Any], str], str | None]
    body: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str]]]
    shown: Callable[[Mapping[str, Any]], set[str]]
    update: Callable[[AsyncSession, Saved, Body, int | None], Awaitable[Any]]
    differences: Callable[[AsyncSession, Mapping[str, Any], Saved], Awaitable[dict[str, str]]]
    show: Callable[[Request[Any, Any, Any], AsyncSession, FormPage, Saved | None], Awaitable[Response[Any]]]
    create: Callable[[AsyncSession, Body], Awaitable[Any]] | None = None
    label: Callable[[Mapping[str, Any]], str] = _name
    created: Callable[[Request[Any, Any, Any], AsyncSession, Any], Awaitable[Response[Any]]] | None = None

    async def save(
        self, request: Request[Any, Any, Any], session: AsyncSession, current: Saved | None
    ) -> Response[Any]:
        """A row button, or a save of the new object (``current`` None) or of ``current``: the list, or the
        form again."""
        form = await request.form()
        values = self.read(form)
        if command := form.get("rows"):
            focus = self.edit_rows(values, str(command))
            return await self.show(request, session, FormPage(Form(values=values), focus=focus), current)
        data, errors = self.body(values)
        checked, field_errors = validate(self.struct, data, require=self.require)
        errors |= field_errors
        saved: dict[str, str] = {}
        result: Any = None
        if checked is not None and not errors:
            body = checked
            if current is None:
                create = self.create
                assert create is not None, f"a {self.noun} always exists: its form is given it"
                result, errors = await submit(session, lambda: create(session, body))
            else:
                saved_object = current
                version = form_version(values["version"])
                _, errors = await submit(session, lambda: self.update(session, saved_object, body, version))
                if errors and version is not None and version != current.version:
                    saved = await self.differences(session, values, current)
                    errors[FORM] = STALE.format(noun=self.noun, version=current.version)
                    values["version"] = str(current.version)
        if errors:
            again = Form(values=values, errors=placed(errors, self.shown(values)))
            return await self.show(request, session, FormPage(again, code=422, saved=saved), current)
        if current is None and self.created is not None:
            return await self.created(request, session, result)
        done = "created" if current is None else "saved"
        flash(request, _capitalised(" ".join(filter(None, [self.noun, self.label(values), done]))) + ".")
        return redirect(request, self.path)

    async def delete(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        name: str,
        remove: Callable[[int | None], Awaitable[None]],
        *,
        back: str,
    ) -> Response[Any]:
        """Deletes at the version the page showed: to the list, or back to ``back`` with the service's reason."""
        version = form_version(text_fields(await request.form(), ("version",))["version"])
        _, errors = await submit(session, lambda: remove(version))
        if errors:
            flash(
                request, f"{name or _capitalised(self.noun)} was not deleted. {sentence(errors.get(FORM, ''))}", "error"
            )
            return redirect(request, back)
        flash(request, _capitalised(" ".join(filter(None, [self.noun, name, "deleted"]))) + ".")
        return redirect(request, self.path)
