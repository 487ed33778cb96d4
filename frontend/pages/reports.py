"""Reports: a period and filters, a chart (Chart.js) and a table, CSV and XLSX downloads; scheduled reports.

``/reports`` is the acting tenant's (its admins, supervisors and report viewers, or an operator acting for
it). ``/operator/reports`` is the operator's: every tenant's headline figures (an audited cross-tenant read),
or one tenant's reports, read for that tenant. Scheduled reports (``/reports/schedules``) are for tenant admins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import PermissionDeniedException
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import InvalidInputError
from app.core.tenancy import Principal, acting_as
from app.reporting import exports, schemas, service
from app.reporting.controllers import file_response
from app.reporting.engine.periods import PRESETS, PeriodPreset
from app.routing import service as routing
from frontend.forms import FORM, Form, parse_list, text_fields, validate_and_submit
from frontend.listing import ListWithForm, Window, every_row
from frontend.web import flash, redirect, render, with_query
from tenants import service as tenants
from tenants.auth import requires
from tenants.permissions import Permission

PATH = "/reports"
OPERATOR_PATH = "/operator/reports"
SCHEDULES_PATH = "/reports/schedules"
OVERVIEW = "tenants"  # the operator's report across tenants

PERIOD_LABELS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last_7_days": "Last 7 days",
    "this_week": "This week",
    "last_week": "Last week",
    "this_month": "This month",
    "last_month": "Last month",
}
PERIOD_CHOICES = (*((p, PERIOD_LABELS[p]) for p in PRESETS), ("custom", "Days chosen below"))
GRANULARITY_CHOICES = (("day", "Days"), ("interval", "15-minute intervals"))
REPORT_CHOICES = tuple((kind, schemas.REPORT_TITLES[kind]) for kind in schemas.REPORT_KINDS)
FORMAT_CHOICES = (("csv", "CSV"), ("xlsx", "Excel (XLSX)"))
FREQUENCY_CHOICES = (("daily", "Every day"), ("weekly", "Every week"))
WEEKDAY_CHOICES = tuple(enumerate(("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
SCHEDULED_PERIOD_CHOICES = tuple((p, PERIOD_LABELS[p]) for p in ("yesterday", "last_7_days", "last_week", "last_month"))
# The query string of the report form, as the page keeps it.
FIELDS = ("report", "period", "start", "end", "granularity", "queue", "agent", "tenant")
# What the chart draws of each report: (label, field) per dataset, and whether the values are shares.
CHARTS: dict[str, tuple[str, tuple[tuple[str, str], ...], bool]] = {
    "volumes": ("bar", (("Offered", "offered"), ("Answered", "answered"), ("Abandoned", "abandoned")), False),
    "occupancy": ("line", (("Occupancy", "occupancy"), ("Utilisation", "utilisation")), True),
    "agents": ("bar", (("Handled", "handled"), ("Answered", "answered")), False),
    "dispositions": ("bar", (("Contacts", "contacts"),), False),
    OVERVIEW: ("bar", (("Offered", "offered"), ("Answered", "answered"), ("Abandoned", "abandoned")), False),
}


@dataclasses.dataclass
class ReportForm:
    """The report form's values as typed, why any is refused, and what they ask for."""

    values: dict[str, str]
    errors: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, query: Mapping[str, str]) -> ReportForm:
        values = {name: str(query.get(name) or "").strip() for name in FIELDS}
        values["report"] = values["report"] or "volumes"
        values["granularity"] = values["granularity"] or "day"
        values["period"] = values["period"] or ("custom" if values["start"] else "today")
        return cls(values)

    def _convert(self, name: str, annotation: Any) -> Any:
        raw = self.values[name]
        if not raw:
            return None
        try:
            return msgspec.convert(raw, annotation, strict=False)
        except msgspec.ValidationError:
            self.errors[name] = "choose one of the options" if annotation is not dt.date else "a date as YYYY-MM-DD"
            return None

    def kind(self, *, overview: bool) -> str:
        if overview and self.values["report"] == OVERVIEW:
            return OVERVIEW
        return str(self._convert("report", schemas.ReportKind) or "volumes")

    def days(self) -> tuple[Any, dt.date | None, dt.date | None]:
        """(period preset or None, first day, last day) as asked."""
        if self.values["period"] == "custom":
            first, last = self._convert("start", dt.date), self._convert("end", dt.date)
            if first is None and "start" not in self.errors:
                self.errors["start"] = "required for chosen days"
            return None, first, last
        return self._convert("period", PeriodPreset), None, None

    def uuid_of(self, name: str) -> uuid.UUID | None:
        value: uuid.UUID | None = self._convert(name, uuid.UUID)
        return value


def _display(value: Any, column: exports.Column, granularity: str) -> str:
    if value is None:
        return "—"
    match column.kind:
        case "period":
            return exports.period_label(value, granularity)
        case "seconds":
            return f"{value:,.1f}"
        case "rate":
            return f"{value * 100:.1f} %"
        case "count":
            return f"{value:,}"
        case "text":
            return "yes" if value is True else "no" if value is False else str(value)


def _table(report: schemas.Report[Any], kind: str) -> tuple[tuple[exports.Column, ...], list[list[str]]]:
    columns = exports.COLUMNS[kind]
    rows = []
    for row in report.rows:
        values = msgspec.structs.asdict(row)
        rows.append([_display(values[c.field], c, report.granularity) for c in columns])
    return columns, rows


_LABEL_FIELDS = {"agents": "agent", "dispositions": "disposition", OVERVIEW: "tenant"}


def _label(row: Any, kind: str, granularity: str) -> str:
    """A row's label on the chart's axis: its bucket, or the agent, disposition or tenant it is about."""
    field = _LABEL_FIELDS.get(kind)
    return str(getattr(row, field)) if field else exports.period_label(row.period_start, granularity)


def _chart(report: schemas.Report[Any], kind: str) -> dict[str, Any]:
    """What ``/static/reports.js`` draws: labels, datasets, and whether the values are shares (shown as %)."""
    granularity = report.granularity
    if kind == "service-level":
        labels = sorted({exports.period_label(r.period_start, granularity) for r in report.rows})
        series: dict[str, dict[str, float | None]] = {}
        for row in report.rows:
            series.setdefault(row.queue, {})[exports.period_label(row.period_start, granularity)] = row.service_level
        datasets = [
            {"label": queue, "data": [points.get(label) for label in labels]}
            for queue, points in sorted(series.items())
        ]
        return {"type": "line", "labels": labels, "datasets": datasets, "percent": True}
    chart_type, fields, percent = CHARTS[kind]
    labels = [_label(row, kind, granularity) for row in report.rows]
    datasets = [{"label": label, "data": [getattr(row, field) for row in report.rows]} for label, field in fields]
    return {"type": chart_type, "labels": labels, "datasets": datasets, "percent": percent}


@contextlib.contextmanager
def _acting(principal: Principal, tenant_id: uuid.UUID | None) -> Iterator[None]:
    """The operator reads one tenant's reports for that tenant; everyone else in their own context."""
    if tenant_id is None:
        yield
        return
    with acting_as(principal.acting_for(tenant_id)):
        yield


@dataclasses.dataclass
class _Shown:
    form: ReportForm
    kind: str
    tenant_id: uuid.UUID | None  # the operator's chosen tenant (None: its own acting tenant, or the overview)
    report: schemas.Report[Any] | None = None


async def _run(request: Request[Principal, Any, Any], session: AsyncSession, *, operator: bool) -> tuple[_Shown, Any]:
    """The report the form asks for (None when refused), and the filter choices of the tenant it is about."""
    principal = request.user
    form = ReportForm.of(request.query_params)
    chosen = form.uuid_of("tenant") if operator else None
    if chosen is not None:
        await tenants.get_tenant(session, chosen, principal)  # another operator's, or gone: 404
    overview = operator and chosen is None
    shown = _Shown(form, form.kind(overview=overview), chosen)
    period, first, last = form.days()
    queue_id, agent_id = form.uuid_of("queue"), form.uuid_of("agent")
    if overview:
        choices: Any = {}
        shown.kind = OVERVIEW
    else:
        with _acting(principal, chosen):
            choices = {
                "queues": [(q.id, q.name) for q in await every_row(routing.list_queues, session)],
                "agents": [(a.agent_id, a.alias) for a in await every_row(tenants.list_tenant_agents, session)],
            }
    if form.errors:
        return shown, choices
    try:
        if overview:
            first_day, last_day = await service.report_days(session, period, first, last)
            async with tenants.cross_tenant_read(
                "tenants overview report", first_day=str(first_day), last_day=str(last_day)
            ) as reader:
                shown.report = await service.tenants_overview(reader, first_day, last_day)
        else:
            with _acting(principal, chosen):
                first_day, last_day = await service.report_days(session, period, first, last)
                query = schemas.ReportQuery(
                    first_day=first_day,
                    last_day=last_day,
                    granularity=msgspec.convert(form.values["granularity"], schemas.Granularity),
                    queue_ids=(queue_id,) if queue_id else (),
                    agent_id=agent_id,
                )
                shown.report = await service.run_report(session, msgspec.convert(shown.kind, schemas.ReportKind), query)
    except (InvalidInputError, msgspec.ValidationError) as exc:
        errors = getattr(exc, "errors", None) or []
        for error in errors:
            form.errors[{"queue_id": "queue", "agent_id": "agent"}.get(error.field, error.field)] = error.message
        if not errors:
            form.errors[FORM] = getattr(exc, "detail", str(exc))
    return shown, choices


async def _page(request: Request[Principal, Any, Any], session: AsyncSession, *, operator: bool) -> Response[Any]:
    shown, choices = await _run(request, session, operator=operator)
    base = OPERATOR_PATH if operator else PATH
    context: dict[str, Any] = {
        "form": Form(values=shown.form.values, errors=shown.form.errors),
        "kind": shown.kind,
        "title": schemas.REPORT_TITLES[shown.kind],
        "report": shown.report,
        "operator": operator,
        "base": base,
        "report_choices": REPORT_CHOICES,
        "period_choices": PERIOD_CHOICES,
        "granularity_choices": GRANULARITY_CHOICES,
        "queue_choices": choices.get("queues", []),
        "agent_choices": choices.get("agents", []),
        "exports": {
            label: with_query(base + "/export", **{**shown.form.values, "format": value})
            for value, label in FORMAT_CHOICES
        },
    }
    if shown.report is not None:
        context["columns"], context["rows"] = _table(shown.report, shown.kind)
        context["chart"] = _chart(shown.report, shown.kind)
    code = 422 if shown.form.errors else 200
    return render(request, "reports/report.html", status=code, **context)


async def _export(request: Request[Principal, Any, Any], session: AsyncSession, *, operator: bool) -> Response[Any]:
    shown, _ = await _run(request, session, operator=operator)
    if shown.report is None:
        errors = "; ".join(f"{k}: {v}" for k, v in shown.form.errors.items())
        raise InvalidInputError(errors or "the report could not be made")
    file_format = msgspec.convert(request.query_params.get("format") or "csv", schemas.ExportFormat)
    tenant_id = shown.report.tenant_id
    name = "all-tenants" if tenant_id is None else (await tenants.get_tenant(session, tenant_id, request.user)).slug
    return file_response(exports.export(shown.report, shown.kind, file_format, name))


class ReportPages(Controller):
    path = PATH
    guards = [requires(Permission.VIEW_REPORTS)]

    @get("/")
    async def report(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        if request.user.tenant_id is None:
            if not request.user.is_operator:
                raise PermissionDeniedException("choose a tenant to act for")
            return redirect(request, OPERATOR_PATH)
        return await _page(request, session, operator=False)

    @get("/export")
    async def export(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        if request.user.tenant_id is None:
            raise PermissionDeniedException("choose a tenant to act for")
        return await _export(request, session, operator=False)


class OperatorReportPages(Controller):
    path = OPERATOR_PATH
    guards = [requires(Permission.READ_CROSS_TENANT)]

    @get("/")
    async def report(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await _page(request, session, operator=True)

    @get("/export")
    async def export(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return await _export(request, session, operator=True)


# --- scheduled reports -------------------------------------------------------------------------------

SCHEDULE_TEXT = (
    "name",
    "report",
    "granularity",
    "period",
    "frequency",
    "weekday",
    "time_of_day",
    "format",
    "queue",
    "agent",
)


def _schedule_values(form: Any) -> dict[str, Any]:
    """The form as the API's fields: one queue (or all), recipients one per line or comma."""
    text = text_fields(form, (*SCHEDULE_TEXT, "recipients"))
    values: dict[str, Any] = {name: text[name] for name in SCHEDULE_TEXT if name not in ("queue", "agent")}
    values["queue_ids"] = [text["queue"]] if text["queue"] else []
    values["agent_id"] = text["agent"] or None
    values["recipients"] = parse_list(text["recipients"])
    values["enabled"] = form.get("enabled") == "on"
    return values


def _schedule_form(values: Mapping[str, Any], errors: Mapping[str, str] | None = None) -> Form:
    """Values as the form fields show them (recipients one per line, one queue)."""
    shown = dict(values)
    shown["recipients"] = "\n".join(values.get("recipients") or [])
    shown["queue"] = str((values.get("queue_ids") or [""])[0])
    shown["agent"] = str(values.get("agent_id") or "")
    renamed = {"queue_ids": "queue", "agent_id": "agent"}
    return Form(values=shown, errors={renamed.get(k, k): v for k, v in (errors or {}).items()})


async def _schedule_choices(request: Request[Any, Any, Any], session: AsyncSession, page: Any) -> dict[str, Any]:
    return {
        "report_choices": REPORT_CHOICES,
        "granularity_choices": GRANULARITY_CHOICES,
        "period_choices": SCHEDULED_PERIOD_CHOICES,
        "frequency_choices": FREQUENCY_CHOICES,
        "weekday_choices": WEEKDAY_CHOICES,
        "format_choices": FORMAT_CHOICES,
        "queue_choices": [(q.id, q.name) for q in await every_row(routing.list_queues, session)],
        "agent_choices": [(a.agent_id, a.alias) for a in await every_row(tenants.list_tenant_agents, session)],
    }


SCHEDULES = ListWithForm(
    path=SCHEDULES_PATH,
    template="reports/schedules.html",
    lister=service.list_schedules,
    blank=lambda: _schedule_form({"time_of_day": "07:00", "enabled": True, "report": "volumes", "period": "yesterday"}),
    page_context=_schedule_choices,
)


class ReportSchedulePages(Controller):
    path = SCHEDULES_PATH
    guards = [requires(Permission.MANAGE_REPORT_SCHEDULES)]

    @get("/")
    async def list_schedules(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        return await SCHEDULES.render(request, session, window)

    @post("/")
    async def create(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        values = _schedule_values(await request.form())
        created, errors = await validate_and_submit(
            session, schemas.ReportScheduleCreate, values, lambda data: service.create_schedule(session, data)
        )
        if created is None:
            return await SCHEDULES.render(request, session, form=_schedule_form(values, errors), code=422)
        flash(request, f"Scheduled report {created.name} created.")
        return redirect(request, SCHEDULES_PATH)

    @get("/{schedule_id:uuid}")
    async def edit(
        self, request: Request[Principal, Any, Any], session: AsyncSession, schedule_id: uuid.UUID
    ) -> Response[Any]:
        row = service.schedule_out(await service.get_schedule(session, schedule_id))
        return await self._edit_page(request, session, row, _schedule_form(msgspec.structs.asdict(row)))

    async def _edit_page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        row: schemas.ReportScheduleOut,
        form: Form,
        code: int = 200,
    ) -> Response[Any]:
        choices = await _schedule_choices(request, session, None)
        return render(request, "reports/schedule.html", status=code, schedule=row, form=form, **choices)

    @post("/{schedule_id:uuid}")
    async def update(
        self, request: Request[Principal, Any, Any], session: AsyncSession, schedule_id: uuid.UUID
    ) -> Response[Any]:
        row = service.schedule_out(await service.get_schedule(session, schedule_id))
        form = await request.form()
        values = _schedule_values(form)
        version = int(str(form.get("version") or row.version))
        updated, errors = await validate_and_submit(
            session,
            schemas.ReportScheduleUpdate,
            values,
            lambda data: service.update_schedule(session, schedule_id, data, if_match=version),
            require=("name", "recipients"),
        )
        if updated is None:
            return await self._edit_page(request, session, row, _schedule_form(values, errors), code=422)
        flash(request, f"Scheduled report {updated.name} saved.")
        return redirect(request, SCHEDULES_PATH)

    @post("/{schedule_id:uuid}/delete")
    async def delete(
        self, request: Request[Principal, Any, Any], session: AsyncSession, schedule_id: uuid.UUID
    ) -> Response[Any]:
        name = (await service.get_schedule(session, schedule_id)).name
        await service.delete_schedule(session, schedule_id, if_match=None)
        flash(request, f"Scheduled report {name} deleted.")
        return redirect(request, SCHEDULES_PATH)
