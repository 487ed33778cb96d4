"""Live boards over real HTTP against the real router: each tenant sees only its own queues and agents.

Two tenants share an agent. While that agent talks to tenant A's caller, tenant B's supervisor sees the
agent as busy and nothing of A (its name, queue, agents, caller or contact), on the page and on the
stream; A's supervisor sees the contact in A's queue; the operator sees both tenants.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from dataclasses import dataclass

import httpx
import pytest

from app.routing import commands as cmd
from tests.conftest import LiveServer
from tests.factories import make_agent, make_staff, make_tenant, make_tenant_user, sign_in
from tests.routed import assign, make_queue, offered, presence_is, route, sse_events

CALLER = "+442079460000"


@dataclass
class Side:
    tenant_id: uuid.UUID
    name: str
    queue: str
    queue_id: uuid.UUID
    only_alias: str  # an agent of this tenant only
    shared_alias: str  # the shared agent, as this tenant knows them
    supervisor: str  # email

    def secrets(self) -> list[str]:
        """What nobody outside this tenant may see."""
        return [self.name, self.queue, str(self.queue_id), self.only_alias, self.shared_alias]


@dataclass
class World:
    a: Side
    b: Side
    contact: uuid.UUID
    ops: str  # an ops manager's email


async def _side(prefix: str, shared: uuid.UUID) -> Side:
    tenant = await make_tenant(prefix)
    tag = uuid.uuid4().hex[:6]
    queue = f"{prefix} queue {tag}"
    queue_id = await make_queue(tenant.id, queue)
    only = await make_agent()
    only_alias, shared_alias = f"{prefix} only {tag}", f"{prefix} shared {tag}"
    await assign(only.id, tenant.id, only_alias)
    await assign(shared, tenant.id, shared_alias)
    supervisor = await make_tenant_user(tenant.id, "supervisor")
    return Side(tenant.id, tenant.name, queue, queue_id, only_alias, shared_alias, supervisor.email)


@pytest.fixture(scope="module")
async def world(live_server: LiveServer, router_process: subprocess.Popen[bytes]) -> World:
    shared = await make_agent()
    a, b = await _side("alpha", shared.id), await _side("beta", shared.id)
    contact = uuid.uuid4()
    await route(cmd.Reconfigure(), cmd.AgentPresence(agent_id=shared.id, state="available"))
    await route(cmd.ContactArrive(contact_id=contact, tenant_id=a.tenant_id, queue_id=a.queue_id, caller=CALLER))
    await offered(shared.id, contact)
    await route(cmd.OfferAccept(agent_id=shared.id, contact_id=contact))
    await presence_is(shared.id, "on_contact")
    return World(a, b, contact, (await make_staff("ops_manager")).email)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _agent_row(html: str, alias: str) -> str:
    """The text of the board's row of one agent."""
    for row in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S):
        if alias in row:
            return _text(row).strip()
    raise AssertionError(f"no row for {alias}")


def _queue_cells(html: str, queue_id: uuid.UUID) -> dict[str, str]:
    row = re.search(rf'<tr id="queue-{queue_id}">(.*?)</tr>', html, flags=re.S)
    assert row is not None, f"no row for queue {queue_id}"
    return {name: _text(value).strip() for name, value in re.findall(r'<td class="(\w+)">(.*?)</td>', row.group(1))}


async def _first_board(client: httpx.AsyncClient, path: str) -> str:
    async with client.stream("GET", path) as response:
        assert response.status_code == 200
        events = sse_events(response)
        first = await anext(events)
        await events.aclose()
    assert first.name == "board"
    return first.data


async def test_another_tenants_supervisor_sees_the_shared_agent_busy_and_nothing_else(
    live_server: LiveServer, world: World
) -> None:
    async with await sign_in(live_server.url, world.b.supervisor) as client:
        page = await client.get("/live")
        stream = await _first_board(client, "/live/events")
    assert page.status_code == 200
    for html in (page.text, stream):
        for secret in [*world.a.secrets(), CALLER, str(world.contact)]:
            assert secret not in html
        assert _agent_row(html, world.b.shared_alias) == f"{world.b.shared_alias} Busy"
        assert _agent_row(html, world.b.only_alias).startswith(f"{world.b.only_alias} Offline")
        assert _queue_cells(html, world.b.queue_id) == {
            "waiting": "0",
            "longest": "–",
            "offered": "0",
            "connected": "0",
        }


async def test_the_contacts_own_tenant_sees_it_in_its_queue(live_server: LiveServer, world: World) -> None:
    async with await sign_in(live_server.url, world.a.supervisor) as client:
        page = await client.get("/live")
        stream = await _first_board(client, "/live/events")
    for html in (page.text, stream):
        for secret in [*world.b.secrets(), CALLER, str(world.contact)]:
            assert secret not in html
        row = _agent_row(html, world.a.shared_alias)
        assert row.startswith(f"{world.a.shared_alias} On a contact") and row.endswith(world.a.queue)
        assert _queue_cells(html, world.a.queue_id)["connected"] == "1"


async def test_the_operator_sees_every_tenant_or_the_one_it_acts_for(live_server: LiveServer, world: World) -> None:
    async with await sign_in(live_server.url, world.ops) as client:
        home = await client.get("/live")
        assert home.status_code == 303 and home.headers["location"] == "/operator/live"
        pool = await client.get("/operator/live")
        stream = await _first_board(client, "/operator/live/events")
        client.headers["Tenline-Tenant"] = str(world.b.tenant_id)
        acting = await client.get("/live")
        acting_stream = await _first_board(client, "/live/events")
    for html in (pool.text, stream):
        assert world.a.queue in html and world.b.queue in html
        assert _queue_cells(html, world.a.queue_id)["connected"] == "1"
        assert f"{world.a.name} · {world.a.queue}" in _text(html)
    # Acting for B, the operator's board is B's (its tenant switcher still names every tenant).
    assert acting.status_code == 200 and world.b.queue in acting.text and world.b.queue in acting_stream
    for secret in world.a.secrets():
        assert secret not in acting_stream
    for secret in (world.a.queue, world.a.only_alias, world.a.shared_alias):
        assert secret not in acting.text
