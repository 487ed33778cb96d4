"""A report viewer opens the tenant's reports: the chart is drawn with the figures, and the CSV downloads."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import ARTIFACTS, sign_in
from tests.factories import make_tenant_user
from tests.reporting_traffic import fold_all, generate, make_center

pytestmark = pytest.mark.browser


async def test_a_report_viewer_sees_the_chart_and_downloads_the_csv(page: Page, tmp_path: Path) -> None:
    center = await make_center("charted")
    await generate(center, 3)
    await fold_all(center.tenant_id)
    viewer = await make_tenant_user(center.tenant_id, "report_viewer")
    await sign_in(page, viewer.email)

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    await expect(page.get_by_role("heading", name="Volumes and handling")).to_be_visible()
    chart = page.locator("#report-chart")
    await expect(chart).to_be_visible()
    # Chart.js drew the day's figures: its datasets hold them and the canvas has ink on it.
    await page.wait_for_function("() => window.Chart && Chart.getChart('report-chart')")
    offered = await page.evaluate("() => Chart.getChart('report-chart').data.datasets[0].data")
    table_offered = await page.locator("#report-table tbody tr td:nth-child(2)").all_inner_texts()
    assert offered == [int(value.replace(",", "")) for value in table_offered] and sum(offered) > 0
    inked = await page.evaluate(
        """() => {
          const canvas = document.getElementById('report-chart');
          const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let painted = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
          return painted;
        }"""
    )
    assert inked > 1000
    await page.screenshot(path=str(ARTIFACTS / "reports-volumes.png"), full_page=True)

    # Another report from the form: agents by the alias the tenant knows them by.
    await page.get_by_label("Report").select_option(label="Agent performance")
    await page.get_by_role("button", name="Show report").click()
    await expect(page.get_by_role("heading", name="Agent performance")).to_be_visible()
    await expect(page.locator("#report-table tbody tr")).to_have_count(5)
    await page.wait_for_function("() => window.Chart && Chart.getChart('report-chart')")
    handled = await page.evaluate("() => Chart.getChart('report-chart').data.datasets[0].data")
    assert sum(handled) > 0

    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="CSV").click()
    download = await download_info.value
    assert download.suggested_filename.startswith(f"{center.slug}-agents-") and download.suggested_filename.endswith(
        ".csv"
    )
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["Agent", "Answered", "Handled"]
    assert sum(int(row[2]) for row in rows[1:]) == sum(handled)
