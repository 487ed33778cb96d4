"""The entry point pages and the operator's number registry page over real HTTP, for what the browser tests
leave out: who may use which page, another tenant's entry point, refused input, row buttons without htmx,
refused and stale deletes, and the registry's cross-tenant read being audited."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.telephony import schemas, service
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_staff, make_tenant, make_tenant_user, provision_number, sign_in

REGISTRY = "/operator/numbers"


@dataclass
class Tenant:
    id: uuid.UUID
    name: str
    admin: httpx.AsyncClient
    voice_queue_id: uuid.UUID
    chat_queue_id: uuid.UUID
    entry_point_id: uuid.UUID


async def _tenant(live_server: LiveServer) -> Tenant:
    tenant = await make_tenant("ep-pages")
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    with acting_as(OPERATOR.acting_for(tenant.id)):
        async with get_database().session() as session:
            voice = await routing.create_queue(session, routing_schemas.QueueCreate(name="Cards"))
            chat = await routing.create_queue(session, routing_schemas.QueueCreate(name="Chat", channel="chat"))
            entry_point = await service.create_entry_point(
                session, schemas.EntryPointCreate(name="Main line", default_queue_id=voice.id, greeting="Hello")
            )
            ids = voice.id, chat.id, entry_point.id
    return Tenant(
        id=tenant.id,
        name=tenant.name,
        admin=(await sign_in(live_server.url, admin.email)).client,
        voice_queue_id=ids[0],
        chat_queue_id=ids[1],
        entry_point_id=ids[2],
    )


@dataclass
class World:
    a: Tenant
    b: Tenant
    operator_admin: httpx.AsyncClient
    ops_manager: httpx.AsyncClient  # acting for tenant A


@pytest.fixture(scope="module")
async def world(live_server: LiveServer) -> AsyncIterator[World]:
    a, b = await _tenant(live_server), await _tenant(live_server)
    operator_admin = (await sign_in(live_server.url, (await make_staff("operator_admin")).email)).client
    ops_manager = (await sign_in(live_server.url, (await make_staff("ops_manager")).email)).client
    ops_manager.headers["Tenline-Tenant"] = str(a.id)
    world = World(a=a, b=b, operator_admin=operator_admin, ops_manager=ops_manager)
    yield world
    for client in (a.admin, b.admin, operator_admin, ops_manager):
        await client.aclose()


def _visible(html: str) -> str:
    """Visible text, roughly: tags dropped, whitespace squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _text(response: httpx.Response) -> str:
    return _visible(response.text)


def _error(response: httpx.Response, input_id: str) -> str:
    """The message shown under one input."""
    match = re.search(rf'<small id="{re.escape(input_id)}-error" class="field-error">([^<]*)</small>', response.text)
    assert match is not None, f"no error under {input_id}: {_text(response)[:1500]}"
    return match.group(1)


def _form(tenant: Tenant, **changes: str | list[str]) -> dict[str, str | list[str]]:
    """A valid entry point form (no rows), with some fields changed."""
    form: dict[str, str | list[str]] = {
        "name": f"Line {uuid.uuid4().hex[:6]}",
        "greeting": "",
        "default_queue_id": str(tenant.voice_queue_id),
        "max_attempts": "3",
        "closed_action": "message",
        "closed_message": "We are closed.",
    }
    return form | changes


async def test_who_may_open_and_post_which_page(live_server: LiveServer, world: World) -> None:
    a = world.a
    edit = f"/entry-points/{a.entry_point_id}"
    supervisor = await make_tenant_user(a.id, "supervisor")
    async with await sign_in(live_server.url, supervisor.email) as client:
        assert (await client.get("/entry-points")).status_code == 200
        # Supervisors read an entry point in its form, disabled, without the buttons that change it.
        page = await client.get(edit)
        assert page.status_code == 200 and '<fieldset class="bare" disabled>' in page.text
        assert "Save entry point" not in page.text and "Delete entry point" not in page.text
        assert (await client.get("/entry-points/new")).status_code == 403
        for path in ("/entry-points", edit, f"{edit}/delete"):
            assert (await client.post(path, data=_form(a))).status_code == 403, path
        # The registry is the operator's, though supervisors read their own tenant's numbers through the API.
        assert (await client.get(REGISTRY)).status_code == 403
    reports = await make_tenant_user(a.id, "report_viewer")
    async with await sign_in(live_server.url, reports.email) as client:
        assert (await client.get("/entry-points")).status_code == 403
        assert (await client.get(edit)).status_code == 403
    assert (await a.admin.get(REGISTRY)).status_code == 403
    assert (await a.admin.post(REGISTRY, data={"number": "+4721900999", "tenant_id": str(a.id)})).status_code == 403

    # An operator needs a tenant to act for before its entry points; acting for A, it manages them.
    assert (await world.operator_admin.get("/entry-points")).status_code == 403
    assert "Save entry point" in (await world.ops_manager.get(edit)).text

    # Ops managers read the registry; only operator admins provision and release.
    number = await provision_number(a.id)
    registry = await world.ops_manager.get(REGISTRY)
    assert registry.status_code == 200 and number.number in registry.text
    assert "Provision number" not in registry.text and "Release" not in registry.text
    provisioned = await world.ops_manager.post(REGISTRY, data={"number": "+4721900998", "tenant_id": str(a.id)})
    assert provisioned.status_code == 403
    assert (await world.ops_manager.post(f"{REGISTRY}/{number.id}/release")).status_code == 403
    assert "Provision number" in (await world.operator_admin.get(REGISTRY)).text


async def test_another_tenants_entry_point_is_not_found(world: World) -> None:
    b_page = f"/entry-points/{world.b.entry_point_id}"
    for client in (world.a.admin, world.ops_manager):  # A's admin, and an operator acting for A
        assert (await client.get(b_page)).status_code == 404
        assert (await client.post(b_page, data=_form(world.a, name="Taken over"))).status_code == 404
        assert (await client.post(f"{b_page}/delete", data={"version": "1"})).status_code == 404
    # B's voice queue in A's form: refused like a missing one, next to the field.
    refused = await world.a.admin.post(
        "/entry-points", data=_form(world.a, default_queue_id=str(world.b.voice_queue_id))
    )
    assert refused.status_code == 422 and _error(refused, "ep-default_queue_id") == "No such queue."
    with acting_as(OPERATOR.acting_for(world.b.id)):
        async with get_database().session() as session:
            entry_point = await service.get_entry_point(session, world.b.entry_point_id)
            assert (entry_point.name, entry_point.version) == ("Main line", 1)


async def test_refused_input_is_explained_next_to_each_field_and_row(world: World) -> None:
    a = world.a
    form = _form(
        a,
        name="",
        default_queue_id="",
        max_attempts="9",
        closed_message="",
        language_digit=["x", "2"],
        language_tag=["no spaces", "en"],
        language_prompt=["Norsk", ""],
        menu_digit=["1"],
        menu_queue=[""],
        menu_prompt=["For cards, press 1"],
    )
    refused = await a.admin.post("/entry-points", data=form)
    assert refused.status_code == 422
    assert _error(refused, "ep-name") == "Required."
    assert _error(refused, "ep-default_queue_id") == "Required."
    assert _error(refused, "ep-max_attempts") == "Must be at most 5."
    assert _error(refused, "ep-closed_message") == "Required."
    assert _error(refused, "languages-0-digit") == "Must be a key of the phone&#39;s keypad, 0-9."
    assert _error(refused, "languages-0-language").startswith("Must be a language tag (fr, pt-BR)")
    assert _error(refused, "languages-1-prompt") == "Required."
    assert _error(refused, "menu-0-queue") == "Required."
    # What was typed stays.
    assert 'id="languages-0-language" name="language_tag" value="no spaces"' in refused.text

    # The service's own refusals: a key taken twice, a chat queue, a name in use.
    duplicate = _form(
        a,
        name="Main line",
        menu_digit=["1", "1"],
        menu_queue=[str(a.voice_queue_id), str(a.voice_queue_id)],
        menu_prompt=["Cards", "Cards again"],
    )
    refused = await a.admin.post("/entry-points", data=duplicate)
    assert refused.status_code == 422 and _error(refused, "menu-1-digit") == "1 is already taken."
    refused = await a.admin.post("/entry-points", data={**duplicate, "menu_digit": ["1", "2"]})
    assert (
        refused.status_code == 422 and _error(refused, "ep-name") == "An entry point named &#39;Main line&#39; exists."
    )
    refused = await a.admin.post("/entry-points", data=_form(a, default_queue_id=str(a.chat_queue_id)))
    assert _error(refused, "ep-default_queue_id") == "An entry point takes calls: it needs a voice queue."

    # The registry's form: a bad number, a number held already, no tenant, a bad provider.
    taken = await provision_number(a.id)
    for values, field, message in (
        ({"number": "020 7183 8750", "tenant_id": str(a.id)}, "new-number", "Not a valid phone number"),
        ({"number": taken.number, "tenant_id": str(a.id)}, "new-number", f"{taken.number} is already provisioned."),
        ({"number": "+4721900997", "tenant_id": ""}, "new-tenant_id", "Required."),
        ({"number": "+4721900997", "tenant_id": str(a.id), "provider": "Big Carrier"}, "new-provider", "Must be the"),
    ):
        refused = await world.operator_admin.post(REGISTRY, data={"provider": "twilio", **values})
        assert refused.status_code == 422 and _error(refused, field).startswith(message), values
        assert f'value="{values["number"]}"' in refused.text


async def test_row_buttons_without_htmx(world: World) -> None:
    admin = world.a.admin
    form = _form(world.a, name="Rows", menu_digit=["1"], menu_queue=[str(world.a.voice_queue_id)], menu_prompt=["A"])
    # A row button shows the form again with one more row, taking the next free key; nothing is saved.
    added = await admin.post("/entry-points", data={**form, "rows": "add-menu"})
    assert added.status_code == 200
    assert re.search(r'id="menu-1-digit" name="menu_digit" value="2"[^>]* autofocus', added.text)
    added = await admin.post("/entry-points", data={**form, "rows": "add-language"})
    assert re.search(r'id="languages-0-digit" name="language_digit" value="1"[^>]* autofocus', added.text)
    removed = await admin.post("/entry-points", data={**form, "rows": "remove-menu-0"})
    assert removed.status_code == 200 and 'id="menu-0-digit"' not in removed.text
    assert (await admin.post("/entry-points", data={**form, "rows": "remove-everything"})).status_code == 422
    assert "Rows" not in _text(await admin.get("/entry-points"))

    # Rows left with nothing but their key are dropped; the entry point is saved with what the rows say.
    created = await admin.post(
        "/entry-points", data={**form, "language_digit": "1", "language_tag": "", "language_prompt": ""}
    )
    assert created.status_code == 303 and created.headers["location"] == "/entry-points"
    with acting_as(OPERATOR.acting_for(world.a.id)):
        async with get_database().session() as session:
            page = await service.list_entry_points(session, cursor=None, limit=50)
            rows = next(e for e in page.items if e.name == "Rows")
    assert rows.language_options == [] and [(o.digit, o.prompt) for o in rows.menu_options] == [("1", "A")]


async def test_deletes_refused_while_a_number_maps_it_and_when_stale(world: World) -> None:
    a = world.a
    with acting_as(OPERATOR.acting_for(a.id)):
        async with get_database().session() as session:
            doomed = await service.create_entry_point(
                session, schemas.EntryPointCreate(name="Doomed", default_queue_id=a.voice_queue_id)
            )
            doomed_id = doomed.id
    number = (await provision_number(a.id)).number
    with acting_as(OPERATOR.acting_for(a.id)):
        async with get_database().session() as session:
            mapped = await routing.create_phone_number(
                session, routing_schemas.PhoneNumberCreate(number=number, entry_point_id=doomed_id)
            )
    page = f"/entry-points/{doomed_id}"
    assert number in _text(await a.admin.get("/entry-points"))
    refused = await a.admin.post(f"{page}/delete", data={"version": "1"})
    assert refused.status_code == 303 and refused.headers["location"] == page
    shown = _text(await a.admin.get(page))
    assert f"Doomed was not deleted. Phone numbers {number} send calls here; point them elsewhere first." in shown
    assert f"Calls to {number} come here." in shown

    with acting_as(OPERATOR.acting_for(a.id)):
        async with get_database().session() as session:
            await routing.delete_phone_number(session, mapped.id)
            await service.update_entry_point(session, doomed_id, schemas.EntryPointUpdate(greeting="Hi"), if_match=1)
    stale = await a.admin.post(f"{page}/delete", data={"version": "1"})
    assert stale.status_code == 303 and stale.headers["location"] == page
    assert "Doomed was not deleted. Entry point changed since version 1; it is now version 2." in _text(
        await a.admin.get(page)
    )
    deleted = await a.admin.post(f"{page}/delete", data={"version": "2"})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/entry-points"
    assert "Entry point Doomed deleted." in _text(await a.admin.get("/entry-points"))
    assert (await a.admin.get(page)).status_code == 404


async def test_the_registry_shows_which_numbers_are_mapped_through_an_audited_read(world: World) -> None:
    a = world.a
    mapped, unmapped = await provision_number(a.id), await provision_number(a.id)
    with acting_as(OPERATOR.acting_for(a.id)):
        async with get_database().session() as session:
            await routing.create_phone_number(
                session, routing_schemas.PhoneNumberCreate(number=mapped.number, queue_id=a.voice_queue_id)
            )
    registry = await world.operator_admin.get(REGISTRY)
    assert registry.status_code == 200
    rows = {
        match.group(1): _visible(match.group(2))
        for match in re.finditer(r'<tr id="provisioned-([0-9a-f-]{36})">(.*?)</tr>', registry.text, re.DOTALL)
    }
    assert f"{mapped.number} {a.name} twilio Mapped " in rows[str(mapped.id)]
    assert f"{unmapped.number} {a.name} twilio Not mapped " in rows[str(unmapped.id)]
    audit = _text(await world.operator_admin.get("/operator/audit"))
    assert "number registry: which provisioned numbers are mapped" in audit
