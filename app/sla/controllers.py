"""HTTP API of the acting tenant's SLA under /api/v1/sla: contract versions, attainment, alerts.

Who may do what: operator admins record contract versions (the contract is agreed between the operator and
the client outside Tenline, and the operator answers for it); operator staff, the tenant's admins,
supervisors and report viewers read it, its attainment and its alerts; programs need the ``sla:read`` scope.
"""

from __future__ import annotations

import datetime as dt
import uuid

from litestar import get, post
from litestar.response import Response
from litestar.status_codes import HTTP_201_CREATED
from sqlmodel.ext.asyncio.session import AsyncSession

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
from app.sla import schemas, service
from tenants.auth import requires
from tenants.permissions import Permission

VIEW_SLA = [requires(Permission.VIEW_SLA)]
MANAGE_SLA_CONTRACTS = [requires(Permission.MANAGE_SLA_CONTRACTS)]


def _with_etag(contract: schemas.ContractOut, status_code: int = 200) -> Response[schemas.ContractOut]:
    return with_etag(contract, contract.version, status_code)


class ContractController(TransactionController):
    path = f"{API_PREFIX}/sla/contracts"
    tags = ["sla"]

    @get("/", guards=VIEW_SLA, summary="List the versions of the tenant's SLA contract, newest first")
    async def list_contract_versions(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.ContractOut]:
        return await service.list_contract_versions(session, cursor=cursor, limit=limit)

    @post(
        "/",
        guards=MANAGE_SLA_CONTRACTS,
        summary="Record a new version of the contract (operator admins)",
        description="Versions are immutable: a change is a new version in force from its effective date (today or "
        "later, in the tenant's time zone), which supersedes the others from that day on. If-Match: the latest "
        "version's ETag (its number), so a version recorded meanwhile is never superseded unseen.",
    )
    async def create_contract_version(
        self, session: AsyncSession, data: schemas.ContractCreate, if_match: IfMatch = None
    ) -> Response[schemas.ContractOut]:
        contract = await service.create_contract_version(session, data, if_match=if_match_version(if_match))
        return _with_etag(contract, HTTP_201_CREATED)

    @get("/current", guards=VIEW_SLA, summary="The version in force today (its ETag is its version number)")
    async def current_contract(self, session: AsyncSession) -> Response[schemas.ContractOut]:
        contract = await service.contract_in_force(session)
        if contract is None:
            raise NotFoundError("no SLA contract is in force for this tenant")
        return _with_etag(contract)

    @get("/{contract_id:uuid}", guards=VIEW_SLA, summary="One version of the contract")
    async def get_contract_version(
        self, session: AsyncSession, contract_id: uuid.UUID
    ) -> Response[schemas.ContractOut]:
        return _with_etag(await service.get_contract_version(session, contract_id))


class AttainmentController(TransactionController):
    path = f"{API_PREFIX}/sla/attainment"
    tags = ["sla"]

    @get(
        "/",
        guards=VIEW_SLA,
        summary="Each target of the contract in force, in its current window",
        description="Value so far, projected end-of-window value and state (met, at_risk, breached, no_data), as "
        "the evaluation every few seconds left them. Projection: the value so far blended with the rest of the "
        "window at the recent rate and ratio (the last 15 to 30 minutes).",
    )
    async def current_attainment(self, session: AsyncSession) -> schemas.AttainmentOut:
        return await service.current_attainment(session)

    @get("/intervals", guards=VIEW_SLA, summary="Service level per 15-minute interval of a day (the tenant's time)")
    async def interval_series(self, session: AsyncSession, day: dt.date | None = None) -> schemas.IntervalSeriesOut:
        return await service.interval_series(session, day or await service.today(session))


class AlertController(TransactionController):
    path = f"{API_PREFIX}/sla/alerts"
    tags = ["sla"]

    @get("/", guards=VIEW_SLA, summary="The tenant's SLA alerts (at risk, breached), newest first")
    async def list_alerts(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.AlertOut]:
        return await service.list_alerts(session, cursor=cursor, limit=limit)


route_handlers = [ContractController, AttainmentController, AlertController]
