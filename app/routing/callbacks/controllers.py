"""HTTP API for the acting tenant's scheduled callbacks under /api/v1/callbacks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from litestar import get, post
from litestar.params import QueryParameter
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
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
from app.routing.callbacks import schemas, service
from app.routing.callbacks.models import ScheduledCallback
from tenants.auth import requires
from tenants.permissions import Permission

VIEW = [requires(Permission.VIEW_CALLBACKS)]
MANAGE = [requires(Permission.MANAGE_CALLBACKS)]
PATH = f"{API_PREFIX}/callbacks"

StatusFilter = Annotated[
    list[schemas.CallbackStatusName] | None,
    QueryParameter(name="status", description="only callbacks in one of these states (repeat the parameter)"),
]
QueueFilter = Annotated[uuid.UUID | None, QueryParameter(name="queue_id", description="only this queue's callbacks")]
DueFrom = Annotated[
    dt.datetime | None, QueryParameter(name="due_from", description="only callbacks due at or after this time")
]
DueTo = Annotated[dt.datetime | None, QueryParameter(name="due_to", description="only callbacks due before this time")]
Sort = Annotated[
    schemas.SortName,
    QueryParameter(name="sort", description="the order: a field, descending with a leading '-'; keep it while paging"),
]


def _versioned(row: ScheduledCallback, status_code: int = HTTP_200_OK) -> Response[schemas.CallbackOut]:
    return with_etag(service.callback_out(row), row.version, status_code, location=f"{PATH}/{row.id}")


class CallbackController(TransactionController):
    path = PATH
    tags = ["callbacks"]

    @get(
        "/",
        guards=VIEW,
        summary="List the tenant's scheduled callbacks",
        description="Filters combine (all must hold); times need a UTC offset. Pages follow `sort`; a cursor is "
        "only good for its own sort. A queued callback's status follows its contact within a few seconds.",
    )
    async def list_callbacks(
        self,
        session: AsyncSession,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        sort: Sort = "-created_at",
        status: StatusFilter = None,
        queue_id: QueueFilter = None,
        due_from: DueFrom = None,
        due_to: DueTo = None,
    ) -> Page[schemas.CallbackOut]:
        return await service.list_callbacks(
            session,
            cursor=cursor,
            limit=limit,
            sort=sort,
            status=status or (),
            queue_id=queue_id,
            due_from=due_from,
            due_to=due_to,
        )

    @post(
        "/",
        guards=MANAGE,
        status_code=HTTP_201_CREATED,
        summary="Schedule a callback",
        description="At `due_at` the callback joins the voice queue as a callback contact (it keeps its place in "
        "line with nobody on hold), the `callback.due` webhook is sent, and the agent who takes it calls `phone` "
        "back. 422 names the refused field: a phone number that is not valid (national numbers are read as the "
        "country of the tenant's locale), a time not in the next 30 days, a queue that is not an active voice "
        "queue of the tenant.",
    )
    async def schedule_callback(
        self, session: AsyncSession, data: schemas.CallbackCreate
    ) -> Response[schemas.CallbackOut]:
        return _versioned(await service.schedule(session, data), HTTP_201_CREATED)

    @get("/{callback_id:uuid}", guards=VIEW, summary="Get a callback (its ETag is its version)")
    async def get_callback(self, session: AsyncSession, callback_id: uuid.UUID) -> Response[schemas.CallbackOut]:
        return _versioned(await service.get_callback(session, callback_id))

    @post(
        "/{callback_id:uuid}/cancel",
        guards=MANAGE,
        status_code=HTTP_200_OK,
        summary="Cancel a callback (If-Match: only from that version)",
        description="A queued callback leaves the line. 409 when it is already cancelled, completed or failed, "
        "or an agent has taken it; 412 when If-Match names an older version.",
    )
    async def cancel_callback(
        self, session: AsyncSession, callback_id: uuid.UUID, if_match: IfMatch = None
    ) -> Response[schemas.CallbackOut]:
        return _versioned(await service.cancel(session, callback_id, if_match=if_match_version(if_match)))


route_handlers = [CallbackController]
