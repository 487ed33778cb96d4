"""The operator's pages: tenants, the tenant switcher, tenant users, staff, the agent pool, the audit log."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import ARTIFACTS, OPERATOR_ADMIN_NAV, TENANT_ADMIN_PAGES, nav_links, sign_in
from tests.conftest import LiveServer
from tests.factories import make_agent, make_staff, make_tenant

pytestmark = pytest.mark.browser


def _suffix() -> str:
    return uuid.uuid4().hex[:6]


async def test_operator_creates_tenant_switches_to_it_and_adds_a_user(page: Page, live_server: LiveServer) -> None:
    admin = await make_staff("operator_admin")
    await sign_in(page, admin.email)
    slug = f"harbor-{_suffix()}"
    name = f"Harbor Insurance {slug[-6:]}"

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Tenants").click()
    await expect(page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()
    # The API's rules, shown next to the fields: a slug with capitals and spaces is refused.
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Short name (slug)").fill("Harbor Insurance")
    await page.get_by_label("Time zone").fill("Mars/Olympus")
    await page.get_by_role("button", name="Create tenant").click()
    await expect(page.locator("#new-slug-error")).to_have_text("Must be lowercase letters, digits and dashes.")
    await expect(page.get_by_label("Name", exact=True)).to_have_value(name)
    # The time zone is the service's check; it reports once the struct's rules pass.
    await page.get_by_label("Short name (slug)").fill(slug)
    await page.get_by_role("button", name="Create tenant").click()
    await expect(page.locator("#new-timezone-error")).to_have_text("Unknown IANA time zone 'Mars/Olympus'.")
    await page.get_by_label("Time zone").fill("Europe/Lisbon")
    await page.get_by_role("button", name="Create tenant").click()

    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    await expect(page.get_by_text(f"Tenant {name} created.")).to_be_visible()
    tenant_url = page.url
    assert re.search(r"/tenants/[0-9a-f-]{36}$", tenant_url)

    # The switcher acts for the new tenant: its pages join the navigation.
    await page.locator("#tenant-switcher").select_option(label=name)
    await page.wait_for_url(live_server.url + "/")
    await expect(page.locator("#tenant-switcher option:checked")).to_have_text(name)
    # Acting for a tenant, the operator keeps its own pages and gets the tenant's.
    assert await nav_links(page) == [*OPERATOR_ADMIN_NAV, *TENANT_ADMIN_PAGES]
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    await expect(page.locator("#no-users")).to_have_text("No users yet.")

    await page.get_by_label("Name", exact=True).fill("Hanna Admin")
    await page.get_by_label("Email").fill("not-an-email")
    await page.get_by_label("Role", exact=True).select_option(label="Tenant admin")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Add user").click()
    await expect(page.locator("#new-email-error")).to_have_text("Must be an email address such as name@example.com.")
    await expect(page.locator("#new-password-error")).to_have_text("Must be at least 12 characters.")
    email = f"hanna-{_suffix()}@harbor.example"
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("a-long-enough-password")
    await page.get_by_role("button", name="Add user").click()
    await expect(page.get_by_text(f"Hanna Admin ({email}) added.")).to_be_visible()
    row = page.locator("#rows tr", has_text=email)
    await expect(row).to_have_count(1)
    await expect(row.get_by_label("Role of Hanna Admin")).to_have_value("tenant_admin")

    # Switching while on a tenant page stays on that page for the newly chosen tenant.
    other = await make_tenant("other")
    await page.reload()
    await page.locator("#tenant-switcher").select_option(value=str(other.id))
    await page.wait_for_url(live_server.url + "/users")
    await expect(page.locator("#no-users")).to_be_visible()
    # Back to all tenants: the tenant pages leave the navigation.
    await page.locator("#tenant-switcher").select_option(label="All tenants")
    await page.wait_for_url(live_server.url + "/")
    assert await nav_links(page) == OPERATOR_ADMIN_NAV

    # The operator's audit log, filtered to the new tenant, shows what just happened there.
    await page.goto("/operator/audit")
    await page.get_by_label("Tenant", exact=True).select_option(label=name)
    await page.get_by_role("button", name="Filter").click()
    audit_rows = page.locator("#rows tr")
    await expect(audit_rows.filter(has_text="user.created")).to_have_count(1)
    await expect(audit_rows.filter(has_text="tenant.created")).to_have_count(1)
    await expect(audit_rows.filter(has_text="user.created")).to_contain_text(admin.display_name)

    # Screenshot of the tenants page for a person to look at (test-artifacts/ is not committed).
    await page.goto("/tenants")
    await expect(page.get_by_role("link", name=name)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "operator-tenants.png"), full_page=True)


async def test_operator_changes_settings_and_lifecycle_of_a_tenant(page: Page) -> None:
    admin = await make_staff("operator_admin")
    tenant = await make_tenant("life")
    await sign_in(page, admin.email)
    await page.goto(f"/tenants/{tenant.id}")

    await page.get_by_label("Monday").fill("8-17")
    await page.get_by_label("Holidays").fill("2026-12-25\n25/12/2026")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#set-hours_mon-error")).to_contain_text("HH:MM-HH:MM")
    await expect(page.locator("#set-holidays-error")).to_have_text("Must be dates as YYYY-MM-DD, e.g. 2026-12-25.")
    await page.get_by_label("Monday").fill("17:00-08:00")
    await page.get_by_label("Holidays").fill("2026-12-25")
    await page.get_by_role("button", name="Save settings").click()
    # The service's own check (start before end) lands next to the day it is about.
    await expect(page.locator("#set-hours_mon-error")).to_contain_text("start must be before end")
    await page.get_by_label("Monday").fill("08:00-12:00, 13:00-17:00")
    await page.get_by_label("Friday").fill("08:00-15:00")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text("Settings saved.")).to_be_visible()
    await expect(page.get_by_label("Monday")).to_have_value("08:00-12:00, 13:00-17:00")
    await expect(page.get_by_label("Tuesday")).to_have_value("")
    await expect(page.get_by_label("Holidays")).to_have_value("2026-12-25")

    await page.get_by_role("button", name="Suspend tenant").click()
    await expect(page.locator("#alerts")).to_contain_text("is suspended")
    await expect(page.locator("h1 .badge")).to_have_text("suspended")
    await page.get_by_role("button", name="Reactivate tenant").click()
    await expect(page.locator("h1 .badge")).to_have_text("active")

    # Deleting asks for the slug, typed exactly.
    await page.get_by_label(f"Type {tenant.slug} to confirm").fill("wrong")
    await page.get_by_role("button", name="Delete tenant").click()
    await expect(page.locator("#del-confirm_slug-error")).to_have_text(f"Type {tenant.slug} exactly to confirm.")
    await page.get_by_label(f"Type {tenant.slug} to confirm").fill(tenant.slug)
    await page.get_by_role("button", name="Delete tenant").click()
    await expect(page.locator("#alerts")).to_contain_text("is being deleted")
    await expect(page.locator("#rows tr", has_text=tenant.slug).locator(".badge")).to_have_text("deleting")


async def test_operator_manages_staff_and_the_agent_pool(page: Page) -> None:
    admin = await make_staff("operator_admin")
    tenant = await make_tenant("pool")
    await sign_in(page, admin.email)

    await page.goto("/operator/staff")
    email = f"olga-{_suffix()}@operator.example"
    await page.get_by_label("Name", exact=True).fill("Olga Ops")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Role", exact=True).select_option(label="Ops manager")
    await page.get_by_label("Password").fill("ops-manager-password")
    await page.get_by_role("button", name="Add staff").click()
    await expect(page.locator("#rows tr", has_text=email)).to_contain_text("Ops manager")

    await page.goto("/operator/agents")
    code = f"A-{_suffix()}"
    side = page.locator("article.side")
    await side.get_by_label("Name", exact=True).fill("Pia Pool")
    await side.get_by_label("Email").fill(f"pia-{code.lower()}@operator.example")
    await side.get_by_label("Employee code").fill(code)
    await side.get_by_label("Password").fill("agent-password-long")
    await page.get_by_role("button", name="Add agent").click()
    await expect(page.get_by_text(f"Agent Pia Pool ({code}) added to the pool.")).to_be_visible()

    row = page.locator("#rows tr", has_text=code)
    await row.get_by_role("button", name="Assign").click()
    row = page.locator("#rows tr", has_text=code)
    await expect(row.locator(".field-error").first).to_have_text("Required.")
    await row.get_by_label("Tenant").select_option(value=str(tenant.id))
    await row.get_by_label("Alias").fill("Pia")
    await row.get_by_label("Dedicated").check()
    await row.get_by_role("button", name="Assign").click()
    await expect(page.get_by_text(f"Assigned to {tenant.name} as Pia (dedicated")).to_be_visible()
    row = page.locator("#rows tr", has_text=code)
    await expect(row.locator(".assignments")).to_contain_text(f"{tenant.name}: Pia")
    await expect(row.locator(".assignments mark.dedicated")).to_have_text("dedicated")

    # Settings: a refused value comes back next to its field, in the form left open.
    await expect(row.locator(".chats")).to_have_text("voice only")
    await expect(row.locator(".status")).to_have_text("active")
    await row.get_by_text("Edit", exact=True).click()
    await row.get_by_label("Chat capacity").fill("12")
    await row.get_by_role("button", name="Save").click()
    row = page.locator("#rows tr", has_text=code)
    await expect(row.locator(".agent-settings .field-error")).to_have_text("Must be at most 10.")
    await expect(row.get_by_label("Chat capacity")).to_have_value("12")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "operator-agent-settings-refused.png"), full_page=True)
    await row.get_by_label("Site").fill("Porto")
    await row.get_by_label("Chat capacity").fill("3")
    await row.get_by_label("Active").uncheck()
    await row.get_by_role("button", name="Save").click()
    await expect(page.get_by_text(f"Saved Pia Pool ({code}): up to 3 chats, inactive.")).to_be_visible()
    row = page.locator("#rows tr", has_text=code)
    await expect(row.locator(".chats")).to_have_text("up to 3 chats")
    await expect(row.locator(".status")).to_have_text("inactive")
    await expect(row.locator(".site")).to_have_text("Porto")
    # An inactive agent keeps the tenants it works for.
    await expect(row.locator(".assignments")).to_contain_text(f"{tenant.name}: Pia")

    await row.get_by_role("button", name=f"Take Pia Pool off {tenant.name}").click()
    await expect(page.get_by_text(f"Taken off {tenant.name}.")).to_be_visible()
    await expect(page.locator("#rows tr", has_text=code).locator(".assignments")).to_have_count(0)

    # Agents made elsewhere show their tenants too.
    agent = await make_agent(tenant.id)
    await page.reload()
    await expect(page.locator("#rows tr", has_text=agent.employee_code).locator(".assignments")).to_contain_text(
        tenant.name
    )
