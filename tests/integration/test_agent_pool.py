"""The operator edits an agent of the shared pool: site, chat capacity, active state (PATCH over real HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from app.core.db import get_database
from app.core.outbox import OutboxEvent
from app.core.tenancy import acting_as, system_principal
from tenants import service as tenant_service
from tenants.service import AGENT_ASSIGNMENTS_TOPIC
from tests.conftest import LiveServer
from tests.factories import make_agent, make_staff, make_tenant, make_tenant_user, sign_in

POOL = "/api/v1/operator/agents"


@pytest.fixture(scope="module")
async def ops(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An ops manager acting for no tenant (the pool is the operator's own)."""
    staff = await make_staff("ops_manager")
    async with await sign_in(live_server.url, staff.email) as client:
        yield client


async def _patch(client: httpx.AsyncClient, agent_id: uuid.UUID, body: Any) -> httpx.Response:
    return await client.patch(f"{POOL}/{agent_id}", json=body)


async def _reload_events(tenant_id: uuid.UUID, agent_id: uuid.UUID) -> int:
    """Router reload events for the agent in the tenant's outbox (relayed or not), as the tenant sees them."""
    with acting_as(system_principal(tenant_id)):
        async with get_database().session() as session:
            statement = (
                select(sa.func.count())
                .select_from(OutboxEvent)
                .where(
                    col(OutboxEvent.topic) == AGENT_ASSIGNMENTS_TOPIC,
                    OutboxEvent.payload["agent_id"].astext == str(agent_id),  # type: ignore[index]
                )
            )
            return (await session.exec(statement)).one()


async def _pool_entry(client: httpx.AsyncClient, agent_id: uuid.UUID) -> dict[str, Any]:
    response = await client.get(POOL, params={"limit": 200})
    assert response.status_code == 200, response.text
    return next(a for a in response.json()["items"] if a["id"] == str(agent_id))


async def test_new_agents_are_voice_only_unless_given_a_chat_capacity(ops: httpx.AsyncClient) -> None:
    code = f"C-{uuid.uuid4().hex[:8]}"
    body = {
        "email": f"{code.lower()}@operator.example",
        "display_name": "Chatty",
        "employee_code": code,
        "password": "a-long-enough-password",
    }
    created = await ops.post(POOL, json={**body, "chat_capacity": 3})
    assert created.status_code == 201, created.text
    assert created.json()["chat_capacity"] == 3
    voice = await make_agent()
    assert (await _pool_entry(ops, voice.id))["chat_capacity"] == 0
    too_many = await ops.post(POOL, json={**body, "employee_code": code + "x", "chat_capacity": 11})
    assert too_many.status_code == 400


async def test_edit_reloads_routing_in_each_tenant_of_the_agent(ops: httpx.AsyncClient) -> None:
    first, second, elsewhere = await make_tenant("edit-a"), await make_tenant("edit-b"), await make_tenant("edit-c")
    agent = await make_agent(first.id, second.id)
    other_agent = await make_agent(elsewhere.id)
    assert [await _reload_events(t.id, agent.id) for t in (first, second)] == [1, 1]  # from the assignments

    response = await _patch(ops, agent.id, {"chat_capacity": 4})
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["chat_capacity"] == 4 and out["site"] == agent.site and out["is_active"] is True
    assert {a["tenant_id"] for a in out["assignments"]} == {str(first.id), str(second.id)}
    assert [await _reload_events(t.id, agent.id) for t in (first, second)] == [2, 2]
    assert await _reload_events(elsewhere.id, agent.id) == 0
    assert await _reload_events(elsewhere.id, other_agent.id) == 1

    # The site is not something the router reads; a value already held is no change at all.
    site_only = await _patch(ops, agent.id, {"site": "Lisbon"})
    assert site_only.status_code == 200 and site_only.json()["site"] == "Lisbon"
    unchanged = await _patch(ops, agent.id, {"chat_capacity": 4, "is_active": True})
    assert unchanged.status_code == 200
    assert [await _reload_events(t.id, agent.id) for t in (first, second)] == [2, 2]

    # Deactivating reloads too and keeps the agent's tenants for when the agent is back.
    deactivated = await _patch(ops, agent.id, {"is_active": False})
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["is_active"] is False
    assert [await _reload_events(t.id, agent.id) for t in (first, second)] == [3, 3]
    listed = await _pool_entry(ops, agent.id)
    assert listed["is_active"] is False and listed["chat_capacity"] == 4 and listed["site"] == "Lisbon"
    assert {a["tenant_id"] for a in listed["assignments"]} == {str(first.id), str(second.id)}


async def test_edits_are_audited_with_the_fields_changed(ops: httpx.AsyncClient) -> None:
    agent = await make_agent()
    response = await _patch(ops, agent.id, {"site": "Porto", "chat_capacity": 2, "is_active": True})
    assert response.status_code == 200, response.text
    log = await ops.get("/api/v1/operator/audit-log", params={"action": "agent.updated", "limit": 200})
    assert log.status_code == 200, log.text
    entries = [e for e in log.json()["items"] if e["object_id"] == str(agent.id)]
    assert len(entries) == 1
    # is_active was already true: only what changed is recorded.
    assert entries[0]["detail"] == {"fields": ["chat_capacity", "site"]}
    assert entries[0]["object_type"] == "agent" and entries[0]["actor_kind"] == "user"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"chat_capacity": 11}, "chat_capacity"),
        ({"chat_capacity": -1}, "chat_capacity"),
        ({"chat_capacity": "two"}, "chat_capacity"),
        ({"site": "x" * 101}, "site"),
        ({"site": None}, "site"),
        ({"is_active": "maybe"}, "is_active"),
        ({"employee_code": "NEW-1"}, "employee_code"),
    ],
)
async def test_invalid_edits_are_refused_with_problem_details(
    ops: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    agent = await make_agent()
    response = await _patch(ops, agent.id, body)
    # A schema violation is 400 (the body does not parse), as everywhere in the API.
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 400
    # An unknown field is named in the message (the framework reports it against the whole body).
    assert any(field in e["field"] or f"`{field}`" in e["message"] for e in problem["errors"]), problem
    assert (await _pool_entry(ops, agent.id))["chat_capacity"] == 0


async def test_an_unknown_agent_is_not_found(ops: httpx.AsyncClient) -> None:
    response = await _patch(ops, uuid.uuid4(), {"chat_capacity": 1})
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role", ["tenant_admin", "supervisor", "report_viewer", "agent"])
async def test_only_the_operator_edits_agents(live_server: LiveServer, ops: httpx.AsyncClient, role: str) -> None:
    tenant = await make_tenant("edit-perm")
    agent = await make_agent(tenant.id)
    email = agent.email if role == "agent" else (await make_tenant_user(tenant.id, role)).email
    async with await sign_in(live_server.url, email) as client:
        response = await _patch(client, agent.id, {"chat_capacity": 5})
    assert response.status_code == 403, response.text
    assert (await _pool_entry(ops, agent.id))["chat_capacity"] == 0
    assert await _reload_events(tenant.id, agent.id) == 1  # the assignment's only


async def _assign(client: httpx.AsyncClient, agent_id: uuid.UUID, body: Any) -> httpx.Response:
    return await client.put(f"{POOL}/{agent_id}/assignments", json=body)


async def test_a_dedicated_agent_works_for_its_tenant_alone(live_server: LiveServer, ops: httpx.AsyncClient) -> None:
    bank, shop = await make_tenant("dedicated-bank"), await make_tenant("dedicated-shop")
    agent = await make_agent(bank.id)

    # Working for the bank, it cannot be dedicated to the shop as well.
    refused = await _assign(ops, agent.id, {"tenant_id": str(shop.id), "alias": "Sam", "dedicated": True})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert bank.name in refused.json()["detail"]

    # Dedicated to the bank (its only tenant), it is then refused to the shop, dedicated or not.
    made = await _assign(ops, agent.id, {"tenant_id": str(bank.id), "alias": "Bea", "dedicated": True})
    assert made.status_code == 200, made.text
    assert made.json() == {"tenant_id": str(bank.id), "alias": "Bea", "dedicated": True}
    for dedicated in (False, True):
        again = await _assign(ops, agent.id, {"tenant_id": str(shop.id), "alias": "Sam", "dedicated": dedicated})
        assert again.status_code == 409, again.text
    assert (await _pool_entry(ops, agent.id))["assignments"] == [
        {"tenant_id": str(bank.id), "alias": "Bea", "dedicated": True}
    ]

    # The bank sees it dedicated since the change; made shared again, it may work for the shop too.
    with acting_as(system_principal(bank.id)):
        async with get_database().session() as session:
            (seen,) = (await tenant_service.list_tenant_agents(session, cursor=None, limit=10)).items
    assert seen.dedicated and seen.dedicated_since is not None
    shared = await _assign(ops, agent.id, {"tenant_id": str(bank.id), "alias": "Bea", "dedicated": False})
    assert shared.status_code == 200, shared.text
    assert (await _assign(ops, agent.id, {"tenant_id": str(shop.id), "alias": "Sam"})).status_code == 200
    with acting_as(system_principal(bank.id)):
        async with get_database().session() as session:
            (seen,) = (await tenant_service.list_tenant_agents(session, cursor=None, limit=10)).items
    assert not seen.dedicated and seen.dedicated_since is None
