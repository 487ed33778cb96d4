"""Routing configuration over real HTTP: queues, phone numbers, agents' skills and hard attributes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.factories import (
    make_agent,
    make_api_client,
    make_staff,
    make_tenant,
    make_tenant_user,
    provision_number,
    sign_in,
    unique_number,
)

QUEUES = "/api/v1/queues"
NUMBERS = "/api/v1/phone-numbers"
SKILLS = "/api/v1/agent-skills"
ATTRIBUTES = "/api/v1/agent-attributes"


@dataclass
class Tenant:
    id: uuid.UUID
    admin: httpx.AsyncClient  # the tenant's own admin
    operator: httpx.AsyncClient  # an ops manager acting for the tenant
    agent_id: uuid.UUID  # an agent assigned to this tenant


@dataclass
class World:
    a: Tenant
    b: Tenant
    stranger_agent_id: uuid.UUID  # assigned to B only


async def _tenant(live_server: LiveServer, name: str, ops_email: str) -> Tenant:
    tenant = await make_tenant(name)
    admin = await make_tenant_user(tenant.id, "tenant_admin")
    agent = await make_agent(tenant.id)
    admin_client = (await sign_in(live_server.url, admin.email)).client
    operator_client = (await sign_in(live_server.url, ops_email)).client
    operator_client.headers["Tenline-Tenant"] = str(tenant.id)
    return Tenant(id=tenant.id, admin=admin_client, operator=operator_client, agent_id=agent.id)


@pytest.fixture(scope="module")
async def world(live_server: LiveServer) -> AsyncIterator[World]:
    ops = await make_staff("ops_manager")
    a = await _tenant(live_server, "routing-a", ops.email)
    b = await _tenant(live_server, "routing-b", ops.email)
    stranger = await make_agent(b.id)
    yield World(a=a, b=b, stranger_agent_id=stranger.id)
    for client in (a.admin, a.operator, b.admin, b.operator):
        await client.aclose()


def _name() -> str:
    return f"queue-{uuid.uuid4().hex[:8]}"


async def _queue(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(QUEUES, json={"name": _name(), **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _field_error(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    # An unknown field is named in the message (the framework reports it against the whole body).
    assert any(field in e["field"] or f"`{field}`" in e["message"] for e in errors), errors
    return str(response.json()["detail"])


async def _audit_actions(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/api/v1/audit-log", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()["items"]]


# --- queues --------------------------------------------------------------------------------------


async def test_queue_lifecycle_with_etags(world: World) -> None:
    client = world.a.admin
    created = await client.post(
        QUEUES,
        json={
            "name": _name(),
            "priority": 5,
            "skills": {"billing": 3, "spanish": 4},
            "relaxation": [{"after_seconds": 30, "skills": {"billing": 2}}, {"after_seconds": 90}],
            "required_attributes": [{"kind": "clearance", "value": "PCI"}, {"kind": "language", "value": "es"}],
            "answer_target_seconds": 30,
            "target_service_level": 0.9,
            "max_wait_seconds": 600,
            "wrap_up_seconds": 45,
            "callback_offer_after_seconds": 120,
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    queue = created.json()
    assert queue["relaxation"] == [
        {"after_seconds": 30, "skills": {"billing": 2}},
        {"after_seconds": 90, "skills": {}},
    ]
    assert queue["required_attributes"] == [
        {"kind": "clearance", "value": "pci"},
        {"kind": "language", "value": "es"},
    ]
    url = f"{QUEUES}/{queue['id']}"

    got = await client.get(url)
    assert got.status_code == 200 and got.json() == queue and got.headers["ETag"] == '"1"'
    listed = await client.get(QUEUES, params={"channel": "voice"})
    assert queue["id"] in [q["id"] for q in listed.json()["items"]]
    assert queue["id"] not in [q["id"] for q in (await client.get(QUEUES, params={"channel": "chat"})).json()["items"]]

    patched = await client.patch(url, json={"priority": 7, "max_wait_seconds": None}, headers={"If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    assert patched.json()["priority"] == 7 and patched.json()["max_wait_seconds"] is None
    assert patched.json()["skills"] == {"billing": 3, "spanish": 4}

    stale = await client.patch(url, json={"priority": 1}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412, stale.text
    assert (await client.get(url)).json()["priority"] == 7
    assert (await client.patch(url, json={"priority": 1}, headers={"If-Match": "soon"})).status_code == 422
    assert (await client.delete(url, headers={"If-Match": '"1"'})).status_code == 412

    deleted = await client.delete(url, headers={"If-Match": '"2"'})
    assert deleted.status_code == 204, deleted.text
    assert (await client.get(url)).status_code == 404
    actions = await _audit_actions(client)
    assert {"queue.created", "queue.updated", "queue.deleted"} <= set(actions)


# Schema violations are 400 (the body does not parse); rules across fields are 422 (it parses, but cannot be).
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"skills": {"billing": 6}}, 400, "skills"),
        ({"skills": {"Not A Skill": 3}}, 400, "skills"),
        ({"target_service_level": 1.5}, 400, "target_service_level"),
        ({"channel": "fax"}, 400, "channel"),
        ({"required_attributes": [{"kind": "shoe_size", "value": "42"}]}, 400, "required_attributes"),
        ({"colour": "blue"}, 400, "colour"),
        ({"relaxation": [{"after_seconds": 60}, {"after_seconds": 30}]}, 422, "relaxation[1].after_seconds"),
        (
            {"skills": {"billing": 2}, "relaxation": [{"after_seconds": 30, "skills": {"billing": 4}}]},
            422,
            "relaxation[0].skills",
        ),
        ({"skills": {}, "relaxation": [{"after_seconds": 30, "skills": {"french": 1}}]}, 422, "relaxation[0].skills"),
        ({"overflow_queue_id": str(uuid.uuid4())}, 422, "overflow_after_seconds"),
        ({"overflow_after_seconds": 60}, 422, "overflow_queue_id"),
        ({"max_wait_seconds": 60, "callback_offer_after_seconds": 60}, 422, "callback_offer_after_seconds"),
    ],
)
async def test_invalid_queues_are_refused_naming_the_field(
    world: World, body: dict[str, Any], status: int, field: str
) -> None:
    response = await world.a.admin.post(QUEUES, json={"name": _name(), **body})
    _field_error(response, status, field)


async def test_queue_names_are_unique_per_tenant(world: World) -> None:
    queue = await _queue(world.a.admin)
    duplicate = await world.a.admin.post(QUEUES, json={"name": queue["name"]})
    _field_error(duplicate, 409, "name")
    # The same name in another tenant is that tenant's business.
    assert (await world.b.admin.post(QUEUES, json={"name": queue["name"]})).status_code == 201
    other = await _queue(world.a.admin)
    renamed = await world.a.admin.patch(f"{QUEUES}/{other['id']}", json={"name": queue["name"]})
    _field_error(renamed, 409, "name")


async def test_overflow_chains_stay_in_the_tenant_and_never_loop(world: World) -> None:
    client = world.a.admin
    first = await _queue(client)
    second = await _queue(client, overflow_queue_id=first["id"], overflow_after_seconds=60, max_wait_seconds=300)
    assert second["overflow_queue_id"] == first["id"]

    loop = await client.patch(
        f"{QUEUES}/{first['id']}", json={"overflow_queue_id": second["id"], "overflow_after_seconds": 30}
    )
    _field_error(loop, 422, "overflow_queue_id")
    itself = await client.patch(
        f"{QUEUES}/{first['id']}", json={"overflow_queue_id": first["id"], "overflow_after_seconds": 30}
    )
    _field_error(itself, 422, "overflow_queue_id")
    chat = await _queue(client, channel="chat")
    cross_channel = await client.patch(
        f"{QUEUES}/{second['id']}", json={"overflow_queue_id": chat["id"], "overflow_after_seconds": 30}
    )
    _field_error(cross_channel, 422, "overflow_queue_id")
    _field_error(await client.patch(f"{QUEUES}/{first['id']}", json={"channel": "chat"}), 422, "channel")
    late = await client.patch(f"{QUEUES}/{second['id']}", json={"overflow_after_seconds": 300})
    _field_error(late, 422, "overflow_after_seconds")

    in_use = await client.delete(f"{QUEUES}/{first['id']}")
    assert in_use.status_code == 409 and second["name"] in in_use.json()["detail"], in_use.text

    # Another tenant's queue is refused exactly like a queue that does not exist.
    b_queue = await _queue(world.b.admin)
    answers = []
    for target in (b_queue["id"], str(uuid.uuid4())):
        response = await client.post(
            QUEUES, json={"name": _name(), "overflow_queue_id": target, "overflow_after_seconds": 30}
        )
        answers.append((response.status_code, response.json()["detail"], response.json()["errors"]))
    assert answers[0] == answers[1] and answers[0][0] == 422


async def test_another_tenants_queue_is_not_found(world: World) -> None:
    b_queue = await _queue(world.b.admin)
    url = f"{QUEUES}/{b_queue['id']}"
    for client in (world.a.admin, world.a.operator):
        assert (await client.get(url)).status_code == 404
        assert (await client.patch(url, json={"priority": 9}, headers={"If-Match": '"1"'})).status_code == 404
        assert (await client.delete(url)).status_code == 404
        listed = await client.get(QUEUES, params={"limit": 200})
        assert b_queue["id"] not in [q["id"] for q in listed.json()["items"]]
    assert (await world.b.admin.get(url)).json()["priority"] == 0


async def test_queue_list_pages_with_a_cursor(world: World) -> None:
    made = {(await _queue(world.b.operator))["id"] for _ in range(3)}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await world.b.operator.get(QUEUES, params=params)).json()
        seen += [q["id"] for q in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert made <= set(seen) and len(seen) == len(set(seen))


# --- phone numbers -------------------------------------------------------------------------------


async def test_phone_numbers(world: World) -> None:
    client = world.a.admin
    queue = await _queue(client)
    e164 = (await provision_number(world.a.id)).number
    spaced = f"{e164[:3]} {e164[3:5]} {e164[5:9]}-{e164[9:]}"
    created = await client.post(NUMBERS, json={"number": spaced, "queue_id": queue["id"], "label": "UK"})
    assert created.status_code == 201, created.text
    number = created.json()
    assert number["number"] == e164 and number["queue_id"] == queue["id"] and number["entry_point_id"] is None
    url = f"{NUMBERS}/{number['id']}"
    assert (await client.get(url)).json() == number
    listed = (await client.get(NUMBERS, params={"queue_id": queue["id"]})).json()["items"]
    assert [n["id"] for n in listed] == [number["id"]]

    _field_error(await client.post(NUMBERS, json={"number": e164, "queue_id": queue["id"]}), 409, "number")
    for bad in ("020 7183 8750", "+1 555", "+44 20 7183 875099", "call me"):
        _field_error(await client.post(NUMBERS, json={"number": bad, "queue_id": queue["id"]}), 422, "number")
    chat = await _queue(client, channel="chat")
    _field_error(await client.post(NUMBERS, json={"number": "+14155552671", "queue_id": chat["id"]}), 422, "queue_id")

    in_use = await client.delete(f"{QUEUES}/{queue['id']}")
    assert in_use.status_code == 409 and e164 in in_use.json()["detail"]
    _field_error(await client.patch(f"{QUEUES}/{queue['id']}", json={"channel": "chat"}), 422, "channel")

    # Only numbers the operator provisioned to the tenant; one held by another tenant reads as never provisioned.
    b_queue = await _queue(world.b.admin)
    refusals = [
        await world.b.admin.post(NUMBERS, json={"number": other, "queue_id": b_queue["id"]})
        for other in (e164, unique_number())
    ]
    details = [_field_error(refused, 422, "number") for refused in refusals]
    assert details[0] == details[1]
    b_e164 = (await provision_number(world.b.id)).number
    assert (await world.b.admin.post(NUMBERS, json={"number": b_e164, "queue_id": b_queue["id"]})).status_code == 201

    answers = []
    for target in (b_queue["id"], str(uuid.uuid4())):
        response = await client.post(NUMBERS, json={"number": "+14155552671", "queue_id": target})
        answers.append((response.status_code, response.json()["detail"]))
    assert answers[0] == answers[1] and answers[0][0] == 422

    b_number = (await world.b.admin.get(NUMBERS)).json()["items"][0]
    assert (await client.get(f"{NUMBERS}/{b_number['id']}")).status_code == 404
    assert (await client.delete(f"{NUMBERS}/{b_number['id']}")).status_code == 404

    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(f"{QUEUES}/{queue['id']}")).status_code == 204
    assert {"phone_number.created", "phone_number.deleted"} <= set(await _audit_actions(client))


# --- agents' skills and attributes ---------------------------------------------------------------


async def test_agent_skills(world: World) -> None:
    operator, agent_id = world.a.operator, str(world.a.agent_id)
    created = await operator.post(SKILLS, json={"agent_id": agent_id, "skill": "billing", "proficiency": 2})
    assert created.status_code == 201, created.text
    replaced = await operator.post(SKILLS, json={"agent_id": agent_id, "skill": "billing", "proficiency": 5})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["id"] == created.json()["id"] and replaced.json()["proficiency"] == 5
    await operator.post(SKILLS, json={"agent_id": agent_id, "skill": "sales", "proficiency": 1})

    mine = (await world.a.admin.get(SKILLS, params={"agent_id": agent_id})).json()["items"]
    assert {(s["skill"], s["proficiency"]) for s in mine} == {("billing", 5), ("sales", 1)}
    only_sales = (await world.a.admin.get(SKILLS, params={"skill": "sales"})).json()["items"]
    assert [s["skill"] for s in only_sales] == ["sales"]

    for proficiency in (0, 6):
        body = {"agent_id": agent_id, "skill": "billing", "proficiency": proficiency}
        _field_error(await operator.post(SKILLS, json=body), 400, "proficiency")
    # An agent of another tenant, or no agent at all: the same answer.
    answers = []
    for other in (str(world.stranger_agent_id), str(uuid.uuid4())):
        response = await operator.post(SKILLS, json={"agent_id": other, "skill": "billing", "proficiency": 3})
        _field_error(response, 422, "agent_id")
        answers.append(response.json()["detail"])
    assert answers[0] == answers[1]

    b_skill = await world.b.operator.post(
        SKILLS, json={"agent_id": str(world.b.agent_id), "skill": "billing", "proficiency": 3}
    )
    assert (await operator.delete(f"{SKILLS}/{b_skill.json()['id']}")).status_code == 404
    assert b_skill.json()["id"] not in [s["id"] for s in (await operator.get(SKILLS)).json()["items"]]

    assert (await operator.delete(f"{SKILLS}/{created.json()['id']}")).status_code == 204
    assert (await operator.delete(f"{SKILLS}/{created.json()['id']}")).status_code == 404
    remaining = (await operator.get(SKILLS, params={"agent_id": agent_id})).json()["items"]
    assert [s["skill"] for s in remaining] == ["sales"]
    assert {"agent_skill.set", "agent_skill.deleted"} <= set(await _audit_actions(world.a.admin))


async def test_agent_attributes(world: World) -> None:
    operator, agent_id = world.a.operator, str(world.a.agent_id)
    body = {"agent_id": agent_id, "kind": "certification", "value": "PCI-DSS", "valid_until": "2027-06-30"}
    created = await operator.post(ATTRIBUTES, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["value"] == "pci-dss" and created.json()["valid_until"] == "2027-06-30"
    renewed = await operator.post(ATTRIBUTES, json={**body, "value": "pci-dss", "valid_until": "2028-06-30"})
    assert renewed.status_code == 200 and renewed.json()["id"] == created.json()["id"]
    assert renewed.json()["valid_until"] == "2028-06-30"
    language = await operator.post(ATTRIBUTES, json={"agent_id": agent_id, "kind": "language", "value": "fr"})
    assert language.status_code == 201 and language.json()["valid_until"] is None

    languages = (await world.a.admin.get(ATTRIBUTES, params={"kind": "language"})).json()["items"]
    assert [(a["kind"], a["value"]) for a in languages] == [("language", "fr")]
    _field_error(await operator.post(ATTRIBUTES, json={**body, "kind": "height"}), 400, "kind")
    _field_error(await operator.post(ATTRIBUTES, json={**body, "value": "no spaces"}), 400, "value")
    stranger = {**body, "agent_id": str(world.stranger_agent_id)}
    _field_error(await operator.post(ATTRIBUTES, json=stranger), 422, "agent_id")

    assert (await world.b.operator.delete(f"{ATTRIBUTES}/{language.json()['id']}")).status_code == 404
    assert (await operator.delete(f"{ATTRIBUTES}/{language.json()['id']}")).status_code == 204
    assert {"agent_attribute.set", "agent_attribute.deleted"} <= set(await _audit_actions(world.a.admin))


# --- who may do what -----------------------------------------------------------------------------

ROLES = ["operator_admin", "ops_manager", "tenant_admin", "supervisor", "report_viewer", "agent"]
MANAGERS = {"operator_admin", "ops_manager", "tenant_admin"}
VIEWERS = MANAGERS | {"supervisor"}
OPERATOR = {"operator_admin", "ops_manager"}


@pytest.mark.parametrize("role", ROLES)
async def test_permissions_per_role(live_server: LiveServer, role: str) -> None:
    tenant = await make_tenant("routing-perm")
    agent = await make_agent(tenant.id)
    setup = await sign_in(live_server.url, (await make_tenant_user(tenant.id, "tenant_admin")).email)
    async with setup as admin:
        queue = await _queue(admin)
    number = (await provision_number(tenant.id)).number
    if role in OPERATOR:
        email = (await make_staff(role)).email
    elif role == "agent":
        email = agent.email
    else:
        email = (await make_tenant_user(tenant.id, role)).email
    cases: list[tuple[str, str, Any, set[str]]] = [
        ("GET", QUEUES, None, VIEWERS),
        ("GET", f"{QUEUES}/{queue['id']}", None, VIEWERS),
        ("POST", QUEUES, {"name": _name()}, MANAGERS),
        ("PATCH", f"{QUEUES}/{queue['id']}", {"priority": 3}, MANAGERS),
        ("GET", NUMBERS, None, VIEWERS),
        ("POST", NUMBERS, {"number": number, "queue_id": queue["id"]}, MANAGERS),
        ("GET", "/api/v1/entry-points", None, VIEWERS),
        ("POST", "/api/v1/entry-points", {"name": "main", "default_queue_id": queue["id"]}, MANAGERS),
        ("GET", SKILLS, None, VIEWERS),
        ("POST", SKILLS, {"agent_id": str(agent.id), "skill": "billing", "proficiency": 3}, OPERATOR),
        ("GET", ATTRIBUTES, None, VIEWERS),
        ("POST", ATTRIBUTES, {"agent_id": str(agent.id), "kind": "language", "value": "de"}, OPERATOR),
    ]
    async with await sign_in(live_server.url, email) as client:
        if role in OPERATOR:
            client.headers["Tenline-Tenant"] = str(tenant.id)
        outcomes = {}
        for method, path, body, allowed in cases:
            response = await client.request(method, path, json=body)
            outcomes[(method, path)] = (response.status_code, role in allowed)
    wrong = {k: v for k, v in outcomes.items() if (v[0] < 400) != v[1]}
    assert not wrong, f"{role}: {wrong}"
    assert {v[0] for v in outcomes.values() if not v[1]} <= {403}


async def test_api_clients_read_with_scopes(live_server: LiveServer, world: World) -> None:
    queue = await _queue(world.a.admin)
    for scopes, expected in ((["queues:read", "agents:read"], 200), (["audit:read"], 403)):
        client, secret = await make_api_client(world.a.id, scopes)
        async with httpx.AsyncClient(base_url=live_server.url) as http:
            token = await http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, secret)
            )
            http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            assert (await http.get(f"{QUEUES}/{queue['id']}")).status_code == expected
            assert (await http.get(SKILLS)).status_code == expected
            assert (await http.post(QUEUES, json={"name": _name()})).status_code == 403
