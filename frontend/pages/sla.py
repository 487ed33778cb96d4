"""SLA pages: the tenant's contract (versions and targets, a new version), its attainment, and alerts.

The contract page shows the version in force and every version before and after it; operator admins record
a new version with a form of repeated target rows (added and removed by the form's buttons, like the queue
form; every refusal shows next to its row). The attainment page charts the service level of each 15-minute
interval of a day against the target (Chart.js) and keeps each target's live state current (htmx polls the
state every few seconds). Alerts: the tenant's own, and for the operator every tenant's (an audited read).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import InvalidInputError, NotFoundError
from app.core.tenancy import Principal
from app.sla import schemas, service
from frontend.forms import FORM, Form, check, placed, submit, text_fields, validate
from frontend.layout import layout_of
from frontend.listing import Window, every_row
from frontend.web import flash, redirect, render
from tenants.auth import requires
from tenants.permissions import Permission
from tenants.service import tenant_names

CONTRACT_PATH = "/sla/contract"
ATTAINMENT_PATH = "/sla/attainment"
ALERTS_PATH = "/sla/alerts"
OPERATOR_ALERTS_PATH = "/operator/sla-alerts"
STATE_REFRESH_SECONDS = 5
STALE = (
    "Someone recorded version {version} of the contract while you were filling this in. Look at it on the "
    "contract page (in a new tab); your values are kept below, and saving again records yours after it."
)

MEASURES = {
    "service_level": "Service level",
    "abandonment_rate": "Abandonment rate",
    "asa": "Average speed of answer",
    "aht": "Average handle time",
    "fcr": "First contact resolution",
    "csat": "Customer satisfaction",
    "serious_error_rate": "Serious-error rate",
}
WINDOWS = {
    "15min": "per 15 minutes",
    "30min": "per 30 minutes",
    "60min": "per hour",
    "day": "per day",
    "month": "per month",
}
DEFINITIONS = {
    "answered": "Answered within T / answered",
    "answered_and_abandoned": "(Answered + abandoned within T) / (answered + abandoned)",
    "offered_less_short_abandons": "Answered within T / (offered − short abandons)",
}
HOURS = (("all", "All hours"), ("business", "Business hours only"))
STATES = {"met": "On track", "at_risk": "At risk", "breached": "Breached", "no_data": "No data"}
SECONDS_MEASURES = frozenset({"asa", "aht"})
SCALARS = ("effective_from", "definition", "short_abandon_seconds", "note")


# --- how targets read ------------------------------------------------------------------------------


def _amount(measure: str, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g} s" if measure in SECONDS_MEASURES else f"{value * 100:.4g}%"


def goal_text(target: schemas.TargetOut) -> str:
    """What a target asks, as a person reads it: "at least 80% within 20 s", "240 s to 360 s"."""
    low, high = _amount(target.measure, target.minimum), _amount(target.measure, target.maximum)
    if target.minimum is not None and target.maximum is not None:
        text = f"{low} to {high}"
    elif target.minimum is not None:
        text = f"at least {low}"
    else:
        text = f"at most {high}"
    return f"{text} within {target.within_seconds} s" if target.within_seconds else text


def target_text(target: schemas.TargetOut) -> str:
    hours = ", business hours" if target.business_hours_only else ""
    return f"{MEASURES[target.measure]}: {goal_text(target)}, {WINDOWS[target.window]}{hours}"


def value_text(measure: str, value: float | None) -> str:
    return _amount(measure, value) if value is not None else "—"


SHOWN = {"goal_text": goal_text, "target_text": target_text, "value_text": value_text, "measures": MEASURES}


# --- the form of a new version ---------------------------------------------------------------------


@dataclass
class TargetRow:
    measure: str = "service_level"
    window: str = "15min"
    hours: str = "all"
    minimum: str = ""
    maximum: str = ""
    within_seconds: str = ""


_ROW_FIELDS = ("measure", "window", "hours", "minimum", "maximum", "within_seconds")


def _row_of(target: schemas.TargetOut) -> TargetRow:
    def text(value: float | int | None) -> str:
        return "" if value is None else f"{value:g}"

    return TargetRow(
        target.measure,
        target.window,
        "business" if target.business_hours_only else "all",
        text(target.minimum),
        text(target.maximum),
        text(target.within_seconds),
    )


def _values_from(contract: schemas.ContractOut | None, today: dt.date) -> dict[str, Any]:
    """The form of a new version: a copy of the version in force, from today (or a first target to start from)."""
    if contract is None:
        return {
            "effective_from": today.isoformat(),
            "definition": "answered_and_abandoned",
            "short_abandon_seconds": "5",
            "note": "",
            "targets": [TargetRow(minimum="0.8", within_seconds="20")],
        }
    return {
        "effective_from": today.isoformat(),
        "definition": contract.definition,
        "short_abandon_seconds": str(contract.short_abandon_seconds),
        "note": "",
        "targets": [_row_of(t) for t in contract.targets],
    }


def _read_form(form: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = text_fields(form, SCALARS)
    columns = [[str(v).strip() for v in form.getall(f"target_{name}", [])] for name in _ROW_FIELDS]
    values["targets"] = [TargetRow(*cells) for cells in zip(*columns, strict=False)]
    return values


_ROW_COMMAND = re.compile(r"^(add|remove)-target(?:-(\d+))?$")


def _edit_rows(values: dict[str, Any], command: str) -> str | None:
    match = _ROW_COMMAND.match(command)
    if match is None:
        raise InvalidInputError(f"unknown form button {command!r}")
    rows: list[TargetRow] = values["targets"]
    if match.group(1) == "add":
        rows.append(TargetRow(measure="abandonment_rate", window="day"))
        return f"targets-{len(rows) - 1}-measure"
    index = int(match.group(2) or 0)
    if index < len(rows):
        del rows[index]
    return None


_ROW_TYPES: dict[str, Any] = {
    "measure": schemas.MeasureName,
    "window": schemas.WindowName,
    "minimum": schemas.Goal,
    "maximum": schemas.Goal,
    "within_seconds": schemas.WaitEdge,
}


def _contract_data(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the API's body, and the problems of single rows (keyed like the service's errors)."""
    errors: dict[str, str] = {}
    targets = []
    for index, row in enumerate(values["targets"]):
        target: dict[str, Any] = {"business_hours_only": row.hours == "business"}
        for name, annotation in _ROW_TYPES.items():
            text = getattr(row, name)
            if text == "" and name not in ("measure", "window"):
                target[name] = None
                continue
            if problem := check(annotation, text):
                errors[f"targets[{index}].{name}"] = problem
            target[name] = text
        targets.append(target)
    data: dict[str, Any] = {name: values[name] for name in SCALARS}
    if not errors:
        data["targets"] = targets
    return data, errors


def _shown_keys(values: dict[str, Any]) -> set[str]:
    rows = range(len(values["targets"]))
    return {*SCALARS, "targets"} | {f"targets[{i}].{name}" for i in rows for name in _ROW_TYPES}


async def _form_page(
    request: Request[Any, Any, Any], form: Form, *, code: int = 200, focus: str | None = None
) -> Response[Any]:
    return render(
        request,
        "sla/new_version.html",
        status=code,
        form=form,
        focus=focus,
        saved={},
        measures=tuple(MEASURES.items()),
        windows=tuple(WINDOWS.items()),
        definitions=tuple(DEFINITIONS.items()),
        hours=HOURS,
    )


# --- pages ---------------------------------------------------------------------------------------


class SlaContractPages(Controller):
    path = CONTRACT_PATH

    @get("/", guards=[requires(Permission.VIEW_SLA)])
    async def contract(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        versions = await every_row(service.list_contract_versions, session)
        current = next((v for v in versions if v.status == "in_force"), None)
        return render(
            request, "sla/contract.html", current=current, versions=versions, definitions=DEFINITIONS, **SHOWN
        )

    @get("/new", guards=[requires(Permission.MANAGE_SLA_CONTRACTS)])
    async def new(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        values = _values_from(await service.contract_in_force(session), await service.today(session))
        latest = await service.latest_version_number(session)
        return await _form_page(request, Form(values=values | {"follows": str(latest)}))

    @post("/", guards=[requires(Permission.MANAGE_SLA_CONTRACTS)])
    async def create(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form = await request.form()
        values = _read_form(form) | text_fields(form, ("follows",))
        if command := form.get("rows"):
            focus = _edit_rows(values, str(command))
            return await _form_page(request, Form(values=values), focus=focus)
        data, errors = _contract_data(values)
        checked, field_errors = validate(schemas.ContractCreate, data)
        if errors:
            field_errors.pop("targets", None)  # left out for its rows' own messages, not missing
        errors |= field_errors
        if checked is not None and not errors:
            body = checked
            follows = int(values["follows"]) if values["follows"].isdigit() else None
            created, errors = await submit(
                session, lambda: service.create_contract_version(session, body, if_match=follows)
            )
            if created is not None:
                flash(request, f"Version {created.version} recorded, in force from {created.effective_from}.")
                return redirect(request, CONTRACT_PATH)
            latest = await service.latest_version_number(session)
            if errors and follows != latest:
                # Recorded meanwhile: say so, and take the newest as the one this form follows.
                values["follows"] = str(latest)
                errors[FORM] = STALE.format(version=latest)
        return await _form_page(request, Form(values=values, errors=placed(errors, _shown_keys(values))), code=422)

    @get("/{contract_id:uuid}", guards=[requires(Permission.VIEW_SLA)])
    async def version(
        self, request: Request[Principal, Any, Any], session: AsyncSession, contract_id: uuid.UUID
    ) -> Response[Any]:
        contract = await service.get_contract_version(session, contract_id)
        return render(request, "sla/version.html", contract=contract, definitions=DEFINITIONS, **SHOWN)


Day = Annotated[str | None, QueryParameter(name="day", max_length=10)]


def _day(text: str | None, today: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else today
    except ValueError:
        raise NotFoundError("no such day: give it as YYYY-MM-DD") from None


async def _state(session: AsyncSession) -> dict[str, Any]:
    """The live part of the attainment page: each target now, and the latest alerts."""
    try:
        attainment: schemas.AttainmentOut | None = await service.current_attainment(session)
    except NotFoundError:
        attainment = None
    alerts = (await service.list_alerts(session, cursor=None, limit=5)).items
    return {"attainment": attainment, "alerts": alerts, "states": STATES, "refresh": STATE_REFRESH_SECONDS}


class SlaAttainmentPages(Controller):
    path = ATTAINMENT_PATH
    guards = [requires(Permission.VIEW_SLA)]

    @get("/")
    async def attainment(
        self, request: Request[Principal, Any, Any], session: AsyncSession, day: Day = None
    ) -> Response[Any]:
        shown_day = _day(day, await service.today(session))
        try:
            series: schemas.IntervalSeriesOut | None = await service.interval_series(session, shown_day)
        except NotFoundError:
            series = None
        chart = msgspec.json.encode(series).decode() if series else "null"
        return render(
            request,
            "sla/attainment.html",
            day=shown_day,
            series=series,
            chart=chart,
            definitions=DEFINITIONS,
            **SHOWN,
            **await _state(session),
        )

    @get("/state")
    async def state(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        return render(request, "sla/_state.html", **SHOWN, **await _state(session))


class SlaAlertPages(Controller):
    path = ALERTS_PATH

    @get("/", guards=[requires(Permission.VIEW_SLA)])
    async def alerts(
        self, request: Request[Principal, Any, Any], session: AsyncSession, window: Window
    ) -> Response[Any]:
        page = await service.list_alerts(session, cursor=window.cursor, limit=window.limit)
        return render(request, "sla/alerts.html", page=page, cross_tenant=False, states=STATES, **SHOWN)


Tenant = Annotated[str | None, QueryParameter(name="tenant", max_length=36)]


@get(OPERATOR_ALERTS_PATH, guards=[requires(Permission.READ_CROSS_TENANT)])
async def operator_alerts(
    request: Request[Principal, Any, Any], session: AsyncSession, window: Window, tenant: Tenant = None
) -> Response[Any]:
    try:
        tenant_id = uuid.UUID(tenant) if tenant else None  # the filter form sends "" for every tenant
    except ValueError:
        raise NotFoundError("no such tenant") from None
    page = await service.list_all_alerts(cursor=window.cursor, limit=window.limit, tenant_id=tenant_id)
    names = await tenant_names(session, [alert.tenant_id for alert in page.items])
    return render(
        request,
        "sla/alerts.html",
        page=page,
        cross_tenant=True,
        tenant_filter=tenant_id,
        tenants=layout_of(request.scope).switcher,
        tenant_names=names,
        states=STATES,
        **SHOWN,
    )
