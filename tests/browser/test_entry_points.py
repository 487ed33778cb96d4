"""Entry points and the operator's number registry in the browser."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Dialog, Page, expect

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.telephony import schemas, service
from tests.browser.conftest import ARTIFACTS, nav_links, sign_in
from tests.factories import OPERATOR, make_staff, make_tenant, make_tenant_user, provision_number

pytestmark = pytest.mark.browser


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


async def _nav(page: Page, name: str) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


async def _queues(tenant_id: uuid.UUID, *names: str) -> dict[str, uuid.UUID]:
    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            created = [await routing.create_queue(session, routing_schemas.QueueCreate(name=name)) for name in names]
            return {queue.name: queue.id for queue in created}


async def test_tenant_admin_builds_an_entry_point_and_sends_a_number_to_it(page: Page) -> None:
    tenant = await make_tenant("lines")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    await _queues(tenant.id, "Cards", "Loans")
    await sign_in(page, admin.email)
    assert {"Queues", "Entry points", "Phone numbers"} <= set(await nav_links(page))

    await _nav(page, "Entry points")
    await expect(page.get_by_text("No entry points yet.")).to_be_visible()
    await page.get_by_role("button", name="New entry point").click()
    await page.get_by_label("Name", exact=True).fill("Main line")
    await page.get_by_label("Greeting").fill("Welcome to the bank.")
    # A language step: each new row takes the next free key and is focused; what was typed stays.
    await page.get_by_role("button", name="Add language").click()
    await expect(page.get_by_label("Language 1 key")).to_be_focused()
    await expect(page.get_by_label("Language 1 key")).to_have_value("1")
    await page.get_by_label("Language 1 tag").fill("nb")
    await page.get_by_label("Language 1 prompt").fill("For norsk, trykk 1")
    await page.get_by_role("button", name="Add language").click()
    await expect(page.get_by_label("Language 1 tag")).to_have_value("nb")
    await expect(page.get_by_label("Language 2 key")).to_have_value("2")
    await page.get_by_label("Language 2 tag").fill("en")
    await page.get_by_label("Language 2 prompt").fill("For English, press 2")
    # The menu: a key per voice queue.
    for n, queue in ((1, "Cards"), (2, "Loans")):
        await page.get_by_role("button", name="Add menu choice").click()
        await page.get_by_label(f"Menu {n} queue").select_option(label=queue)
        await page.get_by_label(f"Menu {n} prompt").fill(f"For {queue.lower()}, press {n}")
    await page.get_by_label("Default queue").select_option(label="Cards")
    await page.get_by_label("Attempts").fill("7")
    await page.get_by_label("Closed action").select_option("callback")
    await page.get_by_role("button", name="Create entry point").click()
    await expect(page.locator("#ep-max_attempts-error")).to_have_text("Must be at most 5.")
    await expect(page.get_by_label("Menu 2 prompt")).to_have_value("For loans, press 2")
    await page.get_by_label("Attempts").fill("2")
    await page.get_by_role("button", name="Create entry point").click()
    await expect(page.locator("#alerts")).to_contain_text("Entry point Main line created.")
    row = page.locator("#rows tr", has_text="Main line")
    for text in (
        "Welcome to the bank.",
        "1 nb",
        "2 en",
        "1 → Cards",
        "2 → Loans",
        "after 2 attempts",
        "Callback offer",
    ):
        await expect(row).to_contain_text(text)

    # Edit: a key taken twice is refused next to its row; then one language goes and the greeting changes.
    await row.get_by_role("link", name="Main line").click()
    await expect(page.get_by_label("Language 2 tag")).to_have_value("en")
    await page.get_by_label("Menu 2 key").fill("1")
    await page.get_by_role("button", name="Save entry point").click()
    await expect(page.locator("#menu-1-digit-error")).to_have_text("1 is already taken.")
    await page.get_by_label("Menu 2 key").fill("2")
    await page.get_by_role("button", name="Remove language 2").click()
    await expect(page.get_by_label("Language 2 tag")).to_have_count(0)
    await page.get_by_label("Greeting").fill("Velkommen.")
    await page.get_by_role("button", name="Save entry point").click()
    await expect(page.locator("#alerts")).to_contain_text("Entry point Main line saved.")
    row = page.locator("#rows tr", has_text="Main line")
    await expect(row).to_contain_text("Velkommen.")
    await expect(row).not_to_contain_text("2 en")

    # A number the operator provisioned to the tenant goes to the entry point, on the phone numbers page.
    number = (await provision_number(tenant.id)).number
    await _nav(page, "Phone numbers")
    await page.get_by_label("Number").fill(number)
    await page.get_by_label("Calls go to").select_option(label="Main line")
    await page.get_by_role("button", name="Add number").click()
    await expect(page.locator("#alerts")).to_contain_text(f"{number} added: its calls go to Main line.")
    await _nav(page, "Entry points")
    await expect(page.locator("#rows tr", has_text="Main line")).to_contain_text(number)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "entry-points.png"), full_page=True)

    # While the number sends calls there, the entry point stays, and the page says why.
    await page.locator("#rows").get_by_role("link", name="Main line").click()
    await expect(page.locator("#entry-point-numbers")).to_contain_text(f"Calls to {number} come here.")
    await page.screenshot(path=str(ARTIFACTS / "entry-point-form.png"), full_page=True)
    page.once("dialog", _accept)
    await page.get_by_role("button", name="Delete entry point").click()
    await expect(page.locator("#alerts")).to_have_text(
        f"Main line was not deleted. Phone numbers {number} send calls here; point them elsewhere first."
    )


async def test_a_stale_edit_shows_the_conflict_and_keeps_what_was_typed(page: Page) -> None:
    tenant = await make_tenant("lines-stale")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    queues = await _queues(tenant.id, "Orders", "Returns")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            entry_point = await service.create_entry_point(
                session, schemas.EntryPointCreate(name="Shop line", default_queue_id=queues["Orders"])
            )
            entry_point_id = entry_point.id
    await sign_in(page, admin.email)
    await page.goto(f"/entry-points/{entry_point_id}")
    await page.get_by_label("Greeting").fill("Thanks for calling.")

    # Meanwhile someone else adds a menu choice and offers callbacks when closed.
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            choice = schemas.MenuOption(digit="2", queue_id=queues["Returns"], prompt="Returns: 2")
            changes = schemas.EntryPointUpdate(menu_options=[choice], closed_action="callback")
            await service.update_entry_point(session, entry_point_id, changes, if_match=1)

    await page.get_by_role("button", name="Save entry point").click()
    await expect(page.locator(".alert-error")).to_contain_text(
        "Someone else saved this entry point while you were editing it; it is now version 2."
    )
    await expect(page.get_by_label("Greeting")).to_have_value("Thanks for calling.")
    await expect(page.locator("hgroup p")).to_contain_text("Version 2 ·")
    await expect(page.locator("#ep-closed_action-help")).to_have_text("Saved meanwhile: Play it, then offer a callback")
    await expect(page.locator("#ep-greeting-help")).to_have_text("Saved meanwhile: none")
    await expect(page.get_by_text("Saved meanwhile: 2: Returns (Returns: 2)")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "entry-point-stale-edit.png"), full_page=True)

    # Saving again replaces the saved entry point knowingly.
    await page.get_by_role("button", name="Save entry point").click()
    await expect(page.locator("#alerts")).to_contain_text("Entry point Shop line saved.")
    row = page.locator("#rows tr", has_text="Shop line")
    await expect(row).to_contain_text("Thanks for calling.")
    await expect(row).to_contain_text("Message")


async def test_operator_admin_provisions_and_releases_numbers(page: Page) -> None:
    tenant = await make_tenant("registry")
    queues = await _queues(tenant.id, "Support")
    staff = await make_staff("operator_admin")
    await sign_in(page, staff.email)
    await _nav(page, "Number registry")

    await page.get_by_label("Number").fill("12345")
    await page.get_by_label("Tenant").select_option(str(tenant.id))
    await page.get_by_role("button", name="Provision number").click()
    await expect(page.locator("#new-number-error")).to_have_text(
        "Not a valid phone number in international form (E.164), e.g. +442071838750."
    )
    # Names need not be unique across tenants; the choice is by id, and it stayed.
    await expect(page.get_by_label("Tenant")).to_have_value(str(tenant.id))
    number = (await provision_number(tenant.id)).number
    await page.get_by_label("Number").fill(number)
    await page.get_by_role("button", name="Provision number").click()
    await expect(page.locator("#new-number-error")).to_have_text(f"{number} is already provisioned.")
    fresh = f"+4721{number[-6:]}"
    await page.get_by_label("Number").fill(f"+47 21 {fresh[5:7]} {fresh[7:9]} {fresh[9:]}")
    await page.get_by_role("button", name="Provision number").click()
    await expect(page.locator("#alerts")).to_contain_text(
        f"{fresh} provisioned to {tenant.name}, which may now map it."
    )
    await expect(page.locator("#rows tr", has_text=fresh)).to_contain_text("Not mapped")

    # The tenant maps the other number to its queue; releasing it says the mapping goes too, and it does.
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            await routing.create_phone_number(
                session, routing_schemas.PhoneNumberCreate(number=number, queue_id=queues["Support"])
            )
    await page.reload()
    row = page.locator("#rows tr", has_text=number)
    await expect(row).to_contain_text("Mapped")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "number-registry.png"), full_page=True)
    asked: list[str] = []

    async def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.once("dialog", confirm)
    await row.get_by_role("button", name=f"Release {number}").click()
    await expect(page.locator("#alerts")).to_contain_text(f"{number} released from {tenant.name}")
    assert asked == [
        f"Release {number} from {tenant.name}? {tenant.name} has mapped it: that mapping is removed too, "
        f"and calls to {number} no longer reach {tenant.name}."
    ]
    await expect(page.locator("#rows tr", has_text=number)).to_have_count(0)
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            mapped = await routing.list_phone_numbers(session, cursor=None, limit=10)
            assert mapped.items == []
