"""Routing configuration in the browser: queues, phone numbers, agents' skills and attributes."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Dialog, Page, expect

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.routing import schemas, service
from app.telephony import schemas as telephony_schemas
from app.telephony import service as telephony
from tests.browser.conftest import ARTIFACTS, nav_links, sign_in
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_agent, make_staff, make_tenant, make_tenant_user, provision_number

pytestmark = pytest.mark.browser


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


async def _nav(page: Page, name: str) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


async def test_tenant_admin_builds_queues_and_routes_a_number(page: Page) -> None:
    tenant = await make_tenant("queues")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    await sign_in(page, admin.email)
    # Tenant admins manage queues and numbers, and read agents' skills (other pages come and go around them).
    assert {"Agent skills", "Queues", "Phone numbers"} <= set(await nav_links(page))

    # A plain queue first, to overflow to later.
    await _nav(page, "Queues")
    await expect(page.get_by_text("No queues yet.")).to_be_visible()
    await page.get_by_role("button", name="New queue").click()
    await page.get_by_label("Name", exact=True).fill("General")
    await page.get_by_role("button", name="Create queue").click()
    await expect(page.locator("#alerts")).to_contain_text("Queue General created.")

    # The billing queue: skills with proficiencies, a hard language, a relaxation step.
    await page.get_by_role("button", name="New queue").click()
    await page.get_by_label("Name", exact=True).fill("Billing")
    await page.get_by_role("button", name="Add skill").click()
    await page.get_by_label("Skill 1", exact=True).fill("Billing Desk")
    await page.get_by_label("Proficiency 1", exact=True).select_option("3")
    await page.get_by_role("button", name="Add skill").click()
    # The new row is focused, and what was typed in the first one stayed.
    await expect(page.get_by_label("Skill 2", exact=True)).to_be_focused()
    await expect(page.get_by_label("Skill 1", exact=True)).to_have_value("Billing Desk")
    await page.get_by_label("Skill 2", exact=True).fill("sales")
    await page.get_by_role("button", name="Add requirement").click()
    await page.get_by_label("Requirement 1 kind").select_option("language")
    await page.get_by_label("Requirement 1 value").fill("FR")
    await page.get_by_label("Priority").fill("200")
    await page.get_by_role("button", name="Create queue").click()
    # The API's rules, next to the row and the field they are about; nothing typed is lost.
    await expect(page.locator("#skills-0-skill-error")).to_have_text(re.compile(r"^Must be lowercase letters, digits"))
    await expect(page.locator("#q-priority-error")).to_have_text("Must be at most 100.")
    await expect(page.get_by_label("Requirement 1 value")).to_have_value("FR")

    await page.get_by_label("Skill 1", exact=True).fill("billing")
    await page.get_by_label("Priority").fill("10")
    await page.get_by_role("button", name="Remove skill 2").click()
    await expect(page.get_by_label("Skill 2", exact=True)).to_have_count(0)
    # A new step starts as a copy of the ring before it; asking more than that ring is refused by the service.
    await page.get_by_role("button", name="Add relaxation step").click()
    await expect(page.get_by_label("Step 1 · Skill 1", exact=True)).to_have_value("billing")
    await page.get_by_label("Step 1: after (seconds)").fill("30")
    await page.get_by_label("Step 1 · Proficiency 1", exact=True).select_option("5")
    await page.get_by_role("button", name="Create queue").click()
    await expect(page.locator("#relaxation-0-skills-error")).to_contain_text("billing asks more than before")
    await page.get_by_label("Step 1 · Proficiency 1", exact=True).select_option("1")
    await page.get_by_role("button", name="Create queue").click()
    await expect(page.locator("#alerts")).to_contain_text("Queue Billing created.")

    row = page.locator("#rows tr", has_text="Billing")
    await expect(row).to_contain_text("80% in 20 s")
    await expect(row).to_contain_text("billing ≥ 3")
    await expect(row).to_contain_text("language: fr")
    await expect(row).to_contain_text("1 relaxation step")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "queues.png"), full_page=True)

    # Edit: overflow to General after a minute, a maximum wait and wrap-up.
    await row.get_by_role("link", name="Billing").click()
    await expect(page.get_by_label("Skill 1", exact=True)).to_have_value("billing")
    await expect(page.get_by_label("Step 1: after (seconds)")).to_have_value("30")
    await page.get_by_label("Overflow to queue").select_option(label="General")
    await page.get_by_role("button", name="Save queue").click()
    await expect(page.locator("#q-overflow_after_seconds-error")).to_have_text(
        "Overflow needs both a target queue and a time."
    )
    await page.get_by_label("Overflow after (seconds)").fill("60")
    await page.get_by_label("Maximum wait (seconds)").fill("300")
    await page.get_by_label("Wrap-up (seconds)").fill("45")
    await page.get_by_role("button", name="Save queue").click()
    await expect(page.locator("#alerts")).to_contain_text("Queue Billing saved.")
    row = page.locator("#rows tr", has_text="Billing")
    await expect(row).to_contain_text("to General after 60 s")
    await expect(row).to_contain_text("300 s")
    await expect(row).to_contain_text("45 s")

    # A phone number: a bad one, or one the operator has not provisioned to the tenant, is explained next to
    # the field; then a provisioned one routes to Billing.
    number = (await provision_number(tenant.id)).number
    await _nav(page, "Phone numbers")
    await page.get_by_label("Number").fill("020 7183 8750")
    await page.get_by_label("Calls go to").select_option(label="Billing")
    await page.get_by_role("button", name="Add number").click()
    await expect(page.locator("#new-number-error")).to_have_text(
        "Not a valid phone number in international form (E.164), e.g. +442071838750."
    )
    await expect(page.get_by_label("Number")).to_have_value("020 7183 8750")
    await page.get_by_label("Number").fill("+1 415 555 2671")
    await page.get_by_role("button", name="Add number").click()
    await expect(page.locator("#new-number-error")).to_have_text(
        re.compile("not provisioned to this tenant", re.IGNORECASE)
    )
    await page.get_by_label("Number").fill(f"+44 20 {number[5:9]} {number[9:]}")
    await page.get_by_label("Label").fill("UK billing")
    await page.get_by_role("button", name="Add number").click()
    await expect(page.locator("#alerts")).to_contain_text(f"{number} added: its calls go to Billing.")
    number_row = page.locator("#rows tr", has_text=number)
    await expect(number_row.locator("select option:checked")).to_have_text("Billing")
    await expect(number_row).to_contain_text("UK billing")

    # Billing cannot go while the number routes there: the service's reason, readable.
    await _nav(page, "Queues")
    await page.locator("#rows").get_by_role("link", name="Billing").click()
    page.once("dialog", _accept)
    await page.get_by_role("button", name="Delete queue").click()
    await expect(page.locator("#alerts")).to_have_text(
        f"Billing was not deleted. Phone numbers {number} route to this queue; move them first."
    )
    # General is Billing's overflow target: refused as well.
    await _nav(page, "Queues")
    await page.locator("#rows").get_by_role("link", name="General").click()
    page.once("dialog", _accept)
    await page.get_by_role("button", name="Delete queue").click()
    await expect(page.locator("#alerts")).to_contain_text("Queues Billing overflow to this queue; change them first.")

    # Pointing the number elsewhere is done in its row (htmx), to a queue or an entry point: then nothing
    # refers to Billing.
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            general = next(q for q, name, _ in await service.queue_choices(session) if name == "General")
            entry_point = telephony_schemas.EntryPointCreate(name="Main line", default_queue_id=general)
            await telephony.create_entry_point(session, entry_point)
    await _nav(page, "Phone numbers")
    for target in ("General", "Main line"):
        number_row = page.locator("#rows tr", has_text=number)
        await number_row.get_by_label(f"Where calls to {number} go").select_option(label=target)
        async with page.expect_response(lambda response: response.url.endswith("/target")):
            await number_row.get_by_role("button", name="Change").click()
        await expect(page.locator("#rows tr", has_text=number).locator(".saved")).to_have_text("Saved")
    await page.reload()
    await expect(page.locator("#rows tr", has_text=number).locator("select option:checked")).to_have_text("Main line")
    await _nav(page, "Queues")
    await page.locator("#rows").get_by_role("link", name="Billing").click()
    page.once("dialog", _accept)
    await page.get_by_role("button", name="Delete queue").click()
    await expect(page.locator("#alerts")).to_contain_text("Queue Billing deleted.")
    await expect(page.locator("#rows tr")).to_have_count(1)

    # Skills are the operator's to set: the tenant admin reads them.
    await make_agent(tenant.id)
    await _nav(page, "Agent skills")
    await expect(page.locator("#rows tr")).to_have_count(1)
    await page.locator("#rows").get_by_role("link", name="Agent").click()
    await expect(page.get_by_text("The operator sets its agents' skills and certifications.")).to_be_visible()
    await expect(page.get_by_role("button", name="Set skill")).to_have_count(0)


async def test_a_stale_edit_shows_the_conflict_and_keeps_what_was_typed(page: Page) -> None:
    tenant = await make_tenant("stale")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            queue = await service.create_queue(session, schemas.QueueCreate(name="Claims", skills={"claims": 2}))
            queue_id = queue.id
    await sign_in(page, admin.email)
    await page.goto(f"/queues/{queue_id}")
    await page.get_by_label("Name", exact=True).fill("Claims desk")
    await page.get_by_label("Wrap-up (seconds)").fill("30")

    # Meanwhile someone else raises the priority and the skill's level.
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            changes = schemas.QueueUpdate(priority=7, skills={"claims": 4})
            await service.update_queue(session, queue_id, changes, if_match=1)

    await page.get_by_role("button", name="Save queue").click()
    await expect(page.locator(".alert-error")).to_contain_text(
        "Someone else saved this queue while you were editing it; it is now version 2."
    )
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Claims desk")
    await expect(page.locator("hgroup p")).to_contain_text("Version 2 ·")
    await expect(page.get_by_label("Wrap-up (seconds)")).to_have_value("30")
    # Where the saved queue differs, the saved value is shown beside what is in the form.
    await expect(page.locator("#q-priority-help")).to_have_text("Saved meanwhile: 7")
    await expect(page.locator("#q-name-help")).to_have_text("Saved meanwhile: Claims")
    await expect(page.get_by_text("Saved meanwhile: claims ≥ 4")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "queue-stale-edit.png"), full_page=True)

    # Saving again (Enter in a field saves the whole form) replaces the saved queue knowingly.
    await page.get_by_label("Priority").fill("7")
    await page.get_by_label("Priority").press("Enter")
    await expect(page.locator("#alerts")).to_contain_text("Queue Claims desk saved.")
    row = page.locator("#rows tr", has_text="Claims desk")
    await expect(row.locator("td").nth(2)).to_have_text("7")
    await expect(row).to_contain_text("30 s")
    await expect(row).to_contain_text("claims ≥ 2")


async def test_operator_sets_an_agents_skills_and_attributes_for_a_tenant(page: Page, live_server: LiveServer) -> None:
    tenant = await make_tenant("skills")
    await make_agent(tenant.id)
    ops = await make_staff("ops_manager")
    await sign_in(page, ops.email)
    await page.locator("#tenant-switcher").select_option(label=tenant.name)
    await page.wait_for_url(live_server.url + "/")
    await _nav(page, "Agent skills")
    await expect(page.locator("#rows tr")).to_contain_text("None")
    await page.locator("#rows").get_by_role("link", name="Agent").click()

    await page.get_by_label("Skill", exact=True).fill("Billing!")
    await page.get_by_role("button", name="Set skill").click()
    await expect(page.locator("#skill-skill-error")).to_have_text(re.compile(r"^Must be lowercase letters, digits"))
    await page.get_by_label("Skill", exact=True).fill("billing")
    await page.get_by_label("Proficiency").select_option("4")
    await page.get_by_role("button", name="Set skill").click()
    await expect(page.locator("#alerts")).to_contain_text("Agent: billing set to 4.")
    await page.get_by_label("Skill", exact=True).fill("sales")
    await page.get_by_role("button", name="Set skill").click()
    await expect(page.locator("#skills tbody tr")).to_have_count(2)

    await page.get_by_label("Kind").select_option("certification")
    await page.get_by_label("Value").fill("no spaces allowed")
    await page.get_by_role("button", name="Add attribute").click()
    await expect(page.locator("#attr-value-error")).to_contain_text("Must be a language tag (fr, pt-BR)")
    await page.get_by_label("Value").fill("PCI-DSS")
    await page.get_by_label("Valid until").fill("2020-06-30")
    await page.get_by_role("button", name="Add attribute").click()
    await expect(page.locator("#alerts")).to_contain_text("Agent: certification pci-dss added.")
    await expect(page.locator("#attributes")).to_contain_text("2020-06-30 expired")

    await page.get_by_role("button", name="Remove skill sales").click()
    await expect(page.locator("#alerts")).to_contain_text("Agent: sales taken off.")
    await _nav(page, "Agent skills")
    row = page.locator("#rows tr", has_text="Agent")
    await expect(row).to_contain_text("billing 4/5")
    await expect(row).to_contain_text("certification: pci-dss")
    await expect(row).not_to_contain_text("sales")
