"""HTTP API for the acting tenant's customers under /api/v1/customers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from litestar import delete, get, patch, post, put
from litestar.openapi import ResponseSpec
from litestar.params import Parameter, QueryParameter
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.http import (
    API_PREFIX,
    DEFAULT_PAGE_SIZE,
    Cursor,
    IfMatch,
    Limit,
    TransactionController,
    if_match_version,
    with_etag,
)
from app.core.pagination import Page
from app.customers import schemas, service
from app.customers.models import Customer
from tenants.auth import requires
from tenants.permissions import Permission

VIEW = [requires(Permission.VIEW_CUSTOMERS)]
MANAGE = [requires(Permission.MANAGE_CUSTOMERS)]
PATH = f"{API_PREFIX}/customers"

ExternalIdPath = Annotated[
    str,
    Parameter(pattern=schemas.EXTERNAL_ID_PATTERN, max_length=255, description=schemas.EXTERNAL_ID_DESCRIPTION),
]
ExternalIdFilter = Annotated[
    str | None, QueryParameter(name="external_id", max_length=255, description="only the customer with this CRM id")
]
PhoneFilter = Annotated[
    str | None,
    QueryParameter(
        name="phone",
        max_length=40,
        description="customers with this number among theirs; normalised like stored numbers (E.164)",
    ),
]
Search = Annotated[
    str | None,
    QueryParameter(name="q", max_length=200, description="a part of the name or the email, in any case"),
]
UpdatedSince = Annotated[
    dt.datetime | None,
    QueryParameter(
        name="updated_since", description="only customers changed at or after this time (RFC 3339, with its zone)"
    ),
]
Sort = Annotated[
    schemas.CustomerSort,
    QueryParameter(name="sort", description="the order: a field, descending with a leading '-'; keep it while paging"),
]


def _versioned(customer: Customer, status_code: int = HTTP_200_OK) -> Response[schemas.CustomerOut]:
    return with_etag(service.customer_out(customer), customer.version, status_code, location=f"{PATH}/{customer.id}")


class CustomerController(TransactionController):
    path = PATH
    tags = ["customers"]

    @get(
        "/",
        guards=VIEW,
        summary="List the tenant's customers",
        description="Filters combine (all must hold). Pages follow `sort`; a cursor is only good for its own sort.",
    )
    async def list_customers(
        self,
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        sort: Sort = "-updated_at",
        external_id: ExternalIdFilter = None,
        phone: PhoneFilter = None,
        q: Search = None,
        updated_since: UpdatedSince = None,
    ) -> Page[schemas.CustomerOut]:
        return await service.list_customers(
            session,
            cursor=cursor,
            limit=limit,
            sort=sort,
            external_id=external_id,
            phone=phone,
            q=q,
            updated_since=updated_since,
        )

    @post(
        "/",
        guards=MANAGE,
        status_code=HTTP_201_CREATED,
        summary="Create a customer",
        description="409 when another customer has the external_id (the problem names it). Phone numbers are "
        "stored in E.164; a refused one is named in the problem's errors, e.g. `phone_numbers[1]`.",
    )
    async def create_customer(
        self, session: AsyncSession, data: schemas.CustomerCreate
    ) -> Response[schemas.CustomerOut]:
        return _versioned(await service.create_customer(session, data), HTTP_201_CREATED)

    @put(
        "/by-external-id/{external_id:str}",
        guards=MANAGE,
        summary="Create or replace the customer with this CRM id (201 created, 200 replaced)",
        description="The body is the whole customer: fields left out are cleared. The same body again changes "
        "nothing (same version and ETag), so a CRM may repeat the call safely. With If-Match the customer must "
        "exist at that version, else 412.",
        responses={HTTP_201_CREATED: ResponseSpec(schemas.CustomerOut, description="A new customer was created")},
    )
    async def upsert_customer(
        self,
        session: AsyncSession,
        external_id: ExternalIdPath,
        data: schemas.CustomerReplace,
        if_match: IfMatch = None,
    ) -> Response[schemas.CustomerOut]:
        customer, created = await service.upsert_customer(
            session, external_id, data, if_match=if_match_version(if_match)
        )
        return _versioned(customer, HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/{customer_id:uuid}", guards=VIEW, summary="Get a customer (its ETag is its version)")
    async def get_customer(self, session: AsyncSession, customer_id: uuid.UUID) -> Response[schemas.CustomerOut]:
        return _versioned(await service.get_customer(session, customer_id))

    @patch(
        "/{customer_id:uuid}",
        guards=MANAGE,
        summary="Change a customer (If-Match: only from that version)",
        description="Only the fields given change; null clears an optional one.",
    )
    async def update_customer(
        self, session: AsyncSession, customer_id: uuid.UUID, data: schemas.CustomerUpdate, if_match: IfMatch = None
    ) -> Response[schemas.CustomerOut]:
        customer = await service.update_customer(session, customer_id, data, if_match=if_match_version(if_match))
        return _versioned(customer)

    @delete(
        "/{customer_id:uuid}",
        guards=MANAGE,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a customer (If-Match: only at that version)",
    )
    async def delete_customer(self, session: AsyncSession, customer_id: uuid.UUID, if_match: IfMatch = None) -> None:
        await service.delete_customer(session, customer_id, if_match=if_match_version(if_match))

    @get(
        "/{customer_id:uuid}/interactions",
        guards=VIEW,
        summary="The customer's interactions, newest first",
        description="Contacts whose caller is one of the customer's phone numbers.",
    )
    async def list_customer_interactions(
        self, session: AsyncSession, customer_id: uuid.UUID, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.CustomerInteractionOut]:
        return await service.customer_interactions(session, customer_id, cursor=cursor, limit=limit)


route_handlers = [CustomerController]
