"""Disposition codes as tenant data: the API, the defaults every tenant starts with, the agent desktop's
wrap-up (the contact's tenant's active codes, checked by the server) and the dispositions report's labels."""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.db import get_database
from app.core.tenancy import acting_as
from app.reporting import service as reporting
from app.routing import commands as cmd
from app.routing.dispositions import DEFAULT_CODES
from tests.conftest import LiveServer
from tests.factories import OPERATOR, make_agent, make_tenant, make_tenant_user, sign_in, token_client
from tests.integration.test_router import eventually
from tests.routed import agent_view, assign, interaction_row, make_queue, offered, route

PATH = "/api/v1/disposition-codes"
HTMX = {"HX-Request": "true"}


@dataclass
class Admin:
    tenant_id: uuid.UUID
    name: str
    client: httpx.AsyncClient


@pytest.fixture
async def admin(live_server: LiveServer) -> AsyncIterator[Admin]:
    tenant = await make_tenant("codes")
    person = await make_tenant_user(tenant.id, "tenant_admin")
    async with await sign_in(live_server.url, person.email) as client:
        yield Admin(tenant.id, tenant.name, client)


async def _codes(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(PATH, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _by_code(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["code"]: item for item in items}


async def test_a_tenant_starts_with_the_defaults_once_however_many_ask_at_once(admin: Admin) -> None:
    pages = await asyncio.gather(*(admin.client.get(PATH) for _ in range(6)))
    assert {page.status_code for page in pages} == {200}
    listed = await _codes(admin.client)
    assert [(item["code"], item["label"], item["is_active"]) for item in listed] == [
        (code, label, True) for code, label in DEFAULT_CODES
    ]
    paged = [item["code"] for item in await _codes(admin.client, limit=2)]
    assert paged == [code for code, _ in DEFAULT_CODES[:2]]


async def test_create_change_deactivate_and_delete_with_versions(admin: Admin) -> None:
    created = await admin.client.post(PATH, json={"code": "sold-card", "label": "Sold a card", "sort_order": 5})
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    code = created.json()
    assert (code["code"], code["label"], code["is_active"], code["description"]) == (
        "sold-card",
        "Sold a card",
        True,
        "",
    )
    again = await admin.client.post(PATH, json={"code": "sold-card", "label": "Twice"})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "code"
    # Schema violations are 400 (as everywhere in the API), each naming its field.
    for body, field in (
        ({"code": "Sold Card", "label": "x"}, "code"),
        ({"code": "ok", "label": ""}, "label"),
        ({"code": "ok", "label": "x", "colour": "red"}, "colour"),
    ):
        refused = await admin.client.post(PATH, json=body)
        assert refused.status_code == 400 and field in refused.json()["detail"], refused.text
    # The agents' order: sort_order, then creation (the defaults are 0, so the new code with 5 comes last).
    assert [item["code"] for item in await _codes(admin.client)][-1] == "sold-card"

    url = f"{PATH}/{code['id']}"
    fetched = await admin.client.get(url)
    assert fetched.status_code == 200 and fetched.headers["ETag"] == '"1"'
    changed = await admin.client.patch(url, json={"label": "Card sold", "sort_order": 0}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"' and changed.json()["label"] == "Card sold"
    stale = await admin.client.patch(url, json={"label": "Lost update"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    renamed = await admin.client.patch(url, json={"code": "renamed"})
    assert renamed.status_code == 400 and "code" in renamed.json()["detail"]
    off = await admin.client.patch(url, json={"is_active": False}, headers={"If-Match": '"2"'})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert "sold-card" not in _by_code(await _codes(admin.client, is_active="true"))
    assert list(_by_code(await _codes(admin.client, is_active="false"))) == ["sold-card"]
    assert (await admin.client.delete(url, headers={"If-Match": '"2"'})).status_code == 412
    assert (await admin.client.delete(url, headers={"If-Match": '"3"'})).status_code == 204
    assert (await admin.client.get(url)).status_code == 404


async def test_the_last_active_code_stays(admin: Admin) -> None:
    codes = await _codes(admin.client)
    for item in codes[1:]:
        response = await admin.client.patch(f"{PATH}/{item['id']}", json={"is_active": False})
        assert response.status_code == 200
    last = f"{PATH}/{codes[0]['id']}"
    refused = await admin.client.patch(last, json={"is_active": False})
    assert refused.status_code == 409 and "need an active disposition code" in refused.json()["detail"]
    assert (await admin.client.delete(last)).status_code == 409
    # An inactive code nobody used can go; the tenant's list never comes back to the defaults.
    assert (await admin.client.delete(f"{PATH}/{codes[1]['id']}")).status_code == 204
    assert len(await _codes(admin.client)) == len(DEFAULT_CODES) - 1


async def test_api_clients_need_the_dispositions_scopes(admin: Admin, live_server: LiveServer) -> None:
    body = {"code": "callback-booked", "label": "Callback booked"}
    async with (
        token_client(live_server.url, admin.tenant_id, ["dispositions:read"]) as reader,
        token_client(live_server.url, admin.tenant_id, ["dispositions:read", "dispositions:write"]) as writer,
        token_client(live_server.url, admin.tenant_id, ["queues:read"]) as stranger,
    ):
        assert (await reader.get(PATH)).status_code == 200
        assert (await reader.post(PATH, json=body)).status_code == 403
        assert (await stranger.get(PATH)).status_code == 403
        created = await writer.post(PATH, json=body)
        assert created.status_code == 201
        assert (await reader.get(f"{PATH}/{created.json()['id']}")).json()["label"] == "Callback booked"


# --- the agent desktop ----------------------------------------------------------------------------------


@dataclass
class Desk:
    agent_id: uuid.UUID
    agent: httpx.AsyncClient
    bank: Admin  # has "sold-card" and no active "resolved"
    bank_queue: uuid.UUID
    shop_id: uuid.UUID  # the defaults
    shop_queue: uuid.UUID


@pytest.fixture
async def desk(live_server: LiveServer, router_process: subprocess.Popen[bytes]) -> AsyncIterator[Desk]:
    bank, shop = await make_tenant("codes-bank"), await make_tenant("codes-shop")
    bank_queue = await make_queue(bank.id, "Cards", wrap_up_seconds=120)
    shop_queue = await make_queue(shop.id, "Orders", wrap_up_seconds=120)
    agent = await make_agent()
    await assign(agent.id, bank.id, "Sam")
    await assign(agent.id, shop.id, "Sam")
    await route(cmd.Reconfigure())
    bank_admin = await make_tenant_user(bank.id, "tenant_admin")
    async with (
        await sign_in(live_server.url, bank_admin.email) as admin_client,
        await sign_in(live_server.url, agent.email) as agent_client,
    ):
        created = await admin_client.post(PATH, json={"code": "sold-card", "label": "Sold a card"})
        assert created.status_code == 201
        resolved = _by_code(await _codes(admin_client))["resolved"]
        off = await admin_client.patch(f"{PATH}/{resolved['id']}", json={"is_active": False})
        assert off.status_code == 200
        yield Desk(agent.id, agent_client, Admin(bank.id, bank.name, admin_client), bank_queue, shop.id, shop_queue)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _wrap_up_options(html: str, contact: uuid.UUID) -> list[str]:
    card = re.search(rf'<article id="wrap-up-{contact}".*?</article>', html, flags=re.S)
    assert card is not None, f"no wrap-up card for {contact}"
    return re.findall(r'<option value="([^"]*)"', card.group(0))


async def _ended(desk: Desk, tenant_id: uuid.UUID, queue_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    """A contact of the tenant the agent took and ended on the desktop: its id and the desk it left."""
    available = await desk.agent.post("/agent/presence", data={"state": "available"}, headers=HTMX)
    assert available.status_code == 200
    contact = uuid.uuid4()
    await route(cmd.ContactArrive(contact_id=contact, tenant_id=tenant_id, queue_id=queue_id, caller="+4420"))
    await offered(desk.agent_id, contact)
    accepted = await desk.agent.post(
        "/agent/offer", data={"answer": "accept", "contact_id": str(contact)}, headers=HTMX
    )
    assert accepted.status_code == 200, accepted.text
    ended = await desk.agent.post("/agent/end", data={"contact_id": str(contact)}, headers=HTMX)
    assert ended.status_code == 200 and f'id="wrap-up-{contact}"' in ended.text
    return contact, ended.text


async def _wrap_up(desk: Desk, contact: uuid.UUID, code: str) -> httpx.Response:
    return await desk.agent.post("/agent/wrap-up", data={"contact_id": str(contact), "disposition": code}, headers=HTMX)


async def _disposition_is(contact: uuid.UUID, tenant_id: uuid.UUID, code: str) -> None:
    async def probe() -> bool:
        row = await interaction_row(contact, tenant_id)
        return row is not None and row.disposition == code

    await eventually(probe, what=f"{contact} ended as {code}")


async def test_the_wrap_up_offers_and_accepts_only_the_contacts_tenants_active_codes(desk: Desk) -> None:
    contact, shown = await _ended(desk, desk.bank.tenant_id, desk.bank_queue)
    options = _wrap_up_options(shown, contact)
    assert options[-1] == "sold-card" and "resolved" not in options
    assert options == [code for code, _ in DEFAULT_CODES if code != "resolved"] + ["sold-card"]
    assert "Sold a card" in shown

    for refused_code, reason in (
        ("resolved", f"“resolved” is not one of {desk.bank.name}'s active disposition codes."),
        ("whatever", f"“whatever” is not one of {desk.bank.name}'s active disposition codes."),
        ("", "Choose how the contact ended."),
    ):
        refused = await _wrap_up(desk, contact, refused_code)
        assert refused.status_code == 422 and "Choose how the contact ended." in _text(refused.text)
        assert reason in _text(refused.text)
        view = await agent_view(desk.agent_id)
        assert view is not None and view.pending_dispositions == (contact,)  # nothing sent, nothing lost

    accepted = await _wrap_up(desk, contact, "sold-card")
    assert accepted.status_code == 200 and f'id="wrap-up-{contact}"' not in accepted.text
    await _disposition_is(contact, desk.bank.tenant_id, "sold-card")

    # The same agent's next contact, of the other tenant, offers that tenant's codes.
    other, shown = await _ended(desk, desk.shop_id, desk.shop_queue)
    assert _wrap_up_options(shown, other) == [code for code, _ in DEFAULT_CODES]
    assert (await _wrap_up(desk, other, "sold-card")).status_code == 422
    assert (await _wrap_up(desk, other, "resolved")).status_code == 200
    await _disposition_is(other, desk.shop_id, "resolved")

    # A code a contact ended with stays for its history: deactivated, never deleted.
    sold = _by_code(await _codes(desk.bank.client))["sold-card"]
    in_use = await desk.bank.client.delete(f"{PATH}/{sold['id']}")
    assert in_use.status_code == 409 and "deactivate it instead" in in_use.json()["detail"]

    # The dispositions report names the code with its label.
    with acting_as(OPERATOR.acting_for(desk.bank.tenant_id)):
        async with get_database().session() as session:
            await reporting.update_rollups(session, wait=True)
    report = await desk.bank.client.get("/api/v1/reports/dispositions")
    assert report.status_code == 200, report.text
    assert [(row["disposition"], row["label"], row["contacts"]) for row in report.json()["rows"]] == [
        ("sold-card", "Sold a card", 1)
    ]
