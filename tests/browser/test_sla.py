"""The client portal's SLA pages: a tenant admin sees the day's service level charted against the contract."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from app.core.clock import utcnow
from tests.browser.conftest import sign_in
from tests.factories import make_tenant_user
from tests.integration.test_router import pool_name, running_router
from tests.sla_helpers import clear_of_interval_end, evaluate_at, fold, play, record_contract, sla_tenant, target

pytestmark = pytest.mark.browser


async def test_the_tenant_admin_sees_the_sla_chart_and_the_live_state(page: Page) -> None:
    # 3 callers gave up and 1 was answered this quarter hour: 25% against 80% within 20 s over the day.
    setup = await sla_tenant("portal")
    await record_contract(setup.tenant_id, [target("service_level", "day", minimum=0.8, within_seconds=20)])
    await clear_of_interval_end()
    pool = pool_name()
    async with running_router(pool):
        await play(pool, setup, answered=1, abandoned=3)
    await fold(setup.tenant_id)
    admin = await make_tenant_user(setup.tenant_id, "tenant_admin")

    await sign_in(page, admin.email)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="SLA attainment").click()
    await expect(page.get_by_role("heading", name="SLA attainment")).to_be_visible()
    state = page.locator("#target-states tbody tr").first
    await expect(state).to_contain_text("Service level: at least 80% within 20 s, per day")
    await expect(state.locator(".state")).to_have_text("No data")  # not evaluated yet

    # The chart: one bar at 25% (this quarter hour), the target line at 80% all day.
    chart = page.locator("#sla-chart")
    await expect(chart).to_be_visible()
    datasets = await page.evaluate(
        "() => Chart.getChart(document.getElementById('sla-chart')).data.datasets.map(d => d.data)"
    )
    bars, line = datasets
    assert len(bars) == len(line) == 96
    assert [value for value in bars if value is not None] == [25]
    assert set(line) == {80}
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100

    # The worker's evaluation reaches the open page by itself (it polls the state every few seconds).
    await evaluate_at(setup.tenant_id, utcnow())
    await expect(state.locator(".state")).to_have_text("At risk", timeout=15_000)
    await expect(state.locator(".value")).to_have_text("25%")
    await expect(page.locator("#latest-alerts")).to_contain_text("At risk")
