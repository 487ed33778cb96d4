"""Browser tests: Playwright drives Debian's Chromium against the live server (never a downloaded browser).

`make test` installs Debian's ``chromium`` package when it is missing (target ``browser-deps``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import ROOT, LiveServer
from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: run `make browser-deps` (apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser, live_server: LiveServer) -> AsyncIterator[Page]:
    """A fresh browser context (own cookies) on the live server."""
    context = await browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 960})
    context.set_default_timeout(15_000)
    # Assertions wait as long as actions do: on a loaded CI machine a save and its redirect can take seconds.
    expect.set_options(timeout=15_000)
    page = await context.new_page()
    yield page
    await context.close()


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Signs in through the login form and waits until the browser has left it."""
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/login" not in url)


# The navigation each role sees (operator pages first, then the acting tenant's), as the browser tests expect it.
OPERATOR_PAGES = ["Tenants", "Live", "Reports", "Agents", "Number registry", "SLA alerts", "Workforce", "Billing"]
OPERATOR_ADMIN_NAV = ["Home", *OPERATOR_PAGES, "Dunning", "Operator staff", "Audit log"]
OPS_MANAGER_NAV = ["Home", *OPERATOR_PAGES, "Audit log"]
REPORT_VIEWER_NAV = ["Home", "Reports", "SLA attainment", "SLA contract", "SLA alerts"]
SUPERVISOR_PAGES = [
    "Live",
    "Callbacks",
    "Customers",
    "Reports",
    "SLA attainment",
    "SLA contract",
    "SLA alerts",
    "Workforce",
    "Users",
    "Agents",
    "Agent skills",
    "Queues",
    "Entry points",
    "Phone numbers",
    "Disposition codes",
]
SUPERVISOR_NAV = ["Home", *SUPERVISOR_PAGES]
TENANT_ADMIN_PAGES = [*SUPERVISOR_PAGES, "Billing", "API clients", "Webhooks", "SSO", "Settings", "Audit log"]
TENANT_ADMIN_NAV = ["Home", *TENANT_ADMIN_PAGES]


async def nav_links(page: Page) -> list[str]:
    return [text.strip() for text in await page.locator('nav[aria-label="Main"] a').all_inner_texts()]
