"""Signing in as each role: where people land, what the frame shows, and which pages they may open."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    OPERATOR_ADMIN_NAV,
    OPS_MANAGER_NAV,
    REPORT_VIEWER_NAV,
    SUPERVISOR_NAV,
    TENANT_ADMIN_NAV,
    nav_links,
    sign_in,
)
from tests.conftest import LiveServer
from tests.factories import PASSWORD, make_agent, make_staff, make_tenant, make_tenant_user

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Expected:
    role_label: str
    landing: str
    nav: list[str]
    acting: str | None  # the tenant name in the top bar; None: the operator's switcher


ROLES = {
    "operator_admin": Expected("Operator admin", "/", OPERATOR_ADMIN_NAV, None),
    "ops_manager": Expected("Ops manager", "/", OPS_MANAGER_NAV, None),
    "tenant_admin": Expected("Tenant admin", "/", TENANT_ADMIN_NAV, "tenant"),
    "supervisor": Expected("Supervisor", "/", SUPERVISOR_NAV, "tenant"),
    "report_viewer": Expected("Report viewer", "/", REPORT_VIEWER_NAV, "tenant"),
    "agent": Expected("Agent", "/agent", ["Home"], "Shared agent pool"),
}

# A page outside each role's navigation, which must answer with the readable 403 page.
FORBIDDEN = {
    "ops_manager": "/operator/staff",
    "tenant_admin": "/tenants",
    "supervisor": "/api-clients",
    "report_viewer": "/users",
    "agent": "/audit",
}


@pytest.mark.parametrize("role", list(ROLES))
async def test_each_role_lands_home_and_sees_only_its_pages(page: Page, live_server: LiveServer, role: str) -> None:
    tenant = await make_tenant("nav")
    expected = ROLES[role]
    if role in ("operator_admin", "ops_manager"):
        email = (await make_staff(role)).email
    elif role == "agent":
        agent = await make_agent(tenant.id)
        email = agent.email
    else:
        email = (await make_tenant_user(tenant.id, role)).email

    await sign_in(page, email)

    assert page.url == live_server.url + expected.landing
    assert await nav_links(page) == expected.nav
    await expect(page.locator("#person-role")).to_have_text(expected.role_label)
    if expected.acting is None:
        switcher = page.locator("#tenant-switcher")
        await expect(switcher.locator("option:checked")).to_have_text("All tenants")
        await expect(switcher.locator(f'option[value="{tenant.id}"]')).to_have_text(tenant.name)
    else:
        acting = tenant.name if expected.acting == "tenant" else expected.acting
        await expect(page.locator("#acting-tenant")).to_have_text(acting)
    if role == "agent":
        await expect(page.get_by_role("cell", name=tenant.name)).to_be_visible()
        await expect(page.get_by_role("heading", name="Agent desktop")).to_be_visible()

    if role in FORBIDDEN:
        response = await page.goto(FORBIDDEN[role])
        assert response is not None and response.status == 403
        await expect(page.get_by_role("heading", name="You don't have access to this page")).to_be_visible()
        # The frame stays: still signed in, same navigation.
        assert await nav_links(page) == expected.nav


async def test_wrong_password_and_throttling_are_explained(page: Page) -> None:
    tenant = await make_tenant("pw")
    user = await make_tenant_user(tenant.id, "supervisor")

    await page.goto("/login")
    await page.get_by_label("Email").fill(user.email)
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    # The email stays typed in; the password does not.
    await expect(page.get_by_label("Email")).to_have_value(user.email)
    await expect(page.get_by_label("Password")).to_have_value("")

    for _ in range(5):
        await page.get_by_label("Password").fill("still-not-the-password")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_load_state()
    await expect(page.locator("#login-error")).to_have_text(
        re.compile(r"^Too many failed sign-in attempts\. Try again in \d+ seconds\.$")
    )
    # Even the right password waits until the window has passed.
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login-error")).to_contain_text("Too many failed sign-in attempts")


async def test_pages_send_strangers_to_sign_in_and_back(page: Page, live_server: LiveServer) -> None:
    staff = await make_staff("ops_manager")
    response = await page.goto("/tenants?status=active")
    assert response is not None
    assert page.url == live_server.url + "/login?next=%2Ftenants%3Fstatus%3Dactive"
    await page.get_by_label("Email").fill(staff.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(live_server.url + "/tenants?status=active")
    await expect(page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()

    # The API keeps answering programs with problem details, not pages.
    await page.context.clear_cookies()
    api = await page.request.get("/api/v1/tenants")
    assert api.status == 401
    assert api.headers["content-type"].startswith("application/problem+json")

    # Signing out ends the session: the next page asks to sign in again.
    await sign_in(page, staff.email)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await page.goto("/tenants")
    assert page.url.startswith(live_server.url + "/login?next=")


async def test_sso_errors_and_expired_forms_read_as_sentences(page: Page) -> None:
    await page.goto("/login?error=sso_domain_not_allowed")
    await expect(page.locator("#login-error")).to_have_text(
        "Your email address is not in a domain this organisation allows."
    )
    await page.goto("/login?error=something-new")
    await expect(page.locator("#login-error")).to_contain_text("Single sign-on did not complete")
    # The SSO form starts the flow for a tenant's short name.
    await expect(page.locator('form[action="/sso/start"] input[name="tenant"]')).to_be_visible()

    # A sign-in form whose session (and CSRF token) is gone says so instead of failing obscurely.
    await page.goto("/login")
    await page.context.clear_cookies()
    await page.get_by_label("Email").fill("someone@example.com")
    await page.get_by_label("Password").fill("whatever-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login-error")).to_have_text("This sign-in form had expired. Please sign in again.")


async def test_person_in_several_tenants_picks_one(page: Page) -> None:
    first = await make_tenant("alpha")
    second = await make_tenant("beta")
    user = await make_tenant_user(first.id, "supervisor")
    await make_tenant_user(second.id, "report_viewer", email=user.email)

    await sign_in(page, user.email)
    await expect(page.get_by_role("heading", name="Choose an organisation")).to_be_visible()
    await page.get_by_role("button", name=re.compile(second.name)).click()
    await expect(page.locator("#acting-tenant")).to_have_text(second.name)
    await expect(page.locator("#person-role")).to_have_text("Report viewer")
    assert await nav_links(page) == REPORT_VIEWER_NAV

    # "Change" goes back to the choice; the other tenant gives the other role.
    await page.get_by_role("link", name="Change").click()
    await page.get_by_role("button", name=re.compile(first.name)).click()
    await expect(page.locator("#acting-tenant")).to_have_text(first.name)
    assert await nav_links(page) == SUPERVISOR_NAV
