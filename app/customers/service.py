"""Customers of the acting tenant: the only code that reads and writes the customer tables.

Phone numbers are normalised to E.164 on the way in, numbers without a country code read in the country of
the tenant's locale (``app.core.phones``). A CRM pushes customers with ``upsert_customer``, which is
idempotent by nature: the same body twice leaves the customer, its version and its ETag as they were.
The audit log keeps who changed which customer and which fields, never the customer's personal data (the
log outlives the customer and even the tenant).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import ConflictError, FieldError, InvalidInputError, NotFoundError, PreconditionFailedError
from app.core.pagination import Page, paginate_sorted, query_error, sort_orders, sorted_page_of
from app.core.phones import InvalidPhoneNumber, normalise, region_of_locale
from app.core.rows import to_struct
from app.core.tenancy import require_tenant_id
from app.core.versioning import apply_changes, check_version, given_fields
from app.customers import schemas
from app.customers.models import Customer, CustomerPhoneNumber
from app.routing.models import Interaction
from tenants.models import Tenant
from tenants.service import audit

ORDERS = sort_orders(name=col(Customer.name), updated_at=col(Customer.updated_at), created_at=col(Customer.created_at))
NEWEST_ARRIVAL_FIRST = sort_orders(arrived_at=col(Interaction.arrived_at))["-arrived_at"]


def customer_out(row: Customer) -> schemas.CustomerOut:
    return to_struct(schemas.CustomerOut, row)


# --- what the columns hold -------------------------------------------------------------------------


async def default_region(session: AsyncSession) -> str | None:
    """The country of the acting tenant's locale, where numbers without a country code are read; or None."""
    tenant = await session.get(Tenant, require_tenant_id())
    return region_of_locale(tenant.locale) if tenant is not None else None


def phone_numbers(texts: Sequence[str], region: str | None) -> list[str]:
    """Each number in E.164, in the order given, each once; every refused one named (``phone_numbers[1]``)."""
    numbers: list[str] = []
    errors: list[FieldError] = []
    for index, text in enumerate(texts):
        try:
            number = normalise(text, region)
        except InvalidPhoneNumber as exc:
            errors.append(FieldError(field=f"phone_numbers[{index}]", message=str(exc), source="body"))
            continue
        if number not in numbers:
            numbers.append(number)
    if errors:
        raise InvalidInputError("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    return numbers


def canonical_language(tag: str) -> str:
    """BCP 47 case conventions (``NB-no`` -> ``nb-NO``, ``zh-hant-tw`` -> ``zh-Hant-TW``): one tag, one spelling."""
    language, *rest = tag.split("-")
    subtags = [language.lower()]
    for subtag in rest:
        if len(subtag) == 4 and subtag.isalpha() and len(subtags) == 1:
            subtags.append(subtag.title())
        elif len(subtag) == 2 and subtag.isalpha():
            subtags.append(subtag.upper())
        else:
            subtags.append(subtag.lower())
    return "-".join(subtags)


def check_attributes_size(attributes: Mapping[str, Any]) -> None:
    size = len(msgspec.json.encode(attributes))
    if size > schemas.ATTRIBUTES_MAX_BYTES:
        raise InvalidInputError.for_field(
            "attributes", f"at most {schemas.ATTRIBUTES_MAX_BYTES // 1024} KiB as JSON; these are {size} bytes"
        )


async def _stored(session: AsyncSession, values: Mapping[str, Any]) -> dict[str, Any]:
    """Request values in the form the columns hold them."""
    stored = dict(values)
    if "phone_numbers" in stored:
        stored["phone_numbers"] = phone_numbers(stored["phone_numbers"], await default_region(session))
    if stored.get("language"):
        stored["language"] = canonical_language(stored["language"])
    if "attributes" in stored:
        check_attributes_size(stored["attributes"])
    return stored


async def _check_external_id(session: AsyncSession, external_id: str | None, customer_id: uuid.UUID | None) -> None:
    if external_id is None:
        return
    statement = select(Customer.id).where(Customer.external_id == external_id, Customer.id != customer_id)
    holder = (await session.exec(statement)).first()
    if holder is not None:
        message = f"customer {holder} already has external id {external_id}"
        raise ConflictError(
            f"external_id: {message}", errors=[FieldError(field="external_id", message=message, source="body")]
        )


async def _index_numbers(session: AsyncSession, customer: Customer) -> None:
    """Makes the customer's rows in ``customer_phone_numbers`` the numbers it holds (after it is flushed)."""
    statement = select(CustomerPhoneNumber).where(CustomerPhoneNumber.customer_id == customer.id)
    indexed = {row.number: row for row in (await session.exec(statement)).all()}
    for number, row in indexed.items():
        if number not in customer.phone_numbers:
            await session.delete(row)
    session.add_all(
        CustomerPhoneNumber(customer_id=customer.id, number=number)
        for number in customer.phone_numbers
        if number not in indexed
    )
    await session.flush()


def _changed(row: Customer, values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if getattr(row, name) != value}


async def _apply(session: AsyncSession, row: Customer, changes: Mapping[str, Any]) -> None:
    """A new version with ``changes``, audited; no changes: nothing happens (same version, same ETag)."""
    if not changes:
        return
    apply_changes(row, changes)
    await session.flush()
    if "phone_numbers" in changes:
        await _index_numbers(session, row)
    await _audit(session, "customer.updated", row, fields=sorted(changes))


async def _audit(session: AsyncSession, action: str, row: Customer, **detail: Any) -> None:
    await audit(
        session,
        action,
        object_type="customer",
        object_id=row.id,
        detail={"external_id": row.external_id, **detail},
    )


# --- reads -----------------------------------------------------------------------------------------


async def get_customer(session: AsyncSession, customer_id: uuid.UUID, *, lock: bool = False) -> Customer:
    statement = select(Customer).where(Customer.id == customer_id)
    row = (await session.exec(statement.with_for_update() if lock else statement)).first()
    if row is None:
        raise NotFoundError("no such customer")
    return row


async def _holding(session: AsyncSession, phone: str) -> Any:
    """The ids of the customers with this number (normalised like stored ones) among theirs, as a subquery."""
    try:
        number = normalise(phone, await default_region(session))
    except InvalidPhoneNumber as exc:
        raise query_error("phone", str(exc)) from None
    return select(CustomerPhoneNumber.customer_id).where(CustomerPhoneNumber.number == number)


async def list_customers(
    session: AsyncSession,
    *,
    cursor: str | None,
    limit: int,
    sort: schemas.CustomerSort = "-updated_at",
    external_id: str | None = None,
    phone: str | None = None,
    q: str | None = None,
    updated_since: dt.datetime | None = None,
) -> Page[schemas.CustomerOut]:
    """The tenant's customers in ``sort`` order; ``phone`` is normalised like stored numbers, ``q`` is a part of
    the name or the email (any case)."""
    statement = select(Customer)
    if external_id is not None:
        statement = statement.where(Customer.external_id == external_id)
    if phone is not None:
        statement = statement.where(col(Customer.id).in_(await _holding(session, phone)))
    if q:
        statement = statement.where(
            or_(col(Customer.name).icontains(q, autoescape=True), col(Customer.email).icontains(q, autoescape=True))
        )
    if updated_since is not None:
        if updated_since.utcoffset() is None:  # as the interactions' time filters: no guessing the zone
            raise query_error("updated_since", "give a time zone, e.g. 2026-11-26T09:00:00Z")
        statement = statement.where(col(Customer.updated_at) >= updated_since)
    order = ORDERS[sort]
    rows = (await session.exec(paginate_sorted(statement, order, col(Customer.id), cursor, limit))).all()
    column = order.column.key
    items, next_cursor = sorted_page_of(rows, limit, order, lambda row: (getattr(row, column), row.id))
    return Page(items=[customer_out(row) for row in items], next_cursor=next_cursor)


async def customer_interactions(
    session: AsyncSession, customer_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[schemas.CustomerInteractionOut]:
    """The tenant's contacts whose caller is one of the customer's numbers, the newest first."""
    customer = await get_customer(session, customer_id)
    if not customer.phone_numbers:
        return Page(items=[])
    statement = select(Interaction).where(col(Interaction.caller).in_(customer.phone_numbers))
    order = NEWEST_ARRIVAL_FIRST
    rows = (await session.exec(paginate_sorted(statement, order, col(Interaction.id), cursor, limit))).all()
    items, next_cursor = sorted_page_of(rows, limit, order, lambda row: (row.arrived_at, row.id))
    return Page(items=[to_struct(schemas.CustomerInteractionOut, row) for row in items], next_cursor=next_cursor)


# --- writes ----------------------------------------------------------------------------------------


async def create_customer(session: AsyncSession, data: schemas.CustomerCreate) -> Customer:
    values = await _stored(session, msgspec.structs.asdict(data))
    await _check_external_id(session, data.external_id, None)
    row = Customer(**values)
    session.add(row)
    await session.flush()
    await _index_numbers(session, row)
    await _audit(session, "customer.created", row)
    return row


async def _inserted(session: AsyncSession, row: Customer) -> bool:
    """Inserts the row, or finds its unique key taken meanwhile (False; nothing written)."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def upsert_customer(
    session: AsyncSession, external_id: str, data: schemas.CustomerReplace, *, if_match: int | None = None
) -> tuple[Customer, bool]:
    """Creates the customer with this external id, or replaces it with ``data`` (fields left out are cleared).

    Returns the customer and whether it is new. Nothing changed: no new version, no audit entry. With
    ``if_match`` the customer must exist at that version. Two CRMs creating the same customer at once: the
    second finds the first's row (it waits for it on the unique key) and replaces it.
    """
    values = await _stored(session, msgspec.structs.asdict(data))
    statement = select(Customer).where(Customer.external_id == external_id).with_for_update()
    row = (await session.exec(statement)).first()
    if row is None:
        if if_match is not None:
            raise PreconditionFailedError(f"no customer has external id {external_id}; If-Match needs one to exist")
        created = Customer(external_id=external_id, **values)
        if await _inserted(session, created):
            await _index_numbers(session, created)
            await _audit(session, "customer.created", created)
            return created, True
        row = (await session.exec(statement)).one()
    check_version("customer", row, if_match)
    changes = _changed(row, values)
    await _apply(session, row, changes)
    return row, False


async def update_customer(
    session: AsyncSession, customer_id: uuid.UUID, data: schemas.CustomerUpdate, *, if_match: int | None = None
) -> Customer:
    """Changes the fields given; a change to what the customer already holds makes no new version."""
    row = await get_customer(session, customer_id, lock=True)
    check_version("customer", row, if_match)
    changes = _changed(row, await _stored(session, given_fields(data)))
    if "external_id" in changes:
        await _check_external_id(session, changes["external_id"], row.id)
    await _apply(session, row, changes)
    return row


async def delete_customer(session: AsyncSession, customer_id: uuid.UUID, *, if_match: int | None = None) -> None:
    row = await get_customer(session, customer_id, lock=True)
    check_version("customer", row, if_match)
    await session.delete(row)
    await session.flush()
    await _audit(session, "customer.deleted", row)
