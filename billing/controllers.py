"""HTTP API of billing under /api/v1/billing: the acting tenant's rate card versions and its usage to date.

Who may do what: operator admins record rate card versions (prices are agreed between the operator and the
client outside Tenline); operator staff and the tenant's admins read them and the usage; programs need the
``billing:read`` scope. An operator acting for no tenant reads every tenant's usage through the audited
cross-tenant path (``/api/v1/billing/usage/tenants``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import QueryParameter
from litestar.response import Response
from litestar.status_codes import HTTP_201_CREATED
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.errors import NotFoundError
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
from billing import schemas, service
from tenants.auth import requires
from tenants.permissions import Permission
from tenants.service import cross_tenant_read

VIEW_BILLING = [requires(Permission.VIEW_BILLING)]
MANAGE_BILLING = [requires(Permission.MANAGE_BILLING)]

Period = Annotated[
    str,
    QueryParameter(
        description="current (the month holding today, in the tenant's time zone) or a month as YYYY-MM",
        pattern=r"^(current|\d{4}-\d{2})$",
    ),
]


def _with_etag(card: schemas.RateCardOut, status_code: int = 200) -> Response[schemas.RateCardOut]:
    return with_etag(card, card.version, status_code)


class RateCardController(TransactionController):
    path = f"{API_PREFIX}/billing/rate-cards"
    tags = ["billing"]

    @get("/", guards=VIEW_BILLING, summary="List the versions of the tenant's rate card, newest first")
    async def list_rate_cards(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.RateCardOut]:
        return await service.list_rate_cards(session, cursor=cursor, limit=limit)

    @post(
        "/",
        guards=MANAGE_BILLING,
        summary="Record a new version of the rate card (operator admins)",
        description="Versions are immutable: a change is a new version in force from its effective date (today or "
        "later, in the tenant's time zone), which supersedes the others from that day on; a version never changes "
        "once recorded, so days already billed keep their prices. One currency per tenant. If-Match: the latest "
        "version's ETag (its number), so a version recorded meanwhile is never superseded unseen.",
    )
    async def create_rate_card(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        data: schemas.RateCardCreate,
        if_match: IfMatch = None,
    ) -> Response[schemas.RateCardOut]:
        given = msgspec.json.decode(await request.body())
        card = await service.create_rate_card(session, data, given, if_match=if_match_version(if_match))
        return _with_etag(card, HTTP_201_CREATED)

    @get("/current", guards=VIEW_BILLING, summary="The version in force today (its ETag is its version number)")
    async def current_rate_card(self, session: AsyncSession) -> Response[schemas.RateCardOut]:
        card = await service.rate_card_in_force(session)
        if card is None:
            raise NotFoundError("no rate card is in force for this tenant")
        return _with_etag(card)

    @get("/{rate_card_id:uuid}", guards=VIEW_BILLING, summary="One version of the rate card")
    async def get_rate_card(self, session: AsyncSession, rate_card_id: uuid.UUID) -> Response[schemas.RateCardOut]:
        return _with_etag(await service.get_rate_card(session, rate_card_id))


class UsageController(TransactionController):
    path = f"{API_PREFIX}/billing/usage"
    tags = ["billing"]

    @get(
        "/",
        guards=VIEW_BILLING,
        summary="The tenant's usage in a billing period so far, by day, with an estimate of the bill",
        description="Handled contacts and their talk, hold and wrap-up seconds (exact decimals) per local day and "
        "channel, metered from the contacts' events every 30 seconds; late usage of closed periods billed in this "
        "one as adjustments; the estimate rates it all with the rate card(s) in force (SLA credits are decided at "
        "the period's close, so the estimate has none).",
    )
    async def usage(self, session: AsyncSession, period: Period = "current") -> schemas.UsageOut:
        return await service.usage(session, period)

    @get(
        "/tenants",
        guards=[requires(Permission.READ_CROSS_TENANT)],
        summary="Every tenant's current period so far, and its share of the pool (operators; the read is audited)",
        description="Each tenant's own month in its time zone. Pool shares: each tenant's part of the shared "
        "pool's agent time (talk, hold, wrap-up) this calendar month in UTC.",
    )
    async def tenants(self) -> schemas.TenantsUsageOut:
        now = utcnow()
        month_start = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
        async with cross_tenant_read("billing usage of every tenant") as reader:
            return await service.usage_of_every_tenant(reader, pool_from=month_start, pool_to=now)


route_handlers = [RateCardController, UsageController]
