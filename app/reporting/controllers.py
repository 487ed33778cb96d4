"""HTTP API for reports under /api/v1/reports, their exports, and scheduled reports under /api/v1/report-schedules.

Every report is the acting tenant's (a program's, a tenant user's, or an operator's with the
``Tenline-Tenant`` header). An operator acting for no tenant reads ``/api/v1/reports/tenants``, every
tenant's headline figures, through the audited cross-tenant path.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.params import QueryParameter
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import PermissionDeniedError
from app.core.http import (
    API_PREFIX,
    DEFAULT_PAGE_SIZE,
    Cursor,
    IfMatch,
    Limit,
    TransactionController,
    attachment,
    file_operation,
    if_match_version,
    provide_db_session,
    with_etag,
)
from app.core.pagination import Page
from app.core.tenancy import Principal
from app.reporting import exports, schemas, service
from app.reporting.engine.periods import PeriodPreset
from app.reporting.models import ReportSchedule
from tenants.auth import requires
from tenants.permissions import Permission
from tenants.service import cross_tenant_read

VIEW_REPORTS = [requires(Permission.VIEW_REPORTS)]
MANAGE_SCHEDULES = [requires(Permission.MANAGE_REPORT_SCHEDULES)]

Period = Annotated[
    PeriodPreset | None,
    QueryParameter(name="period", description="a period seen from today in the tenant's time zone (default today)"),
]
FirstDay = Annotated[dt.date | None, QueryParameter(name="start", description="first local day (instead of period)")]
LastDay = Annotated[dt.date | None, QueryParameter(name="end", description="last local day, included (default: start)")]


async def provide_report_query(
    request: Request[Principal, Any, Any],
    session: AsyncSession,
    period: Period = None,
    start: FirstDay = None,
    end: LastDay = None,
    granularity: Annotated[
        schemas.Granularity, QueryParameter(description="buckets of time-series reports: 15-minute intervals or days")
    ] = "day",
    queue_id: Annotated[
        list[uuid.UUID] | None, QueryParameter(description="only these queues (repeat the parameter)")
    ] = None,
    agent_id: Annotated[uuid.UUID | None, QueryParameter(description="only this agent's work")] = None,
) -> schemas.ReportQuery:
    """The report's days and filters from the query string, for the acting tenant."""
    if request.user.tenant_id is None:
        raise PermissionDeniedError(
            "choose a tenant to act for (Tenline-Tenant header); every tenant's figures: /api/v1/reports/tenants"
        )
    first_day, last_day = await service.report_days(session, period, start, end)
    return schemas.ReportQuery(
        first_day=first_day,
        last_day=last_day,
        granularity=granularity,
        queue_ids=tuple(queue_id or ()),
        agent_id=agent_id,
    )


class ReportController(Controller):
    path = f"{API_PREFIX}/reports"
    tags = ["reports"]
    guards = VIEW_REPORTS
    dependencies = {"session": Provide(provide_db_session), "report_query": Provide(provide_report_query)}

    @get(
        "/service-level",
        summary="Service level per bucket and queue",
        description="Contacts count in the bucket and queue they arrived in. Against the tenant's SLA contract "
        "(target, goal, definition) when it has one, otherwise each queue's own answer target and goal.",
    )
    async def service_level(
        self, session: AsyncSession, report_query: schemas.ReportQuery
    ) -> schemas.Report[schemas.ServiceLevelRow]:
        return await service.service_level_report(session, report_query)

    @get(
        "/volumes",
        summary="Offered, answered, abandoned, ASA, AHT (talk, hold, wrap-up), transfers, FCR per bucket",
        description="Arrivals, answers and abandons count in the bucket of arrival; handling in the bucket the "
        "contact ended in. FCR: contacts with the disposition 'resolved' over handled contacts.",
    )
    async def volumes(
        self, session: AsyncSession, report_query: schemas.ReportQuery
    ) -> schemas.Report[schemas.VolumeRow]:
        return await service.volumes_report(session, report_query)

    @get("/occupancy", summary="The tenant's agents' time by state, occupancy, utilisation, share of busy time")
    async def occupancy(
        self, session: AsyncSession, report_query: schemas.ReportQuery
    ) -> schemas.Report[schemas.OccupancyRow]:
        return await service.occupancy_report(session, report_query)

    @get("/agents", summary="Per agent: answers, handling, occupancy")
    async def agents(
        self, session: AsyncSession, report_query: schemas.ReportQuery
    ) -> schemas.Report[schemas.AgentRow]:
        return await service.agents_report(session, report_query)

    @get("/dispositions", summary="Contacts per disposition code")
    async def dispositions(
        self, session: AsyncSession, report_query: schemas.ReportQuery
    ) -> schemas.Report[schemas.DispositionRow]:
        return await service.dispositions_report(session, report_query)

    @get(
        "/export",
        summary="A report as a CSV or XLSX file",
        response_description="the file, as an attachment",
        operation_class=file_operation(*exports.MEDIA_TYPES.values()),
    )
    async def export(
        self,
        session: AsyncSession,
        report_query: schemas.ReportQuery,
        report: Annotated[schemas.ReportKind, QueryParameter(description="which report")],
        file_format: Annotated[schemas.ExportFormat, QueryParameter(name="format", description="csv or xlsx")] = "csv",
    ) -> Response[bytes]:
        file = await service.export_report(session, report, report_query, file_format)
        return file_response(file)

    @get(
        "/tenants",
        guards=[requires(Permission.READ_CROSS_TENANT)],
        summary="Every tenant's headline figures (operators; the read is audited)",
        description="Each tenant's own local days; with period, today is the UTC date.",
    )
    async def tenants(
        self, session: AsyncSession, period: Period = None, start: FirstDay = None, end: LastDay = None
    ) -> schemas.Report[schemas.TenantOverviewRow]:
        first_day, last_day = await service.report_days(session, period, start, end)
        async with cross_tenant_read(
            "tenants overview report", first_day=str(first_day), last_day=str(last_day)
        ) as reader:
            return await service.tenants_overview(reader, first_day, last_day)


def file_response(file: exports.ExportFile) -> Response[bytes]:
    return attachment(file.content, file.media_type, file.filename)


def _with_etag(row: ReportSchedule, status_code: int = HTTP_200_OK) -> Response[schemas.ReportScheduleOut]:
    return with_etag(service.schedule_out(row), row.version, status_code)


class ReportScheduleController(TransactionController):
    path = f"{API_PREFIX}/report-schedules"
    tags = ["reports"]
    guards = MANAGE_SCHEDULES

    @get("/", summary="List the tenant's scheduled reports")
    async def list_schedules(
        self, session: AsyncSession, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Page[schemas.ReportScheduleOut]:
        return await service.list_schedules(session, cursor=cursor, limit=limit)

    @post(
        "/",
        summary="Mail a report on a schedule",
        description="Sent by email with the file attached; each delivery also emits the outbox event "
        "report.delivered (for the tenant's webhooks).",
    )
    async def create_schedule(
        self, session: AsyncSession, data: schemas.ReportScheduleCreate
    ) -> Response[schemas.ReportScheduleOut]:
        return _with_etag(await service.create_schedule(session, data), HTTP_201_CREATED)

    @get("/{schedule_id:uuid}", summary="Get a scheduled report (its ETag is its version)")
    async def get_schedule(self, session: AsyncSession, schedule_id: uuid.UUID) -> Response[schemas.ReportScheduleOut]:
        return _with_etag(await service.get_schedule(session, schedule_id))

    @patch("/{schedule_id:uuid}", summary="Change a scheduled report (If-Match: only from that version)")
    async def update_schedule(
        self,
        session: AsyncSession,
        schedule_id: uuid.UUID,
        data: schemas.ReportScheduleUpdate,
        if_match: IfMatch = None,
    ) -> Response[schemas.ReportScheduleOut]:
        row = await service.update_schedule(session, schedule_id, data, if_match=if_match_version(if_match))
        return _with_etag(row)

    @delete("/{schedule_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Stop and delete a scheduled report")
    async def delete_schedule(self, session: AsyncSession, schedule_id: uuid.UUID, if_match: IfMatch = None) -> None:
        await service.delete_schedule(session, schedule_id, if_match=if_match_version(if_match))


route_handlers = [ReportController, ReportScheduleController]
