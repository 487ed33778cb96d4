"""Entry points, numbers mapped to them, and the operator's number registry, over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.factories import (
    make_api_client,
    make_staff,
    make_tenant,
    make_tenant_user,
    provision_number,
    sign_in,
    unique_number,
)

ENTRY_POINTS = "/api/v1/entry-points"
QUEUES = "/api/v1/queues"
NUMBERS = "/api/v1/phone-numbers"
REGISTRY = "/api/v1/provisioned-numbers"


@dataclass
class Tenant:
    id: uuid.UUID
    admin: httpx.AsyncClient
    supervisor: httpx.AsyncClient
    program: httpx.AsyncClient  # an API client with queues:read


@dataclass
class World:
    a: Tenant
    b: Tenant
    operator_admin: httpx.AsyncClient
    ops_manager: httpx.AsyncClient


async def _token_client(base_url: str, tenant_id: uuid.UUID) -> httpx.AsyncClient:
    api_client, secret = await make_api_client(tenant_id, ["queues:read"])
    async with httpx.AsyncClient(base_url=base_url) as plain:
        token = await plain.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(api_client.client_id, secret)
        )
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)


async def _tenant(live_server: LiveServer, name: str) -> Tenant:
    tenant = await make_tenant(name)
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    return Tenant(
        id=tenant.id,
        admin=(await sign_in(live_server.url, admin.email)).client,
        supervisor=(await sign_in(live_server.url, supervisor.email)).client,
        program=await _token_client(live_server.url, tenant.id),
    )


@pytest.fixture(scope="module")
async def world(live_server: LiveServer) -> AsyncIterator[World]:
    a = await _tenant(live_server, "entry-a")
    b = await _tenant(live_server, "entry-b")
    operator_admin = (await sign_in(live_server.url, (await make_staff("operator_admin")).email)).client
    ops_manager = (await sign_in(live_server.url, (await make_staff("ops_manager")).email)).client
    yield World(a=a, b=b, operator_admin=operator_admin, ops_manager=ops_manager)
    for client in (a.admin, a.supervisor, a.program, b.admin, b.supervisor, b.program, operator_admin, ops_manager):
        await client.aclose()


async def _queue(client: httpx.AsyncClient, **fields: Any) -> str:
    response = await client.post(QUEUES, json={"name": f"queue-{uuid.uuid4().hex[:8]}", **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _entry_point(client: httpx.AsyncClient, default_queue_id: str, **fields: Any) -> dict[str, Any]:
    body = {"name": f"line-{uuid.uuid4().hex[:8]}", "default_queue_id": default_queue_id, **fields}
    response = await client.post(ENTRY_POINTS, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _problem(response: httpx.Response, status: int, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    if field is not None:
        assert any(field in e["field"] or f"`{field}`" in e["message"] for e in problem["errors"]), problem
    return str(problem["detail"])


# --- entry points --------------------------------------------------------------------------------


async def test_entry_point_lifecycle_with_etags(world: World) -> None:
    client = world.a.admin
    billing, sales, fallback = [await _queue(client) for _ in range(3)]
    created = await client.post(
        ENTRY_POINTS,
        json={
            "name": "Main line",
            "greeting": "Welcome to Fjord Bank.",
            "language_options": [
                {"digit": "1", "language": "en", "prompt": "For English, press 1."},
                {"digit": "2", "language": "FR", "prompt": "Pour le français, tapez 2."},
            ],
            "menu_options": [
                {"digit": "1", "queue_id": billing, "prompt": "For billing, press 1."},
                {"digit": "2", "queue_id": sales, "prompt": "For sales, press 2."},
            ],
            "default_queue_id": fallback,
            "max_attempts": 2,
            "closed_action": "callback",
            "closed_message": "We are closed.",
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    entry_point = created.json()
    assert entry_point["language_options"][1] == {
        "digit": "2",
        "language": "fr",
        "prompt": "Pour le français, tapez 2.",
    }
    assert entry_point["menu_options"][0] == {"digit": "1", "queue_id": billing, "prompt": "For billing, press 1."}
    url = f"{ENTRY_POINTS}/{entry_point['id']}"

    got = await client.get(url)
    assert got.status_code == 200 and got.json() == entry_point and got.headers["ETag"] == '"1"'
    assert entry_point["id"] in [e["id"] for e in (await client.get(ENTRY_POINTS)).json()["items"]]

    patched = await client.patch(
        url, json={"menu_options": [], "closed_action": "message"}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    assert patched.json()["menu_options"] == [] and patched.json()["greeting"] == "Welcome to Fjord Bank."
    _problem(await client.patch(url, json={"max_attempts": 4}, headers={"If-Match": '"1"'}), 412)
    assert (await client.get(url)).json()["max_attempts"] == 2

    # Defaults: no greeting, no IVR, three tries, a closed message.
    plain = await _entry_point(client, fallback)
    assert plain["language_options"] == [] and plain["max_attempts"] == 3 and plain["closed_action"] == "message"
    assert plain["closed_message"]

    _problem(await client.delete(url, headers={"If-Match": '"1"'}), 412)
    assert (await client.delete(url, headers={"If-Match": '"2"'})).status_code == 204
    assert (await client.get(url)).status_code == 404
    audit = (await client.get("/api/v1/audit-log", params={"limit": 200})).json()["items"]
    assert {"entry_point.created", "entry_point.updated", "entry_point.deleted"} <= {e["action"] for e in audit}


async def test_bad_entry_points_are_refused_with_problems(world: World) -> None:
    client = world.a.admin
    queue = await _queue(client)
    chat = await _queue(client, channel="chat")
    b_queue = await _queue(world.b.admin)
    name = f"line-{uuid.uuid4().hex[:8]}"
    base = {"name": name, "default_queue_id": queue}
    menu = [{"digit": "1", "queue_id": queue, "prompt": "one"}]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**base, "menu_options": [*menu, {"digit": "1", "queue_id": queue, "prompt": "again"}]}, 422, "digit"),
        ({**base, "language_options": [{"digit": "12", "language": "en", "prompt": "x"}]}, 400, "digit"),
        ({**base, "language_options": [{"digit": "1", "language": "en us", "prompt": "x"}]}, 400, "language"),
        ({**base, "menu_options": [{"digit": "3", "queue_id": chat, "prompt": "x"}]}, 422, "menu_options[0].queue_id"),
        ({**base, "default_queue_id": chat}, 422, "default_queue_id"),
        ({**base, "max_attempts": 0}, 400, "max_attempts"),
        ({**base, "closed_action": "voicemail"}, 400, "closed_action"),
        ({**base, "closed_message": ""}, 400, "closed_message"),
        ({**base, "colour": "blue"}, 400, "colour"),
        ({"name": name}, 400, "default_queue_id"),
    ]
    for body, status, field in cases:
        _problem(await client.post(ENTRY_POINTS, json=body), status, field)

    # Another tenant's queue reads exactly like a queue that does not exist.
    answers = []
    for target in (b_queue, str(uuid.uuid4())):
        response = await client.post(ENTRY_POINTS, json={**base, "menu_options": [{**menu[0], "queue_id": target}]})
        answers.append((response.status_code, _problem(response, 422, "menu_options[0].queue_id")))
    assert answers[0] == answers[1]

    await _entry_point(client, queue, name=name)
    _problem(await client.post(ENTRY_POINTS, json=base), 409, "name")


async def test_queues_an_entry_point_uses_cannot_go_away_or_change_channel(world: World) -> None:
    client = world.a.admin
    default, in_menu = await _queue(client), await _queue(client)
    entry_point = await _entry_point(
        client, default, menu_options=[{"digit": "1", "queue_id": in_menu, "prompt": "one"}]
    )
    for queue in (default, in_menu):
        detail = _problem(await client.delete(f"{QUEUES}/{queue}"), 409)
        assert entry_point["name"] in detail
        _problem(await client.patch(f"{QUEUES}/{queue}", json={"channel": "chat"}), 422, "channel")
    assert (await client.delete(f"{ENTRY_POINTS}/{entry_point['id']}")).status_code == 204
    assert (await client.delete(f"{QUEUES}/{in_menu}")).status_code == 204


async def test_roles_and_programs(world: World) -> None:
    queue = await _queue(world.a.admin)
    entry_point = await _entry_point(world.a.admin, queue)
    url = f"{ENTRY_POINTS}/{entry_point['id']}"
    for reader in (world.a.supervisor, world.a.program):
        assert (await reader.get(url)).json() == entry_point
    _problem(await world.a.supervisor.post(ENTRY_POINTS, json={"name": "x", "default_queue_id": queue}), 403)
    _problem(await world.a.supervisor.patch(url, json={"greeting": "hi"}), 403)
    _problem(await world.a.program.delete(url), 403)
    assert (await world.a.admin.get(url)).json()["version"] == 1


async def test_a_tenant_never_reaches_another_tenants_entry_point(world: World) -> None:
    b_queue = await _queue(world.b.admin)
    b_entry_point = await _entry_point(world.b.admin, b_queue)
    b_url = f"{ENTRY_POINTS}/{b_entry_point['id']}"
    for client in (world.a.admin, world.a.program):
        assert (await client.get(b_url)).status_code == 404
        assert b_entry_point["id"] not in [e["id"] for e in (await client.get(ENTRY_POINTS)).json()["items"]]
    assert (await world.a.admin.patch(b_url, json={"greeting": "mine now"})).status_code == 404
    assert (await world.a.admin.delete(b_url)).status_code == 404
    assert (await world.b.admin.get(b_url)).json() == b_entry_point

    # Nor map its own number to it: the same answer as an entry point that does not exist.
    number = (await provision_number(world.a.id)).number
    answers = []
    for target in (b_entry_point["id"], str(uuid.uuid4())):
        response = await world.a.admin.post(NUMBERS, json={"number": number, "entry_point_id": target})
        answers.append((response.status_code, _problem(response, 422, "entry_point_id")))
    assert answers[0] == answers[1]


# --- phone numbers through entry points -----------------------------------------------------------


async def test_a_number_goes_to_an_entry_point_or_a_queue(world: World) -> None:
    client = world.a.admin
    queue = await _queue(client)
    entry_point = await _entry_point(client, queue)
    number = (await provision_number(world.a.id)).number
    _problem(await client.post(NUMBERS, json={"number": number}), 422, "entry_point_id")
    both = {"number": number, "queue_id": queue, "entry_point_id": entry_point["id"]}
    _problem(await client.post(NUMBERS, json=both), 422, "entry_point_id")

    created = await client.post(NUMBERS, json={"number": number, "entry_point_id": entry_point["id"]})
    assert created.status_code == 201, created.text
    mapped = created.json()
    assert mapped["entry_point_id"] == entry_point["id"] and mapped["queue_id"] is None
    listed = (await client.get(NUMBERS, params={"entry_point_id": entry_point["id"]})).json()["items"]
    assert [n["id"] for n in listed] == [mapped["id"]]

    in_use = await client.delete(f"{ENTRY_POINTS}/{entry_point['id']}")
    assert number in _problem(in_use, 409)

    url = f"{NUMBERS}/{mapped['id']}"
    _problem(await client.patch(url, json={"queue_id": queue, "entry_point_id": entry_point["id"]}), 422)
    to_queue = await client.patch(url, json={"queue_id": queue})
    assert to_queue.status_code == 200, to_queue.text
    assert to_queue.json()["queue_id"] == queue and to_queue.json()["entry_point_id"] is None
    back = await client.patch(url, json={"entry_point_id": entry_point["id"]})
    assert back.json()["queue_id"] is None and back.json()["entry_point_id"] == entry_point["id"]
    assert (await client.delete(url)).status_code == 204
    assert (await client.delete(f"{ENTRY_POINTS}/{entry_point['id']}")).status_code == 204


# --- the operator's number registry --------------------------------------------------------------


async def test_the_operator_provisions_numbers_and_tenants_see_only_theirs(world: World) -> None:
    operator = world.operator_admin
    number = unique_number()
    spaced = f"{number[:3]} {number[3:5]} {number[5:]}"
    created = await operator.post(REGISTRY, json={"number": spaced, "tenant_id": str(world.a.id)})
    assert created.status_code == 201, created.text
    provisioned = created.json()
    assert provisioned["number"] == number and provisioned["provider"] == "twilio"
    url = f"{REGISTRY}/{provisioned['id']}"

    _problem(await operator.post(REGISTRY, json={"number": number, "tenant_id": str(world.b.id)}), 409, "number")
    _problem(await operator.post(REGISTRY, json={"number": "+1 555", "tenant_id": str(world.a.id)}), 422, "number")
    unknown_tenant = {"number": unique_number(), "tenant_id": str(uuid.uuid4())}
    _problem(await operator.post(REGISTRY, json=unknown_tenant), 422, "tenant_id")
    bad_provider = {"number": unique_number(), "tenant_id": str(world.a.id), "provider": "Not A Carrier"}
    _problem(await operator.post(REGISTRY, json=bad_provider), 400, "provider")
    for refused in (world.ops_manager, world.a.admin):
        _problem(await refused.post(REGISTRY, json={"number": unique_number(), "tenant_id": str(world.a.id)}), 403)
        _problem(await refused.delete(url), 403)

    # Operators see every tenant's numbers; a tenant (person or program) only its own.
    b_number = await provision_number(world.b.id)
    everything = (await world.ops_manager.get(REGISTRY, params={"limit": 200})).json()["items"]
    assert {provisioned["id"], str(b_number.id)} <= {n["id"] for n in everything}
    only_b = (await operator.get(REGISTRY, params={"tenant_id": str(world.b.id)})).json()["items"]
    assert {n["tenant_id"] for n in only_b} == {str(world.b.id)}
    for client in (world.a.admin, world.a.supervisor, world.a.program):
        listed = (await client.get(REGISTRY, params={"limit": 200})).json()["items"]
        assert provisioned["id"] in {n["id"] for n in listed}
        assert {n["tenant_id"] for n in listed} == {str(world.a.id)}
        # Asking for B's numbers by filter gives nothing either.
        assert (await client.get(REGISTRY, params={"tenant_id": str(world.b.id)})).json()["items"] == []
        assert (await client.get(url)).json() == provisioned
        assert (await client.get(f"{REGISTRY}/{b_number.id}")).status_code == 404


async def test_releasing_a_number_takes_the_tenants_mapping_with_it(world: World) -> None:
    queue = await _queue(world.a.admin)
    number = unique_number()
    provisioned = (
        await world.operator_admin.post(REGISTRY, json={"number": number, "tenant_id": str(world.a.id)})
    ).json()
    mapped = await world.a.admin.post(NUMBERS, json={"number": number, "queue_id": queue})
    assert mapped.status_code == 201, mapped.text

    assert (await world.operator_admin.delete(f"{REGISTRY}/{provisioned['id']}")).status_code == 204
    assert (await world.a.admin.get(f"{NUMBERS}/{mapped.json()['id']}")).status_code == 404
    assert (await world.a.admin.get(f"{REGISTRY}/{provisioned['id']}")).status_code == 404
    _problem(await world.a.admin.post(NUMBERS, json={"number": number, "queue_id": queue}), 422, "number")
    audit = (await world.a.admin.get("/api/v1/audit-log", params={"limit": 200})).json()["items"]
    actions = {e["action"] for e in audit}
    assert {"provisioned_number.created", "provisioned_number.released", "phone_number.deleted"} <= actions
