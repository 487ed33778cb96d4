"""Customers of the acting tenant: a searchable list, each customer's page with their calls, and the form.

The form's phone numbers are repeated rows (``frontend.editing``): one ``phone_number`` field per row, in
document order, keyed like the service's errors (``phone_numbers[1]``), so a number the service refuses is
named next to its own row. Attributes (the CRM's extra fields) are edited as one JSON object.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import InvalidInputError
from app.core.pagination import Page
from app.core.tenancy import Principal
from app.customers import schemas, service
from app.routing import service as routing
from frontend.editing import FormPage, VersionedForm, saved_differences
from frontend.forms import Form, check, domain_errors, text_fields
from frontend.listing import Window
from frontend.web import render
from tenants.auth import requires
from tenants.permissions import Permission, allowed

PATH = "/customers"
SCALARS = ("name", "external_id", "email", "language", "attributes")
GROUP = "phone_numbers"
SORTS: tuple[tuple[schemas.CustomerSort, str], ...] = (
    ("name", "Name, A to Z"),
    ("-name", "Name, Z to A"),
    ("-updated_at", "Changed most recently"),
    ("updated_at", "Changed least recently"),
    ("-created_at", "Newest"),
    ("created_at", "Oldest"),
)
ATTRIBUTES_HINT = 'a JSON object, e.g. {"segment": "premium", "customer_since": 2019}'

Search = Annotated[str | None, QueryParameter(name="q", max_length=200)]
PhoneSearch = Annotated[str | None, QueryParameter(name="phone", max_length=40)]
Sort = Annotated[schemas.CustomerSort, QueryParameter(name="sort")]


def customer_values(customer: schemas.CustomerOut) -> dict[str, Any]:
    """A saved customer as the form shows it."""
    attributes = json.dumps(customer.attributes, indent=2, ensure_ascii=False) if customer.attributes else ""
    return {
        "name": customer.name,
        "external_id": customer.external_id or "",
        "email": customer.email or "",
        "language": customer.language or "",
        "attributes": attributes,
        GROUP: list(customer.phone_numbers),
        "version": str(customer.version),
    }


def blank_values() -> dict[str, Any]:
    # A new customer starts with one (empty) number row: most have a number.
    return {name: "" for name in SCALARS} | {GROUP: [""], "version": ""}


def read_form(form: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = text_fields(form, (*SCALARS, "version"))
    values[GROUP] = [str(value).strip() for value in form.getall("phone_number", [])]
    return values


_ROW_COMMAND = re.compile(r"^(add|remove)-phone(?:-(\d+))?$")


def edit_rows(values: dict[str, Any], command: str) -> str | None:
    """Applies an Add or Remove button (``add-phone``, ``remove-phone-1``); returns the input to focus."""
    match = _ROW_COMMAND.match(command)
    if match is None:
        raise InvalidInputError(f"unknown form button {command!r}")
    op, index = match.groups()
    rows: list[str] = values[GROUP]
    if op == "remove":
        if index is not None and int(index) < len(rows):
            del rows[int(index)]
        return None
    rows.append("")
    return f"phone-{len(rows) - 1}"


def customer_data(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the API's customer body, and the problems of single rows and of the attributes."""
    # Empty rows mean nothing; dropping them first keeps row numbers equal to the service's indexes.
    values[GROUP] = [number for number in values[GROUP] if number]
    errors: dict[str, str] = {}
    data: dict[str, Any] = {name: values[name] for name in SCALARS if name != "attributes"}
    for j, number in enumerate(values[GROUP]):
        if problem := check(schemas.PhoneText, number):
            errors[f"{GROUP}[{j}]"] = problem
    if not errors:
        data[GROUP] = list(values[GROUP])
    if values["attributes"]:
        try:
            attributes = json.loads(values["attributes"])
        except json.JSONDecodeError:
            attributes = None
        if isinstance(attributes, dict):
            data["attributes"] = attributes
        else:
            errors["attributes"] = f"must be {ATTRIBUTES_HINT}"
    return data, errors


def shown_keys(values: Mapping[str, Any]) -> set[str]:
    return {*SCALARS, GROUP, *(f"{GROUP}[{j}]" for j in range(len(values[GROUP])))}


def _readable(values: Mapping[str, Any], name: str) -> str:
    value = values[name]
    if name == GROUP:
        return ", ".join(value) or "none"
    return str(value) or "none"


async def _saved_meanwhile(
    session: AsyncSession, typed: Mapping[str, Any], customer: schemas.CustomerOut
) -> dict[str, str]:
    return saved_differences(typed, customer_values(customer), (*SCALARS, GROUP), _readable)


async def _form_page(
    request: Request[Any, Any, Any], session: AsyncSession, page: FormPage, customer: schemas.CustomerOut | None
) -> Response[Any]:
    return render(
        request,
        "customers/form.html",
        status=page.code,
        form=page.form,
        customer=customer,
        focus=page.focus,
        saved=page.saved,
        attributes_hint=ATTRIBUTES_HINT,
    )


async def _update(
    session: AsyncSession, customer: schemas.CustomerOut, body: schemas.CustomerCreate, version: int | None
) -> Any:
    changes = schemas.CustomerUpdate(**msgspec.structs.asdict(body))
    return await service.update_customer(session, customer.id, changes, if_match=version)


CUSTOMER_FORM = VersionedForm(
    noun="customer",
    path=PATH,
    struct=schemas.CustomerCreate,
    require=(),
    read=read_form,
    edit_rows=edit_rows,
    body=customer_data,
    shown=shown_keys,
    create=service.create_customer,
    update=_update,
    differences=_saved_meanwhile,
    show=_form_page,
)


async def _customer(session: AsyncSession, customer_id: uuid.UUID) -> schemas.CustomerOut:
    """A snapshot of the tenant's customer (someone else's: 404), since a refused save rolls the row back."""
    return service.customer_out(await service.get_customer(session, customer_id))


class CustomerPages(Controller):
    path = PATH

    @get("/", guards=[requires(Permission.VIEW_CUSTOMERS)])
    async def list_customers(
        self,
        request: Request[Principal, Any, Any],
        session: AsyncSession,
        window: Window,
        q: Search = None,
        phone: PhoneSearch = None,
        sort: Sort = "name",
    ) -> Response[Any]:
        search = Form(values={"q": q or "", "phone": phone or "", "sort": sort})
        try:
            page = await service.list_customers(
                session, cursor=window.cursor, limit=window.limit, sort=sort, q=q or None, phone=phone or None
            )
        except InvalidInputError as exc:  # a phone number that cannot be one: said next to the field
            search.errors = domain_errors(exc)
            page = Page(items=[])
        return render(
            request,
            "customers/list.html",
            status=422 if search.errors else 200,
            page=page,
            search=search,
            sorts=SORTS,
            searched=bool(q or phone),
        )

    @get("/new", guards=[requires(Permission.MANAGE_CUSTOMERS)])
    async def new(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await _form_page(request, session, FormPage(Form(values=blank_values())), None)

    @post("/", guards=[requires(Permission.MANAGE_CUSTOMERS)])
    async def create(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await CUSTOMER_FORM.save(request, session, None)

    @get("/{customer_id:uuid}", guards=[requires(Permission.VIEW_CUSTOMERS)])
    async def detail(
        self, request: Request[Principal, Any, Any], session: AsyncSession, customer_id: uuid.UUID, window: Window
    ) -> Response[Any]:
        customer = await _customer(session, customer_id)
        interactions = await service.customer_interactions(
            session, customer_id, cursor=window.cursor, limit=window.limit
        )
        return render(
            request,
            "customers/detail.html",
            customer=customer,
            page=interactions,
            queue_names={queue_id: name for queue_id, name, _ in await routing.queue_choices(session)},
            manage=allowed(request.user, Permission.MANAGE_CUSTOMERS),
        )

    @get("/{customer_id:uuid}/edit", guards=[requires(Permission.MANAGE_CUSTOMERS)])
    async def edit(
        self, request: Request[Principal, Any, Any], session: AsyncSession, customer_id: uuid.UUID
    ) -> Response[Any]:
        customer = await _customer(session, customer_id)
        return await _form_page(request, session, FormPage(Form(values=customer_values(customer))), customer)

    @post("/{customer_id:uuid}", guards=[requires(Permission.MANAGE_CUSTOMERS)])
    async def update(
        self, request: Request[Principal, Any, Any], session: AsyncSession, customer_id: uuid.UUID
    ) -> Response[Any]:
        return await CUSTOMER_FORM.save(request, session, await _customer(session, customer_id))

    @post("/{customer_id:uuid}/delete", guards=[requires(Permission.MANAGE_CUSTOMERS)])
    async def delete(
        self, request: Request[Principal, Any, Any], session: AsyncSession, customer_id: uuid.UUID
    ) -> Response[Any]:
        customer = await _customer(session, customer_id)
        return await CUSTOMER_FORM.delete(
            request,
            session,
            customer.name,
            lambda version: service.delete_customer(session, customer_id, if_match=version),
            back=f"{PATH}/{customer_id}",
        )
