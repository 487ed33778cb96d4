"""Report files: CSV cells as numbers people and programs read, XLSX typed, spreadsheet formulas defused."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from app.reporting import exports, schemas


def _report() -> schemas.Report[schemas.DispositionRow]:
    return schemas.Report(
        report="dispositions",
        tenant_id=uuid.uuid4(),
        timezone="Europe/Oslo",
        first_day=dt.date(2026, 3, 2),
        last_day=dt.date(2026, 3, 8),
        granularity="day",
        queue_ids=[],
        agent_id=None,
        rows=[
            schemas.DispositionRow(disposition='=HYPERLINK("http://evil")', label="-1+1", contacts=3, share=0.75),
            schemas.DispositionRow(disposition="sale", label="Sale", contacts=1, share=0.25),
        ],
    )


def test_csv_defuses_formulas_and_writes_plain_numbers() -> None:
    file = exports.export(_report(), "dispositions", "csv", "fjord")
    assert (file.filename, file.media_type) == ("fjord-dispositions-2026-03-02-to-2026-03-08.csv", "text/csv")
    rows = list(csv.reader(io.StringIO(file.content.decode())))
    assert rows == [
        ["Disposition", "Label", "Contacts", "Share"],
        ['\'=HYPERLINK("http://evil")', "'-1+1", "3", "0.7500"],
        ["sale", "Sale", "1", "0.2500"],
    ]


def test_xlsx_cells_are_typed() -> None:
    file = exports.export(_report(), "dispositions", "xlsx", "fjord")
    workbook = load_workbook(io.BytesIO(file.content))
    sheet = workbook["Report"]
    assert [cell.value for cell in sheet[2]] == ['\'=HYPERLINK("http://evil")', "'-1+1", 3, 0.75]
    assert sheet["D2"].number_format == "0.0%"
    assert ("Time zone", "Europe/Oslo") in [tuple(row) for row in workbook["About"].iter_rows(values_only=True)]


def test_periods_read_as_the_tenant_reads_them() -> None:
    start = dt.datetime(2026, 3, 2, 8, 15, tzinfo=ZoneInfo("Europe/Oslo"))
    assert exports.period_label(start, "interval") == "2026-03-02 08:15"
    assert exports.period_label(start, "day") == "2026-03-02"
