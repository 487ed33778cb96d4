"""A tenant admin's pages: API clients, users (inline with htmx), settings, SSO, the audit log, isolation."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Dialog, Page, expect

from app.core.db import get_database
from app.core.tenancy import acting_as
from tenants import service
from tests.browser.conftest import sign_in
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_agent, make_tenant, make_tenant_user

pytestmark = pytest.mark.browser


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


async def test_api_client_secret_is_shown_once_then_revoked_and_audited(page: Page) -> None:
    tenant = await make_tenant("crm")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    await sign_in(page, admin.email)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="API clients").click()
    await expect(page.get_by_text("No API clients yet.")).to_be_visible()

    await page.get_by_label("Name", exact=True).fill("Salesforce CRM")
    await page.get_by_role("button", name="Create client").click()
    await expect(page.locator("#new-scopes-error")).to_have_text("Choose at least one.")
    await page.get_by_role("checkbox", name=re.compile("agents:read")).check()
    await page.get_by_role("button", name="Create client").click()

    secret_box = page.locator("#new-secret")
    await expect(secret_box).to_contain_text("shown only this once")
    secret = (await page.locator("#client-secret").inner_text()).strip()
    client_id = (await page.locator("#client-id").inner_text()).strip()
    assert len(secret) >= 32
    await expect(secret_box.get_by_role("button", name="Copy")).to_be_visible()
    row = page.locator("#rows tr", has_text="Salesforce CRM")
    await expect(row).to_contain_text(client_id)
    await expect(row.locator(".badge")).to_have_text("active")

    # Never again: neither on the list nor anywhere in the page's HTML.
    await page.goto("/api-clients")
    await expect(page.locator("#new-secret")).to_have_count(0)
    assert secret not in await page.content()

    # Rotating shows the new secret once; the old one keeps working for the chosen overlap.
    row = page.locator("#rows tr", has_text="Salesforce CRM")
    await row.get_by_label("Old secret keeps working").select_option(label="old secret: 5 minutes")
    await row.get_by_role("button", name="Rotate secret").click()
    await expect(page.locator("#new-secret")).to_contain_text("New secret for Salesforce CRM")
    rotated = (await page.locator("#client-secret").inner_text()).strip()
    assert rotated != secret
    await expect(page.locator("#new-secret")).to_contain_text("The previous secret keeps working until")

    # Revoking asks first; dismissing keeps the client.
    row = page.locator("#rows tr", has_text="Salesforce CRM")
    await row.get_by_role("button", name="Revoke").click()  # the dialog is dismissed by default
    await expect(row.locator(".badge")).to_have_text("active")
    page.once("dialog", _accept)
    await row.get_by_role("button", name="Revoke").click()
    await expect(page.locator("#alerts")).to_contain_text("Salesforce CRM is revoked")
    row = page.locator("#rows tr", has_text="Salesforce CRM")
    await expect(row.locator(".badge")).to_have_text("revoked")
    await expect(row.get_by_role("button", name="Rotate secret")).to_have_count(0)

    # The audit log has what just happened, newest first.
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    actions = [a.strip() for a in await page.locator("#rows tr td:nth-child(3) code").all_inner_texts()]
    assert actions[:3] == ["api_client.revoked", "api_client.secret_rotated", "api_client.created"]
    await expect(page.locator("#rows tr").first).to_contain_text(admin.display_name)

    # One entry per page: "Older" appends the next entries in place (htmx), keeping the filter.
    await page.goto("/audit?limit=1&action=api_client.created")
    await expect(page.locator("#rows tr")).to_have_count(1)
    await expect(page.get_by_role("link", name="Older")).to_have_count(0)
    await page.goto("/audit?limit=1")
    await expect(page.locator("#rows tr")).to_have_count(1)
    await page.get_by_role("link", name="Older").click()
    await expect(page.locator("#rows tr")).to_have_count(2)
    await page.get_by_role("link", name="Older").click()
    await expect(page.locator("#rows tr")).to_have_count(3)
    assert page.url.endswith("/audit?limit=1")
    actions = [a.strip() for a in await page.locator("#rows tr td:nth-child(3) code").all_inner_texts()]
    assert actions == ["api_client.revoked", "api_client.secret_rotated", "api_client.created"]


async def test_another_tenants_pages_are_not_found(page: Page, live_server: LiveServer) -> None:
    mine = await make_tenant("mine")
    theirs = await make_tenant("theirs")
    admin = await make_tenant_user(mine.id, "tenant_admin")
    other_user = await make_tenant_user(theirs.id, "supervisor")
    await sign_in(page, admin.email)

    response = await page.goto(f"/tenants/{theirs.id}")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    await expect(page.get_by_text("No such tenant.")).to_be_visible()
    await expect(page.locator("#acting-tenant")).to_have_text(mine.name)

    # Another tenant's user is just as unknown here (no 403 that would confirm it exists).
    refused = await page.request.post(
        f"/users/{other_user.id}/role",
        form={"role": "tenant_admin", "_csrf": await page.locator('input[name="_csrf"]').first.input_value()},
    )
    assert refused.status == 404

    # Their own tenant's page opens.
    response = await page.goto(f"/tenants/{mine.id}")
    assert response is not None and response.status == 200
    await expect(page.get_by_role("heading", name=mine.name)).to_be_visible()

    response = await page.goto("/no-such-page")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


async def test_tenant_admin_changes_roles_inline_and_removes_people(page: Page) -> None:
    tenant = await make_tenant("team")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    colleague = await make_tenant_user(tenant.id, "supervisor")
    leaver = await make_tenant_user(tenant.id, "report_viewer")
    await make_agent(tenant.id)
    await sign_in(page, admin.email)
    await page.goto("/users")

    # The admin's own row offers no way to lock themselves out.
    own = page.locator("#rows tr", has_text=admin.email)
    await expect(own).to_contain_text("(you)")
    await expect(own.get_by_role("button")).to_have_count(0)

    row = page.locator(f"#user-{colleague.id}")
    await row.get_by_label(f"Role of {colleague.display_name}").select_option("report_viewer")
    await row.get_by_role("button", name="Change").click()
    # htmx swapped the row in place: no navigation, and a confirmation in the row.
    await expect(page.locator(f"#user-{colleague.id} .saved")).to_have_text("Saved")
    await page.reload()
    await expect(page.locator(f"#user-{colleague.id}").get_by_label(re.compile("Role of"))).to_have_value(
        "report_viewer"
    )

    # Someone else removed a person meanwhile: the inline change reports it in the alert area.
    ghost = await make_tenant_user(tenant.id, "supervisor")
    await page.reload()
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            await service.remove_tenant_user(session, ghost.id)
    await page.locator(f"#user-{ghost.id}").get_by_role("button", name="Change").click()
    await expect(page.locator("#alerts")).to_have_text("Page not found. No such user.")
    await expect(page.locator(f"#user-{ghost.id}")).to_have_count(1)

    page.once("dialog", _accept)
    await page.locator(f"#user-{leaver.id}").get_by_role("button", name="Remove").click()
    await expect(page.locator(f"#user-{leaver.id}")).to_have_count(0)
    await expect(page.locator("#alerts")).to_contain_text(f"{leaver.display_name} ({leaver.email}) removed")
    await page.reload()
    await expect(page.locator(f"#user-{leaver.id}")).to_have_count(0)

    # Agents appear by alias only.
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    await expect(page.locator("#rows tr")).to_have_count(1)
    await expect(page.locator("#rows tr")).to_contain_text("Agent")
    assert "@operator.example" not in await page.content()


async def test_tenant_admin_settings_and_sso_forms(page: Page) -> None:
    tenant = await make_tenant("prefs")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    await sign_in(page, admin.email)

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    await page.get_by_label("Name", exact=True).fill("")
    await page.get_by_label("Saturday").fill("10:00-14:00")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#set-name-error")).to_have_text("Required.")
    await page.get_by_label("Name", exact=True).fill("Prefs Renamed")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#alerts")).to_contain_text("Settings saved.")
    # The top bar follows the rename.
    await expect(page.locator("#acting-tenant")).to_have_text("Prefs Renamed")
    await expect(page.get_by_label("Saturday")).to_have_value("10:00-14:00")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="SSO").click()
    await expect(page.locator("#redirect-uri")).to_contain_text("/sso/callback")
    await page.get_by_label("Issuer URL").fill("http://idp.example.com")
    await page.get_by_label("Client id").fill("tenline")
    await page.get_by_label("Allowed email domains").fill("prefs.example\nnot a domain")
    await page.get_by_role("button", name="Save connection").click()
    await expect(page.locator("#sso-allowed_email_domains-error")).to_contain_text("domains such as example.com")
    await page.get_by_label("Allowed email domains").fill("prefs.example")
    await page.get_by_role("button", name="Save connection").click()
    # The service refuses a plain-HTTP issuer before calling it; the message is next to the field.
    await expect(page.locator("#sso-issuer-error")).to_contain_text("use https")
    await expect(page.get_by_label("Client id")).to_have_value("tenline")
