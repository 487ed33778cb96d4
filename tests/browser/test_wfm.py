"""Workforce pages in the browser: a supervisor reads the day's plan and its chart, and works the Erlang calculator."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import ARTIFACTS, nav_links, sign_in
from tests.factories import make_agent, make_tenant_user
from tests.workforce_data import WEEKS, make_queue, make_zoned_tenant, reference_day, write_history, write_presence

pytestmark = pytest.mark.browser


async def test_a_supervisor_reads_the_plan_chart_and_works_the_calculator(page: Page) -> None:
    day = reference_day()
    tenant = await make_zoned_tenant("wfm-browser")
    queue = await make_queue(tenant.id, name="Support", answer_target_seconds=20, target_service_level=0.8)
    await write_history(tenant.id, queue, day, 1.0)
    agent = await make_agent(tenant.id)
    await write_presence(agent.id, day, [("08:00", "available"), ("12:00", "break"), ("12:30", "offline")])
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    await sign_in(page, supervisor.email)

    assert "Workforce" in await nav_links(page)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Workforce").click()
    await expect(page.get_by_role("heading", name="Workforce", exact=True)).to_be_visible()
    await page.get_by_label("Day", exact=True).fill(day.isoformat())
    await page.get_by_label("Weeks of history").fill(str(WEEKS))
    await page.get_by_role("button", name="Plan").click()
    await page.wait_for_url(f"**/wfm?day={day.isoformat()}*")

    # The plan table: the 08:00 interval has contacts forecast, agents planned and the agent staffed.
    eight = page.locator("#plan-table tbody tr").filter(has=page.get_by_role("rowheader", name="08:00"))
    await expect(eight.locator("td").last).to_have_text("1.00")
    # The chart is drawn, with the plan and the actual staff over the day's 96 intervals.
    datasets = await page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById("wfm-intraday"));
            return chart.data.datasets.map((d) => [d.label, d.data.length]);
        }"""
    )
    assert datasets == [
        ["Agents needed", 96],
        ["Staff to schedule", 96],
        ["Staffed", 96],
        ["Staffed, not on break", 96],
    ]
    staffed_at_noon = await page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById("wfm-intraday"));
            const at = chart.data.labels.indexOf("12:00");
            return [chart.data.datasets[2].data[at], chart.data.datasets[3].data[at]];
        }"""
    )
    assert staffed_at_noon == [1.0, 0.0]  # on break
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "wfm-plan.png"), full_page=True)

    # The calculator: the worked example is filled in; its answer is 14 agents, 20 staff.
    await page.get_by_role("link", name="Erlang calculator").first.click()
    await expect(page.get_by_role("heading", name="Erlang calculator")).to_be_visible()
    await page.get_by_role("button", name="Calculate").click()
    await expect(page.get_by_role("heading", name="14 agents, 20 staff")).to_be_visible()
    required = page.locator("#erlang-table tr.required")
    await expect(required.locator("th")).to_have_text("14")
    await expect(required.locator("td").nth(1)).to_have_text("88.84%")

    # A share of 1.5 is refused next to its field, like `tenline wfm erlang --target-sl 1.5`.
    await page.get_by_label("Service level target").fill("1.5")
    await page.get_by_label("Mean patience (seconds)").fill("60")
    await page.get_by_role("button", name="Calculate").click()
    await expect(page.locator("#erlang-target_sl-error")).to_have_text(
        "Must be a fraction between 0 and 1, both excluded (0.8 for 80 %)."
    )
    await expect(page.get_by_label("Mean patience (seconds)")).to_have_value("60")
    await page.get_by_label("Service level target").fill("0.8")
    await page.get_by_role("button", name="Calculate").click()
    await expect(page.locator("#calculator-summary")).to_contain_text("Erlang A")
    await expect(page.get_by_role("heading", name="10 agents, 15 staff")).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "wfm-erlang.png"), full_page=True)
