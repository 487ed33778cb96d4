"""The operator's wallboard in a browser, against the real router process.

A tenant whose service level is at risk (real traffic, rollups and an SLA evaluation) heads the board; a
contact arriving for another tenant shows in that tenant's row without a reload.
"""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest
from playwright.async_api import Page, expect

from app.routing import commands as cmd
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.factories import make_agent, make_staff, make_tenant
from tests.integration.test_wallboard import Plan, tenants_with_service_levels
from tests.routed import make_queue, route

pytestmark = pytest.mark.browser


async def rows_above_are_at_risk(page: Page, row_id: str) -> bool:
    states: list[str] = await page.evaluate(
        """(rowId) => {
            const rows = [...document.querySelectorAll("#wallboard tbody tr")];
            const at = rows.findIndex((row) => row.id === rowId);
            return at < 0 ? ["missing"] : rows.slice(0, at).map((row) => row.querySelector(".state").textContent.trim());
        }""",
        row_id,
    )
    return all(state in ("At risk", "Breached") for state in states)


async def test_the_wallboard_puts_the_tenant_at_risk_first_and_updates_live(
    page: Page, router_process: subprocess.Popen[bytes]
) -> None:
    # Both callers abandoned against 90% a day: 0% so far and projected, the rest of the day still to come.
    # Named to sort last: only the ordering by risk can put it above the others.
    (alarm,) = await tenants_with_service_levels(Plan("zulu-alarm", 0.9, 0, 2))
    tenant = await make_tenant("calls")
    queue_id = await make_queue(tenant.id, "Claims")
    await make_agent(tenant.id)  # offline: the contact waits
    await route(cmd.Reconfigure())
    ops = await make_staff("ops_manager")

    await sign_in(page, ops.email)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Live", exact=True).click()
    await expect(page.get_by_role("heading", name="Live: every tenant")).to_be_visible()
    alarm_row = page.locator(f"#tenant-{alarm.tenant_id}")
    await expect(alarm_row.locator(".state")).to_have_text("At risk")
    await expect(alarm_row.locator(".value")).to_have_text("0.0%")
    await expect(alarm_row.locator(".projected")).to_have_text("0.0%")
    # At-risk tenants come first: every row above the alarm's is at risk or breached too (other tests' tenants).
    assert await rows_above_are_at_risk(page, f"tenant-{alarm.tenant_id}")
    row = page.locator(f"#tenant-{tenant.id}")
    await expect(row.locator(".waiting")).to_have_text("0")
    await expect(row.locator(".state")).to_have_text("–")
    await page.evaluate("window.sameDocument = true")

    await route(cmd.ContactArrive(contact_id=uuid.uuid4(), tenant_id=tenant.id, queue_id=queue_id, caller="+15557000"))
    await expect(row.locator(".waiting")).to_have_text("1")
    await expect(row.locator(".longest")).to_have_text(re.compile(r"^0:\d\d$"))
    await expect(page.locator(f"#queue-{queue_id} .waiting")).to_have_text("1")
    assert await rows_above_are_at_risk(page, f"tenant-{alarm.tenant_id}")
    assert await page.evaluate("window.sameDocument") is True
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "live-wallboard.png"), full_page=True)
