"""Reports as files: CSV (UTF-8, one header row) and XLSX (typed cells: numbers, percentages, times).

Both carry the same columns in the same order as the report's rows. Text a tenant typed (queue names,
agent aliases, disposition codes) that a spreadsheet would run as a formula is prefixed with a quote.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from app.reporting import schemas

ColumnKind = Literal["text", "count", "seconds", "rate", "period"]
MEDIA_TYPES = {
    "csv": "text/csv",  # HTTP responses add "; charset=utf-8"
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    field: str
    label: str
    kind: ColumnKind


def _columns(*spec: tuple[str, str, ColumnKind]) -> tuple[Column, ...]:
    return tuple(Column(*item) for item in spec)


_HANDLING: tuple[tuple[str, str, ColumnKind], ...] = (
    ("aht_seconds", "AHT (s)", "seconds"),
    ("talk_seconds", "Talk (s)", "seconds"),
    ("hold_seconds", "Hold (s)", "seconds"),
    ("wrap_up_seconds", "Wrap-up (s)", "seconds"),
    ("transfers", "Transfers", "count"),
    ("fcr", "FCR", "rate"),
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    "service-level": _columns(
        ("period_start", "Period", "period"),
        ("queue", "Queue", "text"),
        ("offered", "Offered", "count"),
        ("answered", "Answered", "count"),
        ("answered_within", "Answered within target", "count"),
        ("abandoned", "Abandoned", "count"),
        ("abandoned_within", "Abandoned within target", "count"),
        ("abandoned_short", "Short abandons", "count"),
        ("answer_target_seconds", "Target (s)", "seconds"),
        ("target_service_level", "Target service level", "rate"),
        ("service_level", "Service level", "rate"),
        ("met", "Met", "text"),
        ("definition", "Definition", "text"),
    ),
    "volumes": _columns(
        ("period_start", "Period", "period"),
        ("offered", "Offered", "count"),
        ("answered", "Answered", "count"),
        ("abandoned", "Abandoned", "count"),
        ("removed", "Removed", "count"),
        ("abandon_rate", "Abandonment rate", "rate"),
        ("asa_seconds", "ASA (s)", "seconds"),
        ("handled", "Handled", "count"),
        *_HANDLING,
    ),
    "occupancy": _columns(
        ("period_start", "Period", "period"),
        ("agents", "Agents", "count"),
        ("staffed_seconds", "Staffed (s)", "seconds"),
        ("available_seconds", "Available (s)", "seconds"),
        ("offered_seconds", "Ringing (s)", "seconds"),
        ("on_contact_seconds", "On contact (s)", "seconds"),
        ("wrap_up_seconds", "Wrap-up (s)", "seconds"),
        ("break_seconds", "Break (s)", "seconds"),
        ("occupancy", "Occupancy", "rate"),
        ("utilisation", "Utilisation", "rate"),
        ("tenant_busy_seconds", "Busy for this tenant (s)", "seconds"),
        ("tenant_share", "Share of busy time", "rate"),
    ),
    "agents": _columns(
        ("agent", "Agent", "text"),
        ("answered", "Answered", "count"),
        ("handled", "Handled", "count"),
        *_HANDLING,
        ("staffed_seconds", "Staffed (s)", "seconds"),
        ("occupancy", "Occupancy", "rate"),
        ("utilisation", "Utilisation", "rate"),
        ("tenant_share", "Share of busy time", "rate"),
    ),
    "dispositions": _columns(
        ("disposition", "Disposition", "text"),
        ("label", "Label", "text"),
        ("contacts", "Contacts", "count"),
        ("share", "Share", "rate"),
    ),
    "tenants": _columns(
        ("tenant", "Tenant", "text"),
        ("offered", "Offered", "count"),
        ("answered", "Answered", "count"),
        ("abandoned", "Abandoned", "count"),
        ("abandon_rate", "Abandonment rate", "rate"),
        ("service_level", "Service level", "rate"),
        ("asa_seconds", "ASA (s)", "seconds"),
        ("aht_seconds", "AHT (s)", "seconds"),
        ("fcr", "FCR", "rate"),
    ),
}

_FORMULA_START = re.compile(r"^[=+\-@\t\r]")


@dataclasses.dataclass(frozen=True, slots=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes


def period_label(value: dt.datetime, granularity: str) -> str:
    """A bucket's start as the tenant reads it: the day, or the day and time of the interval."""
    return value.date().isoformat() if granularity == "day" else value.strftime("%Y-%m-%d %H:%M")


def _text(value: Any) -> str:
    text = "yes" if value is True else "no" if value is False else str(value)
    return "'" + text if _FORMULA_START.match(text) else text


def _csv_value(value: Any, column: Column, granularity: str) -> str:
    if value is None:
        return ""
    match column.kind:
        case "period":
            return period_label(value, granularity)
        case "seconds":
            return f"{value:.1f}"
        case "rate":
            return f"{value:.4f}"
        case "count":
            return str(value)
        case "text":
            return _text(value)


def to_csv(report: schemas.Report[Any], columns: Sequence[Column]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.label for column in columns])
    for row in report.rows:
        values = msgspec.structs.asdict(row)
        writer.writerow([_csv_value(values[column.field], column, report.granularity) for column in columns])
    return buffer.getvalue().encode("utf-8")


def to_xlsx(report: schemas.Report[Any], columns: Sequence[Column], title: str) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Report"
    sheet.append([column.label for column in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for row in report.rows:
        values = msgspec.structs.asdict(row)
        cells: list[Any] = []
        for column in columns:
            value = values[column.field]
            if value is None or column.kind in ("count", "rate"):
                cells.append(value)
            elif column.kind == "period":
                cells.append(period_label(value, report.granularity))
            elif column.kind == "seconds":
                cells.append(round(value, 1))
            else:
                cells.append(_text(value))
        sheet.append(cells)
    for index, column in enumerate(columns, start=1):
        if column.kind == "rate":
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "0.0%"
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(column.label) + 2)
    about = workbook.create_sheet("About")
    for line in _about(report, title):
        about.append(line)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _about(report: schemas.Report[Any], title: str) -> list[tuple[str, str]]:
    return [
        ("Report", title),
        ("Days", f"{report.first_day.isoformat()} to {report.last_day.isoformat()}"),
        ("Time zone", report.timezone),
        ("Granularity", report.granularity),
        ("Queues", ", ".join(str(queue_id) for queue_id in report.queue_ids) or "all"),
        ("Agent", str(report.agent_id) if report.agent_id else "all"),
    ]


def export(report: schemas.Report[Any], kind: str, file_format: schemas.ExportFormat, name: str) -> ExportFile:
    """The report as a file named ``<name>-<kind>-<first day>-to-<last day>.<format>``."""
    columns = COLUMNS[kind]
    title = schemas.REPORT_TITLES[kind]
    content = to_csv(report, columns) if file_format == "csv" else to_xlsx(report, columns, title)
    filename = f"{name}-{kind}-{report.first_day.isoformat()}-to-{report.last_day.isoformat()}.{file_format}"
    return ExportFile(filename=filename, media_type=MEDIA_TYPES[file_format], content=content)
